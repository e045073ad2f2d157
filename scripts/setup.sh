#!/usr/bin/env bash
# Sets up everything Atelier needs on a fresh machine with Rust:
# the wasm32-wasip2 target, the components, the host binary (release), the ONNX Runtime library
# (from the PyPI wheel) and the models (checked by sha256). Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null
echo "==> building components (wasm32-wasip2)"
cargo build --release --target wasm32-wasip2 $(for m in components/*/Cargo.toml; do n=$(sed -n 's/^name = "\(.*\)"/\1/p' "$m"); case "$n" in *guest) ;; *) echo "-p $n";; esac; done)
# A component from another language's toolchain (Python, componentize-py from PyPI).
components/python-hello/build.sh
echo "==> building the host"
cargo build --release -p atelier
if [ -x scripts/fetch-ort.sh ]; then scripts/fetch-ort.sh; fi
scripts/fetch-models.sh
echo "==> setup done"
