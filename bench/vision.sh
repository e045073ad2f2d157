#!/usr/bin/env bash
# Vision through the host-function path: images/s and latency of POST /segment (u2netp and the
# fast selfie model) and /segment/faces on a real portrait, with CONNS concurrent clients.
# Device: whatever `vision.device = auto` finds (logged; see atelier_vision_provider in /metrics).
. "$(dirname "$0")/lib.sh"
[ -f .ort/env.sh ] && . .ort/env.sh
img=${IMAGE:-$root/../shared/testdata/portraits/fr_obama.jpg}
cat > /tmp/atelier-bench-vision.toml <<TOML
$(manifest_head 8391)
[[function]]
name = "segment"
component = "$root/target/wasm32-wasip2/release/segment.wasm"
routes = [{ path = "/segment" }]
grants = ["atelier:vision"]
limits = { memory_mb = 512, cpu_ms = 10000, timeout_ms = 120000, max_body_kb = 20480, max_concurrency = 512 }
[vision]
models = "$root/models/models.toml"
device = "${DEVICE:-auto}"
max_batch = ${MAX_BATCH:-16}
TOML
ports_free 8391
target/release/atelier serve --config /tmp/atelier-bench-vision.toml 2>/tmp/atelier-bench-vision.log & a=$!
trap 'kill $a 2>/dev/null' EXIT
wait_http http://127.0.0.1:8391/readyz
lua=$(post_script "$img")
CONNS=${CONNS:-4}
echo "endpoint images_per_s p50 p99 (connections: $CONNS)"
for path in "/segment" "/segment?model=selfie" "/segment/faces"; do
  echo "$path $(rps "http://127.0.0.1:8391$path" -s "$lua")"
done
grep -o 'model=[a-z0-9]* provider="[a-z]*"' /tmp/atelier-bench-vision.log | sort -u
