#!/usr/bin/env bash
# Interleaved A/B of the vision path between two builds: BASE=folder holding another build's
# `atelier`, `segment.wasm` and `idphoto.wasm` (A) against this checkout's (B). Same models,
# same photo, same wrk load, the order alternating each round; prints images/s per endpoint and
# B/A. Used to price a change of how images cross the WIT boundary.
CONNS=${CONNS:-2}
. "$(dirname "$0")/lib.sh"
[ -f .ort/env.sh ] && . .ort/env.sh
[ -x "${BASE:-}/atelier" ] || { echo "set BASE to a folder with atelier, segment.wasm, idphoto.wasm" >&2; exit 1; }
img=${IMAGE:-$root/../shared/testdata/portraits/fr_obama.jpg}
manifest() { # PORT BIN_DIR
  manifest_head "$1"
  local limits='limits = { memory_mb = 512, cpu_ms = 20000, timeout_ms = 120000, max_body_kb = 20480, max_concurrency = 64 }'
  printf '[[function]]\nname = "segment"\ncomponent = "%s/segment.wasm"\nroutes = [{ path = "/segment" }]\ngrants = ["atelier:vision"]\n%s\n' "$2" "$limits"
  printf '[[function]]\nname = "idphoto"\ncomponent = "%s/idphoto.wasm"\nroutes = [{ path = "/idphoto" }]\ngrants = ["atelier:vision"]\n%s\n' "$2" "$limits"
  printf '[vision]\nmodels = "%s/models/models.toml"\ndevice = "cpu"\n' "$root"
}
manifest 8591 "$BASE" > /tmp/atelier-bench-vab-a.toml
manifest 8592 "$root/target/wasm32-wasip2/release" > /tmp/atelier-bench-vab-b.toml
ports_free 8591 8592
"$BASE/atelier" serve --config /tmp/atelier-bench-vab-a.toml 2>/dev/null & a=$!
target/release/atelier serve --config /tmp/atelier-bench-vab-b.toml 2>/dev/null & b=$!
trap 'kill $a $b 2>/dev/null' EXIT
wait_http http://127.0.0.1:8591/readyz; wait_http http://127.0.0.1:8592/readyz
lua=$(post_script "$img")
echo "round endpoint base_per_s this_per_s this/base (connections: $CONNS)"
for i in $(seq 1 "$ROUNDS"); do
  for path in "/segment/faces" "/segment?model=selfie" "/idphoto?size=cn-1inch&model=selfie"; do
    if [ $((i % 2)) -eq 1 ]; then
      read -r ar _ _ < <(rps "http://127.0.0.1:8591$path" -s "$lua")
      read -r br _ _ < <(rps "http://127.0.0.1:8592$path" -s "$lua")
    else
      read -r br _ _ < <(rps "http://127.0.0.1:8592$path" -s "$lua")
      read -r ar _ _ < <(rps "http://127.0.0.1:8591$path" -s "$lua")
    fi
    echo "$i $path $ar $br $(python3 -c "print(f'{$br/$ar:.3f}')")"
  done
done
