#!/usr/bin/env bash
# HTTP/2 against HTTP/1.1, both over TLS on the same listener, hello at the same concurrency:
# h2load (Debian's nghttp2-client) with CLIENTS connections × STREAMS streams each for HTTP/2,
# and CLIENTS × STREAMS connections for HTTP/1.1 (--h1), interleaved rounds; plus plain
# HTTP/1.1 (no TLS, another listener of the same build) for the cost of TLS. Prints req/s and
# the ratios. Run after scripts/setup.sh.
. "$(dirname "$0")/lib.sh"
command -v h2load >/dev/null || { echo "bench needs h2load (apt-get install -y nghttp2-client)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "bench needs openssl" >&2; exit 1; }
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -days 1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
ports_free 8891 8892
{ hello_manifest 8891; printf '[server.tls]\ncert = "%s/cert.pem"\nkey = "%s/key.pem"\n' "$work" "$work"; } > "$work/tls.toml"
hello_manifest 8892 > "$work/plain.toml"
target/release/atelier serve --config "$work/tls.toml" 2>"$work/tls.log" & pids+=($!)
target/release/atelier serve --config "$work/plain.toml" 2>/dev/null & pids+=($!)
for _ in $(seq 1 300); do grep -q ' ready ' "$work/tls.log" && break; sleep 0.1; done
wait_http http://127.0.0.1:8892/readyz
CLIENTS=${CLIENTS:-4}
STREAMS=${STREAMS:-8}
secs=${DURATION%s}
# h2load_rps ARGS... → requests/s (fails the script on any failed or errored request)
h2load_rps() {
  local out
  out=$(h2load -D "$secs" --warm-up-time=1 "$@")
  awk '/^requests:/ { if ($10 != 0 || $12 != 0) { print "BENCH FAILED: " $0 > "/dev/stderr"; exit 1 } }
       /^finished in/ { gsub(",", ""); print $4 }' <<<"$out"
}
conc=$((CLIENTS * STREAMS))
echo "concurrency $conc: HTTP/2 $CLIENTS connections x $STREAMS streams; HTTP/1.1 $conc connections"
echo "round h2_tls_rps | h1_tls_rps | h1_plain_rps | h2/h1_tls | h1_tls/h1_plain"
for round in $(seq 1 "$ROUNDS"); do
  h2=$(h2load_rps -c "$CLIENTS" -m "$STREAMS" https://localhost:8891/)
  h1=$(h2load_rps --h1 -c "$conc" https://localhost:8891/)
  pl=$(h2load_rps --h1 -c "$conc" http://127.0.0.1:8892/)
  echo "$round $h2 | $h1 | $pl | $(python3 -c "print(f'{$h2/$h1:.2f}')") | $(python3 -c "print(f'{$h1/$pl:.2f}')")"
done
