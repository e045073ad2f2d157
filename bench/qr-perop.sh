#!/usr/bin/env bash
# Per operation only: the qr component's own time (median Server-Timing, one connection) against
# the same Rust code run natively (components/qr/examples/ops.rs), $ROUNDS rounds. The decode
# image is the one bench/qr.sh decodes: python-qrcode's ECC-H PNG of the bench text.
# A/B of a variant in the same run: WASM=other/qr.wasm (another build of the component) and
# BIN=other/atelier (another host) replace the shipping ones.
. "$(dirname "$0")/lib.sh"
qr_baseline_venv
$QR_VENV/bin/python - "$QR_TEXT" /tmp/bench-qr.png <<'PY'
import sys, qrcode
code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_H, box_size=10, border=4)
code.add_data(sys.argv[1])
code.make(fit=True)
code.make_image().save(sys.argv[2])
PY
cat > /tmp/atelier-bench-qr-perop.toml <<TOML
$(manifest_head 8293)
[[function]]
name = "qr"
component = "${WASM:-$root/target/wasm32-wasip2/release/qr.wasm}"
routes = [{ path = "/qr" }]
TOML
ports_free 8293
"${BIN:-target/release/atelier}" serve --config /tmp/atelier-bench-qr-perop.toml 2>/dev/null & a=$!
trap 'kill $a 2>/dev/null' EXIT
trap 'exit 1' INT TERM
wait_http http://127.0.0.1:8293/readyz
for i in $(seq 1 "$ROUNDS"); do
  cargo run -q --release -p qr --example ops -- "$QR_TEXT" /tmp/bench-qr.png
  echo "component: generate $(one_connection "http://127.0.0.1:8293$(qr_generate_path)"); decode $(BODY_FILE=/tmp/bench-qr.png one_connection http://127.0.0.1:8293/qr/decode)"
done
