#!/usr/bin/env bash
# Fetches ONNX Runtime's shared library from the PyPI wheel (no Python needed at run time) into
# .ort/ and writes .ort/env.sh, which sets ORT_DYLIB_PATH. ORT_FLAVOUR=gpu takes the CUDA 13 build.
set -euo pipefail
cd "$(dirname "$0")/.."
ver=1.31.1
pkg=onnxruntime; [ "${ORT_FLAVOUR:-cpu}" = gpu ] && pkg=onnxruntime-gpu
lib=.ort/libonnxruntime.so.$ver
if [ ! -f "$lib" ]; then
  mkdir -p .ort
  echo "==> fetching $pkg==$ver from PyPI"
  python3 -m pip download --no-deps -q "$pkg==$ver" -d .ort/wheel --only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.11
  python3 - .ort/wheel/*.whl <<'PY'
import pathlib, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as whl:
    for name in whl.namelist():
        if name.startswith("onnxruntime/capi/libonnxruntime"):
            pathlib.Path(".ort", pathlib.Path(name).name).write_bytes(whl.read(name))
PY
  rm -rf .ort/wheel
fi
echo "export ORT_DYLIB_PATH=\"$(pwd)/$lib\"" > .ort/env.sh
