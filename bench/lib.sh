# Helpers shared by the benchmark scripts (sourced).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
ROUNDS=${ROUNDS:-3}
command -v wrk >/dev/null || { echo "bench needs wrk (apt-get install -y wrk)" >&2; exit 1; }

# ports_free PORT... → fails when anything listens on one of them: a server left by an earlier
# run would answer in place of the one a script starts, and its figures would be measured.
ports_free() {
  local port
  for port in "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "port $port is in use (a server left by an earlier run?); stop it first" >&2
      return 1
    fi
  done
}
wait_http() { for _ in $(seq 1 300); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }
# wrk_checked [wrk args...] → wrk's report on stdout. When any response was not 2xx/3xx or any
# socket failed, it prints the counts on stderr and stops the whole script (TERM to the script,
# whose EXIT trap stops its servers; the callers run in `< <(…)` subshells, where an exit would
# only end the subshell): a fast error is not throughput, so no figure or ratio is printed.
wrk_checked() {
  local out bad
  out=$(wrk "$@")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print "non-2xx responses: " $NF}
    /Socket errors:/ {sub(/^ *Socket errors: /, ""); print "socket errors: " $0}' <<<"$out")
  if [ -n "$bad" ]; then
    printf 'BENCH FAILED: wrk %s\n%s\n(refusing to report a figure)\n' "${*: -1}" "$bad" >&2
    kill -TERM $$
    return 1
  fi
  printf '%s\n' "$out"
}
# rps URL [wrk args...] → requests/s, p50 ms, p99 ms (every response 2xx, or the script stops)
rps() {
  local url=$1 out; shift
  out=$(wrk_checked -t"$(( CONNS < 2 ? 1 : 2 ))" -c"$CONNS" -d"$DURATION" --timeout 60s --latency "$@" "$url") || return 1
  awk '
    /Requests\/sec/ {r=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    END {printf "%s %s %s\n", r, p50, p99}' <<<"$out"
}
# manifest_head PORT → the [server] and [runtime] part every bench manifest shares.
manifest_head() { printf '[server]\nlisten = "127.0.0.1:%s"\n[runtime]\ncache_dir = "%s/.cache/atelier"\n' "$1" "$root"; }
# hello_manifest PORT → a manifest serving the hello component at / (the hello benchmarks').
hello_manifest() {
  manifest_head "$1"
  printf '[[function]]\nname = "hello"\ncomponent = "%s/target/wasm32-wasip2/release/hello.wasm"\nroutes = [{ path = "/" }]\nlimits = { max_concurrency = 256 }\n' "$root"
}
# post_script FILE → path of a wrk script that POSTs FILE as the body.
post_script() {
  local lua; lua=$(mktemp --suffix=.lua)
  printf 'wrk.method = "POST"\nlocal f = io.open("%s", "rb"); wrk.body = f:read("*all"); f:close()\n' "$1" > "$lua"
  echo "$lua"
}

# The QR benchmarks' shared parts: the Python baseline's virtualenv (bench/baselines/qr_service),
# the text both services encode, and the generate request (ECC H, scale 10, border 4).
QR_VENV=.cache/qr-baseline
QR_TEXT="https://example.com/some/path"
qr_baseline_venv() {
  if [ ! -x $QR_VENV/bin/gunicorn ]; then
    python3 -m venv $QR_VENV
    $QR_VENV/bin/pip install -q flask gunicorn "qrcode[pil]" opencv-python-headless
  fi
}
qr_generate_path() { echo "/qr?text=$QR_TEXT&ecc=H&scale=10&border=4"; }
# one_connection URL [wrk args...] → time per request (HTTP and instantiation included) and the
# median Server-Timing of each stage over every response, one connection for $DURATION
# (bench/server-timing.lua; BODY_FILE=path POSTs that file).
one_connection() {
  local out
  out=$(wrk_checked -t1 -c1 -d"$DURATION" -s bench/server-timing.lua "$@") || return 1
  awk '
    /Requests\/sec/ {r=$2}
    /^server-timing medians:/ {sub(/^server-timing medians: /, ""); m=$0}
    END {printf "%.0f us/req, %s\n", 1e6/r, m}' <<<"$out"
}
