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
# The release layout (what the container image holds), unpacked and served as a non-root user.
scripts/package.sh --check
# The example Kubernetes manifest against the API's schemas (PyPI's kubernetes-validate,
# schemas bundled: no network at validation time).
venv=.cache/kubernetes-validate
[ -x $venv/bin/kubernetes-validate ] || { python3 -m venv $venv && $venv/bin/pip install -q kubernetes-validate==1.37.0; }
$venv/bin/kubernetes-validate --strict --quiet docs/k8s.yaml
