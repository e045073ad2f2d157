#!/usr/bin/env bash
# Asynchronous ID photos (cn-1inch, u2netp) on NODES nodes (default 1) sharing a redis-server,
# against the synchronous path on the same machine, and the Python worker as it ran in
# production (RQ workers on the same Redis), interleaved rounds. Sync: wrk with SYNC_CONNS
# (default 4) connections on node 1; async: JOBS (default 100) jobs submitted to node 1, run by
# every node's workers (4 / NODES each: the same 4 at once); RQ: the same JOBS, RQ_WORKERS
# (default 2, this machine's cores) SimpleWorkers. Target: async ≥ 90% of sync. Run after
# scripts/setup.sh.
. "$(dirname "$0")/lib.sh"
[ -f .ort/env.sh ] && . .ort/env.sh
command -v redis-server >/dev/null || { echo "bench needs redis-server (scripts/setup.sh)" >&2; exit 1; }
img=${IMAGE:-$root/../shared/testdata/portraits/fr_obama.jpg}
venv=.cache/idphoto-baseline
if [ ! -x $venv/bin/python ] || ! $venv/bin/python -c 'import rembg, rq' 2>/dev/null; then
  python3 -m venv $venv
  $venv/bin/pip install -q rembg==2.0.86 onnxruntime pillow rq==2.6.1
fi
export U2NET_HOME=$root/models
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
NODES=${NODES:-1}
ports_free 8790 $(seq 8791 $((8790 + NODES)))
redis-server --port 8790 --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >/dev/null & pids+=($!)
for n in $(seq 1 "$NODES"); do
  cat > "$work/n$n.toml" <<TOML
$(manifest_head 879$n)
[admin]
data_dir = "$work/n$n"
[cluster]
redis = "redis://127.0.0.1:8790/0"
node_id = "bench-$n"
[jobs]
workers = $(( (4 + NODES - 1) / NODES ))
[[function]]
name = "idphoto"
component = "$root/target/wasm32-wasip2/release/idphoto.wasm"
routes = [{ path = "/idphoto" }]
grants = ["atelier:vision"]
limits = { memory_mb = 1024, cpu_ms = 60000, timeout_ms = 120000, max_body_kb = 20480, max_concurrency = 64 }
[vision]
models = "$root/models/models.toml"
device = "${DEVICE:-auto}"
TOML
  target/release/atelier serve --config "$work/n$n.toml" 2>"$work/n$n.log" & pids+=($!)
done
for n in $(seq 1 "$NODES"); do wait_http "http://127.0.0.1:879$n/readyz"; done
lua=$(post_script "$img")
CONNS=${SYNC_CONNS:-4}
JOBS=${JOBS:-100}
echo "nodes: $NODES; sync connections: $CONNS; jobs per round: $JOBS"
echo "round sync_photos_per_s p50 p99 | async_jobs_per_s async/sync | rq_jobs_per_s async/rq"
for round in $(seq 1 "$ROUNDS"); do
  read -r s p50 p99 < <(rps "http://127.0.0.1:8791/idphoto?size=cn-1inch" -s "$lua")
  a=$(python3 bench/tools/jobs_async.py "http://127.0.0.1:8791/idphoto?size=cn-1inch" "$img" "$JOBS")
  q=$($venv/bin/python bench/baselines/idphoto_worker/rq_bench.py redis://127.0.0.1:8790/1 "$img" "$JOBS" "${RQ_WORKERS:-2}")
  echo "$round $s $p50 $p99 | $a $(awk "BEGIN{printf \"%.2f\", $a/$s}") | $q $(awk "BEGIN{printf \"%.1fx\", $a/$q}")"
done
