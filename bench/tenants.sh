#!/usr/bin/env bash
# Tenant isolation: tenant B's hello p50/p99 alone, then while tenant A runs an infinite loop
# and a memory hog under load (its quota: 4 instances, 200 ms CPU, 32 MiB). Same run, same
# wrk settings; the ratio loaded/unloaded p99 is printed (target ≤ 2×). TICK_MS (default 5, the server default)
# is the epoch tick: how often a busy guest yields its worker thread to other requests.
. "$(dirname "$0")/lib.sh"
data=$(mktemp -d)
trap 'kill $a 2>/dev/null; rm -rf "$data"' EXIT
cat > /tmp/atelier-bench-tenants.toml <<TOML
$(manifest_head 8591)
epoch_tick_ms = ${TICK_MS:-5}
[admin]
data_dir = "$data"
[[tenant]]
id = "noisy"
hosts = ["noisy.test"]
quotas = { max_concurrency = 4, cpu_ms = 200, memory_mb = 32, timeout_ms = 2000 }
[[tenant]]
id = "quiet"
hosts = ["quiet.test"]
quotas = { max_concurrency = 64 }
TOML
ports_free 8591
ATELIER_ADMIN_TOKEN=bench-operator-token target/release/atelier serve --config /tmp/atelier-bench-tenants.toml 2>/dev/null & a=$!
wait_http http://127.0.0.1:8591/readyz
export ATELIER_TOKEN=bench-operator-token ATELIER_URL=http://127.0.0.1:8591
target/release/atelier deploy target/wasm32-wasip2/release/hello.wasm --tenant quiet --name hello --route /hello --public >/dev/null
target/release/atelier deploy target/wasm32-wasip2/release/chaos.wasm --tenant noisy --name chaos --route /chaos --public >/dev/null
CONNS=${QUIET_CONNS:-8}
quiet() { rps http://127.0.0.1:8591/hello -H "Host: quiet.test"; }
echo "round quiet_alone_rps p50 p99 | quiet_loaded_rps p50 p99 | p99_ratio (connections: $CONNS)"
for round in $(seq 1 "$ROUNDS"); do
  read -r r0 p50_0 p99_0 < <(quiet)
  # The noisy tenant: runaway loops and memory hogs, 8 connections each, beyond its quota of 4.
  wrk -t1 -c8 -d"$DURATION" http://127.0.0.1:8591/chaos/spin -H "Host: noisy.test" >/dev/null 2>&1 &
  s=$!
  wrk -t1 -c8 -d"$DURATION" http://127.0.0.1:8591/chaos/hog -H "Host: noisy.test" >/dev/null 2>&1 &
  h=$!
  sleep 0.5
  read -r r1 p50_1 p99_1 < <(quiet)
  wait $s $h 2>/dev/null || true
  ratio=$(awk -v a="$p99_0" -v b="$p99_1" 'function ms(v){ if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v } BEGIN{printf "%.2fx", ms(b)/ms(a)}')
  echo "$round $r0 $p50_0 $p99_0 | $r1 $p50_1 $p99_1 | $ratio"
done
