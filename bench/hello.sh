#!/usr/bin/env bash
# Hello-world requests/s and latency: Atelier vs `wasmtime serve` (wasmtime-cli 48.0.8, default
# flags + `-S cli`), same component, same load generator (wrk), interleaved rounds; plus plain
# hyper as the ceiling. Prints each round and the ratio. Run after scripts/setup.sh.
. "$(dirname "$0")/lib.sh"
WT=${WASMTIME:-.cache/wasmtime-cli/bin/wasmtime}
if [ ! -x "$WT" ]; then
  echo "installing wasmtime-cli 48.0.8 into .cache/wasmtime-cli (~13 min, once)"
  cargo install --locked wasmtime-cli@48.0.8 --root .cache/wasmtime-cli
fi
cargo build --release -p atelier --example native_hello
wasm=target/wasm32-wasip2/release/hello.wasm
hello_manifest 8191 > /tmp/atelier-bench-hello.toml
ports_free 8191 8192 8193
target/release/atelier serve --config /tmp/atelier-bench-hello.toml 2>/dev/null & a=$!
"$WT" serve -S cli --addr 127.0.0.1:8192 "$wasm" 2>/dev/null & w=$!
target/release/examples/native_hello 127.0.0.1:8193 & n=$!
trap 'kill $a $w $n 2>/dev/null' EXIT
wait_http http://127.0.0.1:8191/readyz; wait_http http://127.0.0.1:8192/; wait_http http://127.0.0.1:8193/
echo "round atelier_rps p50 p99 | wasmtime_serve_rps p50 p99 | native_hyper_rps p50 p99 | ratio"
for i in $(seq 1 "$ROUNDS"); do
  read -r ar ap5 ap9 < <(rps http://127.0.0.1:8191/)
  read -r wr wp5 wp9 < <(rps http://127.0.0.1:8192/)
  read -r nr np5 np9 < <(rps http://127.0.0.1:8193/)
  echo "$i $ar $ap5 $ap9 | $wr $wp5 $wp9 | $nr $np5 $np9 | $(python3 -c "print(f'{$ar/$wr:.2f}x')")"
done
