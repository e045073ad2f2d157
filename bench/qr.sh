#!/usr/bin/env bash
# QR generate and decode: Atelier's qr component vs the Python service (bench/baselines/qr_service,
# gunicorn 4 sync workers), same wrk load, interleaved rounds, ratios printed. Also the native
# per-operation time of the same Rust code (the component's must be ≤ 1.5× of it).
. "$(dirname "$0")/lib.sh"
qr_baseline_venv
text=$QR_TEXT
cat > /tmp/atelier-bench-qr.toml <<TOML
$(manifest_head 8291)
[[function]]
name = "qr"
component = "$root/target/wasm32-wasip2/release/qr.wasm"
routes = [{ path = "/qr" }]
limits = { memory_mb = 256, max_concurrency = 256 }
TOML
ports_free 8291 8292
target/release/atelier serve --config /tmp/atelier-bench-qr.toml 2>/dev/null & a=$!
(cd bench/baselines/qr_service && exec "$root/$QR_VENV/bin/gunicorn" -w 4 -b 127.0.0.1:8292 app:app 2>/dev/null) & p=$!
trap 'kill $a $p 2>/dev/null' EXIT
trap 'exit 1' INT TERM
wait_http http://127.0.0.1:8291/readyz; wait_http "http://127.0.0.1:8292/qr?text=x"
# The same image for both decoders: the baseline's own ECC-H code of $text.
curl -fs "http://127.0.0.1:8292/qr?text=$text" -o /tmp/bench-qr.png
cat > /tmp/bench-qr-post.lua <<'LUA'
wrk.method = "POST"
local f = io.open("/tmp/bench-qr.png", "rb"); wrk.body = f:read("*all"); f:close()
wrk.headers["Content-Type"] = "image/png"
LUA
gen=$(qr_generate_path)
echo "round | generate atelier_rps p50 p99 | python_rps p50 p99 | ratio | decode atelier_rps p50 p99 | python_rps p50 p99 | ratio"
for i in $(seq 1 "$ROUNDS"); do
  read -r ag a5 a9 < <(rps "http://127.0.0.1:8291$gen")
  read -r pg p5 p9 < <(rps "http://127.0.0.1:8292$gen")
  read -r ad d5 d9 < <(rps http://127.0.0.1:8291/qr/decode -s /tmp/bench-qr-post.lua)
  read -r pd q5 q9 < <(rps http://127.0.0.1:8292/qr/decode -s /tmp/bench-qr-post.lua)
  echo "$i | $ag $a5 $a9 | $pg $p5 $p9 | $(python3 -c "print(f'{$ag/$pg:.1f}x')") | $ad $d5 $d9 | $pd $q5 $q9 | $(python3 -c "print(f'{$ad/$pd:.1f}x')")"
done
cargo run -q --release -p qr --example ops -- "$text" /tmp/bench-qr.png
echo "component, one connection: generate $(one_connection "http://127.0.0.1:8291$gen"); decode $(BODY_FILE=/tmp/bench-qr.png one_connection http://127.0.0.1:8291/qr/decode)"
# A 12 MP photo (an upscaled portrait) with the bench code pasted into it, and the same photo
# without one: median wall time of 5 sequential requests to each service, and what each found.
$QR_VENV/bin/python - <<'PY'
from PIL import Image
photo = Image.open("../shared/testdata/portraits/fr_obama.jpg").convert("RGB").resize((4000, 3000))
photo.save("/tmp/bench-qr-photo-none.jpg", quality=90)
photo.paste(Image.open("/tmp/bench-qr.png").convert("RGB"), (2600, 1500))
photo.save("/tmp/bench-qr-photo.jpg", quality=90)
PY
wall() { for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{time_total}\n' --data-binary @"$2" "$1"; done | sort -n | sed -n 3p; }
found() { curl -s --data-binary @"$2" "$1" | python3 -c "import sys,json; print(len(json.load(sys.stdin)['codes']))"; }
for f in photo photo-none; do
  ours=http://127.0.0.1:8291/qr/decode theirs=http://127.0.0.1:8292/qr/decode img=/tmp/bench-qr-$f.jpg
  echo "12 MP $f: atelier $(wall $ours $img) s (codes: $(found $ours $img)) | python $(wall $theirs $img) s (codes: $(found $theirs $img))"
done
