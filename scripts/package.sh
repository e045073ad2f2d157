#!/usr/bin/env bash
# Builds the release layout that the container image holds, as a folder and a tarball:
#   target/package/atelier/{bin/atelier, lib/libonnxruntime.so*, components/*.wasm,
#   models/, atelier.toml}  and  target/package/atelier-<version>-linux-<arch>.tar.gz
# `atelier.toml` is the embedded default manifest with paths inside the folder, listening on
# 0.0.0.0:8080; run it from anywhere: bin/atelier serve --config <folder>/atelier.toml.
# Run after scripts/setup.sh (it packs what setup built). With --check, it also unpacks the
# tarball into a temporary folder and serves it as a non-root user (nobody, when run as
# root), checking /readyz and a request to each built-in function.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
out=target/package/atelier
rm -rf "$out"
mkdir -p "$out"/{bin,lib,components,models}
cp target/release/atelier "$out/bin/"
for c in hello qr segment idphoto; do cp "target/wasm32-wasip2/release/$c.wasm" "$out/components/"; done
ort=$(sed -n 's/^export ORT_DYLIB_PATH="\(.*\)"/\1/p' .ort/env.sh)
cp "$ort" "$out/lib/libonnxruntime.so"
cp "$(dirname "$ort")"/libonnxruntime_providers_shared.so "$out/lib/" 2>/dev/null || true
cp models/models.toml models/*.onnx "$out/models/"
sed -e 's|target/wasm32-wasip2/release/|components/|' \
    -e 's|^listen = "127.0.0.1:8080"|listen = "0.0.0.0:8080"|' \
    -e 's|^cache_dir = ".cache/atelier"|cache_dir = "/tmp/atelier-cache"|' \
    -e 's|^models = "models/models.toml"|models = "models/models.toml"\nort_library = "lib/libonnxruntime.so"|' \
    host/default.toml > "$out/atelier.toml"
tarball=target/package/atelier-$version-linux-$(uname -m).tar.gz
tar -C target/package -czf "$tarball" atelier
echo "==> $out and $tarball ($(du -h "$tarball" | cut -f1))"

[ "${1:-}" = --check ] || exit 0
check=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$check"' EXIT
tar -C "$check" -xzf "$tarball"
run=()
if [ "$(id -u)" = 0 ]; then
  chown -R nobody: "$check"
  run=(setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env)
fi
port=18480
sed -i "s|^listen = \"0.0.0.0:8080\"|listen = \"127.0.0.1:$port\"|; s|^cache_dir = .*|cache_dir = \"$check/cache\"|" "$check/atelier/atelier.toml"
(cd / && exec "${run[@]}" "$check/atelier/bin/atelier" serve --config "$check/atelier/atelier.toml" >"$check/log" 2>&1) & pid=$!
for _ in $(seq 1 600); do "$check/atelier/bin/atelier" probe "http://127.0.0.1:$port/readyz" 2>/dev/null && break; sleep 0.2; done
"$check/atelier/bin/atelier" probe "http://127.0.0.1:$port/readyz" || { cat "$check/log"; exit 1; }
user=$(ps -o user= -p "$pid")
python3 - "$port" ../shared/testdata/portraits/fr_obama.jpg <<'PY'
import sys, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
def call(path, body=None):
    with urllib.request.urlopen(urllib.request.Request(base + path, data=body), timeout=120) as r:
        assert r.status == 200, (path, r.status)
        return r.read()
assert call("/hello?name=package") == b"Hello, package!\n"
code = call("/qr?text=package")
assert b"package" in call("/qr/decode", code)
portrait = open(sys.argv[2], "rb").read()
assert b'"faces"' in call("/segment/faces", portrait)
assert call("/idphoto?size=cn-1inch", portrait)[:3] == b"\xff\xd8\xff"
PY
echo "==> the unpacked tarball serves every built-in function, running as $user"
