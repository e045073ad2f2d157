#!/usr/bin/env bash
# The GPU machine's benchmark, in one command (issue 20). Two halves:
#
#   bench/gpu.sh prepare      here: builds and stages what the machine needs in .gpu/bench
#                             (stripped host and load generator, the segment and idphoto
#                             components, the models, a portrait; ~40 MB, one carry)
#   bench/gpu.sh              there (or here with DEVICE=cpu, the dry run): starts the server
#                             on .gpu/bench with device = "$DEVICE" (cuda), checks the provider
#                             really is the one asked for, measures POST /segment (u2netp) and
#                             POST /idphoto at 1, 16, 64 and 256 connections with max_batch 16
#                             and 64, and writes the report to $OUT/gpu-report.txt (and stdout).
#
# On the GPU machine, first the five carries of ../shared/gpu/README.md (ONNX Runtime's CUDA
# build), then in the same warm machine: `source /opt/ortgpu/env.sh; bench/gpu.sh` carrying
# .gpu/bench. DURATION (seconds a point, default 8) and CONNS_LIST shorten a run.
# fp16 needs an fp16 export of the model and IO binding a host change: neither exists yet, so
# the report says so instead of pretending.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=.gpu/bench

if [ "${1:-}" = prepare ]; then
  [ -f .ort/env.sh ] && . .ort/env.sh
  cargo build -q --release -p atelier --example load
  cargo build -q --release --target wasm32-wasip2 -p segment -p idphoto
  rm -rf "$stage" && mkdir -p "$stage/models"
  strip -o "$stage/atelier" target/release/atelier
  strip -o "$stage/load" target/release/examples/load
  cp target/wasm32-wasip2/release/segment.wasm target/wasm32-wasip2/release/idphoto.wasm "$stage/"
  cp models/models.toml models/*.onnx "$stage/models/"
  cp ../shared/testdata/portraits/fr_obama.jpg "$stage/portrait.jpg"
  du -sh "$stage"
  exit 0
fi

DEVICE=${DEVICE:-cuda}
DURATION=${DURATION:-8}
CONNS_LIST=${CONNS_LIST:-1 16 64 256}
OUT=${OUT:-/tmp/atelier-gpu}
mkdir -p "$OUT"
report="$OUT/gpu-report.txt"
[ -x "$stage/atelier" ] || { echo "no $stage: run 'bench/gpu.sh prepare' first (and carry $stage)" >&2; exit 1; }
if [ "$DEVICE" = cpu ] && [ -f .ort/env.sh ]; then . .ort/env.sh; fi
port=8491
: > "$report"
say() { echo "$*" | tee -a "$report"; }
say "Atelier GPU bench: device=$DEVICE, $(nproc) cores, $(date -u +%FT%TZ), ${DURATION}s a point"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/gpu: /' | tee -a "$report"

serve() { # serve MAX_BATCH → starts the server, waits until ready
  local dir=$PWD/$stage
  cat > "$OUT/atelier.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[runtime]
cache_dir = "$OUT/cache"
[[function]]
name = "segment"
component = "$dir/segment.wasm"
routes = [{ path = "/segment" }]
grants = ["atelier:vision"]
limits = { memory_mb = 512, cpu_ms = 20000, timeout_ms = 120000, max_body_kb = 20480, max_concurrency = 512 }
[[function]]
name = "idphoto"
component = "$dir/idphoto.wasm"
routes = [{ path = "/idphoto" }]
grants = ["atelier:vision"]
limits = { memory_mb = 1024, cpu_ms = 20000, timeout_ms = 120000, max_body_kb = 20480, max_concurrency = 512 }
[vision]
models = "$dir/models/models.toml"
device = "$DEVICE"
max_batch = $1
queue = 4096
TOML
  "$stage/atelier" serve --config "$OUT/atelier.toml" 2>"$OUT/server-batch$1.log" & server=$!
  for _ in $(seq 1 600); do curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" && return 0; sleep 0.2; done
  echo "the server did not get ready; log:" >&2; tail -20 "$OUT/server-batch$1.log" >&2; exit 1
}
trap 'kill $server 2>/dev/null || true' EXIT

for batch in 16 64; do
  serve "$batch"
  providers=$(curl -fs "http://127.0.0.1:$port/metrics" | grep '^atelier_vision_provider' || true)
  say "max_batch $batch; providers: $(echo "$providers" | sed 's/atelier_vision_provider//' | tr '\n' ' ')"
  if ! grep -q "model=\"u2netp\".*provider=\"$DEVICE\"\|provider=\"$DEVICE\".*model=\"u2netp\"" <<<"$providers"; then
    say "FAILED: u2netp is not served by $DEVICE (see $OUT/server-batch$batch.log)"; exit 1
  fi
  # Warm up (CUDA kernels, the compile cache) before measuring.
  "$stage/load" "http://127.0.0.1:$port/segment" 8 3 "$stage/portrait.jpg" >/dev/null || true
  "$stage/load" "http://127.0.0.1:$port/idphoto" 8 3 "$stage/portrait.jpg" >/dev/null || true
  say "endpoint | connections | images/s | p50 ms | p99 ms"
  for path in /segment /idphoto; do
    for conns in $CONNS_LIST; do
      if out=$("$stage/load" "http://127.0.0.1:$port$path" "$conns" "$DURATION" "$stage/portrait.jpg"); then
        read -r rate p50 p99 _ <<<"$out"
        say "$path | $conns | $rate | $p50 | $p99"
      else
        say "$path | $conns | FAILED: $out (non-2xx or errors; no figure)"
      fi
    done
  done
  batches=$(curl -fs "http://127.0.0.1:$port/metrics" | awk '/^atelier_vision_batch_size_(sum|count)\{model="u2netp"/ {v[$1 ~ /sum/ ? "s" : "c"]=$2} END {if (v["c"]) printf "%.1f", v["s"]/v["c"]}')
  say "u2netp mean batch over the run: ${batches:-?}"
  kill "$server"; wait "$server" 2>/dev/null || true
done
say "fp16: not measured (no fp16 export of u2netp in models/); IO binding: not implemented in the host"
say "report: $report"
