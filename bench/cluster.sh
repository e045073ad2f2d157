#!/usr/bin/env bash
# The cluster's costs. (1) hello requests/s of a tenant function on one node whose tenant rate
# is checked in Redis (one GCRA script call per request) against the same node shape with the
# local bucket, interleaved rounds, quota high enough never to refuse (target: ≥ 85% of local).
# (2) deploy-to-served latency across 3 nodes, each with its own compile cache (as on separate
# machines): ROUNDS_DEPLOY deploys taking turns through the nodes (target: p99 ≤ 1 s).
# Needs redis-server (scripts/setup.sh installs it). Run after scripts/setup.sh.
. "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || { echo "bench needs redis-server (scripts/setup.sh)" >&2; exit 1; }
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
TOKEN=bench-operator-token
REDIS_PORT=${REDIS_PORT:-8690}
ports_free $REDIS_PORT 8691 8692 8693 8694
redis-server --port $REDIS_PORT --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >/dev/null & pids+=($!)

# node NAME PORT CLUSTER(yes|no) → starts a node with its own data folder and compile cache.
node() {
  mkdir -p "$work/$1"
  {
    printf '[server]\nlisten = "127.0.0.1:%s"\n[runtime]\ncache_dir = "%s/%s/cache"\n' "$2" "$work" "$1"
    printf '[admin]\ndata_dir = "%s/%s/data"\n' "$work" "$1"
    [ "$3" = yes ] && printf '[cluster]\nredis = "redis://127.0.0.1:%s/0"\nnode_id = "%s"\n' $REDIS_PORT "$1"
    printf '[[tenant]]\nid = "bench"\npath_prefix = "/bench"\n'
    printf 'quotas = { requests_per_minute = 1000000000, burst = 1000000, max_concurrency = 256 }\n'
  } > "$work/$1.toml"
  ATELIER_ADMIN_TOKEN=$TOKEN target/release/atelier serve --config "$work/$1.toml" 2>"$work/$1.log" & pids+=($!)
  wait_http "http://127.0.0.1:$2/readyz"
}
deploy_hello() {
  ATELIER_TOKEN=$TOKEN ATELIER_URL=$1 target/release/atelier deploy target/wasm32-wasip2/release/hello.wasm \
    --tenant bench --name hi --route /bench/hi --public >/dev/null
}

echo "== (1) tenant hello, rate checked in redis vs locally ($CONNS connections, $DURATION rounds)"
node local 8691 no
node shared 8692 yes
deploy_hello http://127.0.0.1:8691
deploy_hello http://127.0.0.1:8692
# cpu_ticks PID → user + system clock ticks the process has used.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
secs=${DURATION%s}
echo "round local_rps p50 p99 | redis_rps p50 p99 | ratio | redis-server's share of one core in the redis round"
for i in $(seq 1 "$ROUNDS"); do
  read -r lr lp5 lp9 < <(rps http://127.0.0.1:8691/bench/hi)
  t0=$(cpu_ticks "${pids[0]}")
  read -r rr rp5 rp9 < <(rps http://127.0.0.1:8692/bench/hi)
  t1=$(cpu_ticks "${pids[0]}")
  share=$(python3 -c "print(f'{($t1 - $t0) / $(getconf CLK_TCK) / $secs:.0%}')")
  echo "$i $lr $lp5 $lp9 | $rr $rp5 $rp9 | $(python3 -c "print(f'{$rr/$lr:.2f}')") | $share"
done
fallbacks=$(curl -s -H "authorization: Bearer $TOKEN" http://127.0.0.1:8692/metrics | awk '/^atelier_cluster_rate_fallbacks_total/ {print $2}')
echo "requests the redis node decided locally (redis slower than rate_budget_ms): ${fallbacks:-0}"
kill "${pids[@]:1}" 2>/dev/null; wait "${pids[@]:1}" 2>/dev/null || true
pids=("${pids[0]}")
redis-cli -p $REDIS_PORT flushall >/dev/null

echo "== (2) deploy → served on the other nodes, 3 nodes, own compile caches"
node n1 8692 yes
node n2 8693 yes
node n3 8694 yes
python3 bench/tools/deploy_latency.py "${ROUNDS_DEPLOY:-30}" $TOKEN http://127.0.0.1:8692 http://127.0.0.1:8693 http://127.0.0.1:8694
