#!/usr/bin/env bash
# Codes on bent surfaces (issue 21): makes the photos of components/qr/tests/common/bent.rs
# (cylinders, waves, crumples; a standard border on paper and a one-module border on a dark
# surface), decodes each with Atelier's decoder without and with its bent-grid stage and with
# zxing-cpp (PyPI), and prints the decode rate per warp and strength. SEEDS (default 3) photos per
# version, border and warp strength.
. "$(dirname "$0")/lib.sh"
qr_baseline_venv
[ -x "$QR_VENV/bin/python" ] && "$QR_VENV/bin/python" -c "import zxingcpp" 2>/dev/null ||
  "$QR_VENV/bin/pip" install -q "zxing-cpp>=2,<3"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cargo build -q --release -p qr --example bent
target/release/examples/bent make "$dir" "${SEEDS:-3}"
target/release/examples/bent read "$dir" > "$dir/atelier.tsv"
echo "zxing-cpp $("$QR_VENV/bin/python" -c 'from importlib.metadata import version; print(version("zxing-cpp"))')"
"$QR_VENV/bin/python" bench/tools/qr_bent.py "$dir" "$dir/atelier.tsv"
