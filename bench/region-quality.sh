#!/usr/bin/env bash
# Matte quality of the region the ID-photo function segments (the tight region placed by the
# fast model, and the generous head-and-shoulders one it replaced) against u2netp on the whole
# photo at 320x320, inside what the cn-1inch crop reads. Needs numpy and Pillow (the
# idphoto baseline's venv from bench/idphoto.sh has both).
. "$(dirname "$0")/lib.sh"
[ -f .ort/env.sh ] && . .ort/env.sh
venv=.cache/idphoto-baseline
if [ ! -x $venv/bin/python ]; then python3 -m venv $venv; $venv/bin/pip install -q numpy pillow; fi
cat > /tmp/atelier-bench-region.toml <<TOML
$(manifest_head 8591)
[[function]]
name = "idphoto"
component = "$root/target/wasm32-wasip2/release/idphoto.wasm"
routes = [{ path = "/idphoto" }]
grants = ["atelier:vision"]
limits = { memory_mb = 1024, cpu_ms = 60000, timeout_ms = 120000, max_body_kb = 20480 }
[[function]]
name = "segment"
component = "$root/target/wasm32-wasip2/release/segment.wasm"
routes = [{ path = "/segment" }]
grants = ["atelier:vision"]
limits = { memory_mb = 1024, cpu_ms = 60000, timeout_ms = 120000, max_body_kb = 20480 }
[vision]
models = "$root/models/models.toml"
device = "cpu"
TOML
ports_free 8591
target/release/atelier serve --config /tmp/atelier-bench-region.toml 2>/dev/null & a=$!
trap 'kill $a 2>/dev/null' EXIT
wait_http http://127.0.0.1:8591/readyz
$venv/bin/python bench/tools/region_quality.py http://127.0.0.1:8591 "$root/../shared/testdata/portraits"
