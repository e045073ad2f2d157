#!/usr/bin/env bash
# Runs every test: lint, unit tests, and the end-to-end tests against the real binary,
# real components, real models and real images.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -f .ort/env.sh ] && . .ort/env.sh
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -- -D warnings
cargo clippy --release --target wasm32-wasip2 $(for m in components/*/Cargo.toml; do echo "-p $(sed -n 's/^name = "\(.*\)"/\1/p' "$m")"; done) -- -D warnings
cargo test --release --workspace --no-fail-fast -- --test-threads="${ATELIER_TEST_THREADS:-2}"
