#!/usr/bin/env bash
# Builds app.js into a wasi:http component with ComponentizeJS (npm, pinned in package.json and
# package-lock.json; installed into components/js-hello/node_modules).
# The WASI WIT comes from the wasmtime-wasi-http crate the host uses. ComponentizeJS's engine
# (StarlingMonkey) is built against one WASI 0.2.x release and exports the handler of exactly
# that release, so the WIT is copied to target/js/wit under the engine's version (read from the
# engine itself): 0.2.x releases are compatible and the host links any of them.
# Output: target/js/js-hello.wasm
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root/components/js-hello"
[ -x node_modules/.bin/componentize-js ] || npm ci --no-audit --no-fund --loglevel=error
out=$root/target/js/js-hello.wasm
[ -f "$out" ] && [ "$out" -nt app.js ] && [ "$out" -nt package-lock.json ] && exit 0
echo "==> building components/js-hello with ComponentizeJS"
crate_wit=$(cd "$root" && cargo metadata --format-version 1 --locked 2>/dev/null | python3 -c '
import json, os, sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "wasmtime-wasi-http":
        print(os.path.join(os.path.dirname(p["manifest_path"]), "wit"))')
host_version=$(sed -n 's/^package wasi:http@\(.*\);/\1/p' "$crate_wit/deps/http.wit")
engine=node_modules/@bytecodealliance/componentize-js/lib/starlingmonkey_embedding.wasm
engine_version=$(grep -a -o 'wasi:http/incoming-handler@0\.2\.[0-9]*' "$engine" | head -1 | sed 's/.*@//')
wit=$root/target/js/wit
rm -rf "$wit" && mkdir -p "$root/target/js" && cp -r "$crate_wit" "$wit"
grep -rl "@$host_version" "$wit" | xargs sed -i "s/@$host_version\b/@$engine_version/g; s/version = $host_version\b/version = $engine_version/g"
node_modules/.bin/componentize-js app.js --wit "$wit" --world-name "wasi:http/proxy@$engine_version" -o "$out"
