#!/usr/bin/env bash
# Builds app.py into a wasi:http component with componentize-py (installed from PyPI into
# .cache/componentize-py). The WASI WIT comes from the wasmtime-wasi-http crate the host uses,
# so the component targets exactly the interface versions the host serves.
# Output: target/python/python-hello.wasm
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
venv=.cache/componentize-py
if [ ! -x $venv/bin/componentize-py ]; then
  python3 -m venv $venv
  $venv/bin/pip install -q componentize-py==0.25.1
fi
wit=$(cargo metadata --format-version 1 --locked 2>/dev/null | python3 -c '
import json, os, sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "wasmtime-wasi-http":
        print(os.path.join(os.path.dirname(p["manifest_path"]), "wit"))')
world=$(sed -n 's/^package wasi:http@\(.*\);/\1/p' "$wit/deps/http.wit")
mkdir -p target/python
out=target/python/python-hello.wasm
if [ ! -f $out ] || [ components/python-hello/app.py -nt $out ]; then
  echo "==> building components/python-hello with componentize-py"
  (cd components/python-hello && "$root/$venv/bin/componentize-py" -q -d "$wit" -w "wasi:http/proxy@$world" componentize app -o "$root/$out")
fi
