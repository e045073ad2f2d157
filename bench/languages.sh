#!/usr/bin/env bash
# The same small function in three languages, deployed as tenant functions on one server:
# Rust (components/hello), Python (componentize-py) and JavaScript (ComponentizeJS). For each:
# the component's size, the deploy (compile in the child process, fresh cache), the first
# request after it, and requests/s with p50/p99 under wrk (CONNS, default 32), interleaved
# rounds. Run after scripts/setup.sh.
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d)
trap 'kill $a 2>/dev/null; rm -rf "$work"' EXIT
ports_free 8991
cat > "$work/atelier.toml" <<TOML
[server]
listen = "127.0.0.1:8991"
[runtime]
cache_dir = "$work/cache"
[admin]
data_dir = "$work/data"
[[tenant]]
id = "bench"
path_prefix = "/bench"
quotas = { max_concurrency = 256, memory_mb = 128, cpu_ms = 2000 }
TOML
ATELIER_ADMIN_TOKEN=bench-operator-token target/release/atelier serve --config "$work/atelier.toml" 2>/dev/null & a=$!
wait_http http://127.0.0.1:8991/readyz
declare -A wasm=([rust]=target/wasm32-wasip2/release/hello.wasm [python]=target/python/python-hello.wasm [js]=target/js/js-hello.wasm)
echo "language size_kib deploy_ms first_request_ms"
for lang in rust python js; do
  size=$(( $(stat -c %s "${wasm[$lang]}") / 1024 ))
  t0=$(date +%s%N)
  curl -fs -o /dev/null -X PUT -H "authorization: Bearer bench-operator-token" --data-binary @"${wasm[$lang]}" \
    "http://127.0.0.1:8991/admin/v1/tenants/bench/functions/$lang?route=/bench/$lang&public=true"
  t1=$(date +%s%N)
  first=$(curl -fs -o /dev/null -w '%{time_total}' "http://127.0.0.1:8991/bench/$lang?name=x")
  echo "$lang $size $(( (t1 - t0) / 1000000 )) $(python3 -c "print(f'{$first * 1000:.1f}')")"
done
echo "round | rust_rps p50 p99 | python_rps p50 p99 | js_rps p50 p99 ($CONNS connections)"
for round in $(seq 1 "$ROUNDS"); do
  line="$round"
  for lang in rust python js; do
    read -r r p50 p99 < <(rps "http://127.0.0.1:8991/bench/$lang?name=x")
    line="$line | $r $p50 $p99"
  done
  echo "$line"
done
