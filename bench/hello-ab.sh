#!/usr/bin/env bash
# Interleaved A/B of two host builds on hello: BASE=path/to/other/atelier (A) against this
# checkout's target/release/atelier (B), same component, same manifest, same wrk load; the
# order alternates each round. Prints each round and B/A. Used to price a change of the host's
# request path (the edge hardening: connection cap, header/body timers, header stripping).
. "$(dirname "$0")/lib.sh"
[ -x "${BASE:-}" ] || { echo "set BASE to the other build's atelier binary" >&2; exit 1; }
for port in 8194 8195; do hello_manifest $port > /tmp/atelier-bench-hello-ab-$port.toml; done
ports_free 8194 8195
"$BASE" serve --config /tmp/atelier-bench-hello-ab-8194.toml 2>/dev/null & a=$!
target/release/atelier serve --config /tmp/atelier-bench-hello-ab-8195.toml 2>/dev/null & b=$!
trap 'kill $a $b 2>/dev/null' EXIT
wait_http http://127.0.0.1:8194/readyz; wait_http http://127.0.0.1:8195/readyz
echo "round base_rps p50 p99 | this_rps p50 p99 | this/base"
for i in $(seq 1 "$ROUNDS"); do
  if [ $((i % 2)) -eq 1 ]; then
    read -r ar ap5 ap9 < <(rps http://127.0.0.1:8194/)
    read -r br bp5 bp9 < <(rps http://127.0.0.1:8195/)
  else
    read -r br bp5 bp9 < <(rps http://127.0.0.1:8195/)
    read -r ar ap5 ap9 < <(rps http://127.0.0.1:8194/)
  fi
  echo "$i $ar $ap5 $ap9 | $br $bp5 $bp9 | $(python3 -c "print(f'{$br/$ar:.3f}')")"
done
