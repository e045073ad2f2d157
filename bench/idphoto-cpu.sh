#!/usr/bin/env bash
# Where an ID photo's CPU time goes outside the models (issue 20), natively: the server gives the
# matte and the faces of a portrait once, then examples/compose.rs times each step (decode,
# placement, warp, foreground colour, composite, sheet, encode with image's encoder beside it)
# for one photo and a 6-inch sheet. IMAGE (default fr_obama) and SIZE (default cn-1inch).
. "$(dirname "$0")/lib.sh"
[ -f .ort/env.sh ] && . .ort/env.sh
img=${IMAGE:-$root/../shared/testdata/portraits/fr_obama.jpg}
cat > /tmp/atelier-bench-idcpu.toml <<TOML
$(manifest_head 8591)
[[function]]
name = "segment"
component = "$root/target/wasm32-wasip2/release/segment.wasm"
routes = [{ path = "/segment" }]
grants = ["atelier:vision"]
limits = { memory_mb = 512, cpu_ms = 20000, timeout_ms = 120000, max_body_kb = 20480 }
[vision]
models = "$root/models/models.toml"
device = "cpu"
TOML
ports_free 8591
cargo build -q --release -p idphoto --example compose
target/release/atelier serve --config /tmp/atelier-bench-idcpu.toml 2>/dev/null & a=$!
trap 'kill $a 2>/dev/null' EXIT
wait_http http://127.0.0.1:8591/readyz
tmp=$(mktemp -d)
curl -fs -X POST --data-binary @"$img" http://127.0.0.1:8591/segment -o "$tmp/matte.png"
curl -fs -X POST --data-binary @"$img" http://127.0.0.1:8591/segment/faces -o "$tmp/faces.json"
for layout in none 6inch; do
  target/release/examples/compose "$img" "$tmp/matte.png" "$tmp/faces.json" "${SIZE:-cn-1inch}" "$layout"
done
rm -rf "$tmp"
