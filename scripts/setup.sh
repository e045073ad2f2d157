#!/usr/bin/env bash
# Sets up everything Atelier needs on a fresh machine with Rust:
# the wasm32-wasip2 target, the components, the host binary (release), the ONNX Runtime library
# (from the PyPI wheel), the models (checked by sha256) and redis-server (Debian's package). Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: redis-server (the cluster tests start their own, one per test).
if ! command -v redis-server >/dev/null; then
  echo "==> installing redis-server (Debian package)"
  as_root=""; [ "$(id -u)" = 0 ] || as_root=sudo
  $as_root apt-get update -qq && $as_root apt-get install -y -qq redis-server >/dev/null
fi
rustup target add wasm32-wasip2 >/dev/null
echo "==> building components (wasm32-wasip2)"
cargo build --release --target wasm32-wasip2 $(for m in components/*/Cargo.toml; do n=$(sed -n 's/^name = "\(.*\)"/\1/p' "$m"); case "$n" in *guest) ;; *) echo "-p $n";; esac; done)
# Components from other languages' toolchains: Python (componentize-py from PyPI) and
# JavaScript (ComponentizeJS from npm).
components/python-hello/build.sh
components/js-hello/build.sh
echo "==> building the host"
cargo build --release -p atelier
if [ -x scripts/fetch-ort.sh ]; then scripts/fetch-ort.sh; fi
scripts/fetch-models.sh
echo "==> setup done"
