#!/usr/bin/env bash
# Sets up everything Atelier needs on a fresh machine with Rust:
# the wasm32-wasip2 target, the components, the host binary (release, with Swagger UI from npm for
# /docs), the ONNX Runtime library (from the PyPI wheel), the models (checked by sha256), and what
# the tests drive: redis-server and Chromium (Debian packages), Playwright (npm) and Schemathesis
# (PyPI). Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: redis-server (the cluster tests start their own, one per test)
# and Chromium (the browser tests drive it headless).
missing=""
command -v redis-server >/dev/null || missing="$missing redis-server"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
if [ -n "$missing" ]; then
  echo "==> installing$missing (Debian packages)"
  as_root=""; [ "$(id -u)" = 0 ] || as_root=sudo
  $as_root apt-get update -qq && $as_root apt-get install -y -qq $missing >/dev/null
fi
# npm packages, pinned by their lock files, no install scripts: Swagger UI (embedded in the host
# for /docs) and Playwright's driver (the browser tests; it downloads no browser).
for dir in host/web tests/browser; do
  [ -d $dir/node_modules ] || { echo "==> npm ci in $dir"; (cd $dir && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error); }
done
# Schemathesis (PyPI): tests/tests/web.rs checks /openapi.json against the server with it.
venv=.cache/schemathesis
[ -x $venv/bin/schemathesis ] || { echo "==> installing Schemathesis"; python3 -m venv $venv && $venv/bin/pip install -q schemathesis==4.32.5; }
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
