#!/usr/bin/env bash
# ID photos end to end: POST /idphoto (cn-1inch, JPEG 95) with u2netp and with the fast selfie
# model, against the Python worker it replaces (bench/baselines/idphoto_worker: rembg u2netp +
# Pillow, one process, as one RQ worker). Ratios are photos/s over the worker's photos/s,
# measured in the same run. CONNS concurrent clients for Atelier (default 4).
. "$(dirname "$0")/lib.sh"
[ -f .ort/env.sh ] && . .ort/env.sh
img=${IMAGE:-$root/../shared/testdata/portraits/fr_obama.jpg}
venv=.cache/idphoto-baseline
if [ ! -x $venv/bin/python ] || ! $venv/bin/python -c 'import rembg' 2>/dev/null; then
  python3 -m venv $venv
  $venv/bin/pip install -q rembg==2.0.86 onnxruntime pillow
fi
# rembg looks for its models in U2NET_HOME; give it the same file Atelier uses.
export U2NET_HOME=$root/models
cat > /tmp/atelier-bench-idphoto.toml <<TOML
$(manifest_head 8491)
[[function]]
name = "idphoto"
component = "$root/target/wasm32-wasip2/release/idphoto.wasm"
routes = [{ path = "/idphoto" }]
grants = ["atelier:vision"]
limits = { memory_mb = 1024, cpu_ms = 60000, timeout_ms = 120000, max_body_kb = 20480, max_concurrency = 512 }
[vision]
models = "$root/models/models.toml"
device = "${DEVICE:-auto}"
max_batch = ${MAX_BATCH:-16}
TOML
ports_free 8491
target/release/atelier serve --config /tmp/atelier-bench-idphoto.toml 2>/tmp/atelier-bench-idphoto.log & a=$!
trap 'kill $a 2>/dev/null' EXIT
wait_http http://127.0.0.1:8491/readyz
lua=$(post_script "$img")
CONNS=${CONNS:-4}
PHOTOS=${PHOTOS:-20}
echo "round python_photos_per_s python_mean_ms | u2netp_photos_per_s p50 p99 ratio | selfie_photos_per_s p50 p99 ratio (atelier connections: $CONNS)"
for round in $(seq 1 "$ROUNDS"); do
  read -r py py_ms < <($venv/bin/python bench/baselines/idphoto_worker/worker.py "$img" "$PHOTOS")
  read -r u p50 p99 < <(rps "http://127.0.0.1:8491/idphoto?size=cn-1inch" -s "$lua")
  read -r s s50 s99 < <(rps "http://127.0.0.1:8491/idphoto?size=cn-1inch&model=selfie" -s "$lua")
  echo "$round $py $py_ms | $u $p50 $p99 $(awk "BEGIN{printf \"%.1fx\", $u/$py}") | $s $s50 $s99 $(awk "BEGIN{printf \"%.1fx\", $s/$py}")"
done
grep -o 'model=[a-z0-9]* provider="[a-z]*"' /tmp/atelier-bench-idphoto.log | sort -u
