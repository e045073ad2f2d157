#!/usr/bin/env bash
# Where an ID photo's CPU time goes outside the models (issue 20).
# 1. Through the server: the server's CPU time per photo, one photo at a time, minus the models'
#    run time that the host reports in Server-Timing (`infer`), with ONNX Runtime on one thread so
#    that a run's wall time is its CPU time (bench/tools/idphoto_cpu.py). BEFORE=path/to/idphoto.wasm
#    (e.g. built from an earlier commit) is measured beside the current component, in
#    alternating blocks, for a same-run ratio; with BEFORE_HOST=path/to/atelier as well, the
#    earlier component runs in a second server of that binary (host and component before).
# 2. Natively, per step: the server gives the matte and the faces of the portrait once, then
#    examples/compose.rs times decode, placement, warp, foreground colour, composite, sheet and
#    encode (image's JPEG encoder beside it).
# IMAGE (default fr_obama), SIZE (default cn-1inch), PHOTOS (default 40 a case).
. "$(dirname "$0")/lib.sh"
[ -f .ort/env.sh ] && . .ort/env.sh
img=${IMAGE:-$root/../shared/testdata/portraits/fr_obama.jpg}
size=${SIZE:-cn-1inch}
limits='limits = { memory_mb = 1024, cpu_ms = 20000, timeout_ms = 120000, max_body_kb = 20480 }'
{
  manifest_head 8591
  for f in segment idphoto; do
    printf '[[function]]\nname = "%s"\ncomponent = "%s/target/wasm32-wasip2/release/%s.wasm"\nroutes = [{ path = "/%s" }]\ngrants = ["atelier:vision"]\n%s\n' "$f" "$root" "$f" "$f" "$limits"
  done
  if [ -n "${BEFORE:-}" ] && [ -z "${BEFORE_HOST:-}" ]; then
    printf '[[function]]\nname = "before"\ncomponent = "%s"\nroutes = [{ path = "/before" }]\ngrants = ["atelier:vision"]\n%s\n' "$(realpath "$BEFORE")" "$limits"
  fi
  printf '[vision]\nmodels = "%s/models/models.toml"\ndevice = "cpu"\nthreads = 1\n' "$root"
} > /tmp/atelier-bench-idcpu.toml
ports_free 8591 8592
cargo build -q --release -p idphoto --example compose
target/release/atelier serve --config /tmp/atelier-bench-idcpu.toml 2>/dev/null & a=$!
b=
trap 'kill $a $b 2>/dev/null' EXIT
wait_http http://127.0.0.1:8591/readyz
endpoints=(${BEFORE:+before=http://127.0.0.1:8591/before} after=http://127.0.0.1:8591/idphoto)
if [ -n "${BEFORE_HOST:-}" ]; then
  component=$(realpath "${BEFORE:-target/wasm32-wasip2/release/idphoto.wasm}")
  sed -e 's/8591/8592/' -e "s#$root/target/wasm32-wasip2/release/idphoto.wasm#$component#" \
    /tmp/atelier-bench-idcpu.toml > /tmp/atelier-bench-idcpu-before.toml
  "$BEFORE_HOST" serve --config /tmp/atelier-bench-idcpu-before.toml 2>/dev/null & b=$!
  wait_http http://127.0.0.1:8592/readyz
  endpoints=("before=http://127.0.0.1:8592/idphoto@$b" after=http://127.0.0.1:8591/idphoto)
fi
echo "== through the server: $(basename "$img"), $size"
python3 bench/tools/idphoto_cpu.py --pid $a --image "$img" --photos "${PHOTOS:-40}" \
  --field size="$size" "${endpoints[@]}"
echo "== through the server: $(basename "$img"), $size on a 6-inch sheet"
python3 bench/tools/idphoto_cpu.py --pid $a --image "$img" --photos "${PHOTOS:-40}" \
  --field size="$size" --field layout=6inch "${endpoints[@]}"
echo "== natively, per step"
tmp=$(mktemp -d)
curl -fs -X POST --data-binary @"$img" http://127.0.0.1:8591/segment -o "$tmp/matte.png"
curl -fs -X POST --data-binary @"$img" http://127.0.0.1:8591/segment/faces -o "$tmp/faces.json"
for layout in none 6inch; do
  target/release/examples/compose "$img" "$tmp/matte.png" "$tmp/faces.json" "$size" "$layout"
done
rm -rf "$tmp"
