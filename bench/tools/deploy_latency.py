"""Deploy-to-served latency across cluster nodes.

Each round deploys hello (with a different custom section, so a different sha256 that every
node compiles afresh) through one node, taking turns, then polls every other node's admin API
every 2 ms until it reports the new version. Prints each round and the p50/p99/max of
"the deploy's 200 → served on that node", plus the deploy call itself.

usage: deploy_latency.py ROUNDS TOKEN URL...
"""

import sys
import time
import urllib.request

ROUNDS, TOKEN, URLS = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
WASM = open("target/wasm32-wasip2/release/hello.wasm", "rb").read()


def leb(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def padded(i):
    name = b"atelier-bench-padding"
    payload = leb(len(name)) + name + str(i).encode() * 16
    return WASM + b"\x00" + leb(len(payload)) + payload


def call(method, url, body=None):
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("authorization", f"Bearer {TOKEN}")
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, r.read()


def version(url):
    import json

    try:
        _, body = call("GET", f"{url}/admin/v1/tenants/bench/functions/hi")
        return json.loads(body)["version"]
    except Exception:
        return None


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


served, deploys = [], []
for i in range(ROUNDS):
    via = URLS[i % len(URLS)]
    started = time.perf_counter()
    status, body = call("PUT", f"{via}/admin/v1/tenants/bench/functions/hi?route=/bench/hi", padded(i))
    committed = time.perf_counter()
    import json

    want = json.loads(body)["version"]
    deploys.append(committed - started)
    lags = []
    for other in URLS:
        if other == via:
            continue
        while version(other) != want:
            if time.perf_counter() - committed > 30:
                sys.exit(f"round {i}: {other} never served version {want}")
            time.sleep(0.002)
        lags.append(time.perf_counter() - committed)
    served.extend(lags)
    print(f"round {i + 1}: deploy {1000 * deploys[-1]:.0f} ms via {via}; served elsewhere after "
          + ", ".join(f"{1000 * s:.0f}" for s in lags) + " ms", flush=True)

ms = lambda s: f"{1000 * s:.0f} ms"
print(f"deploy call: p50 {ms(pct(deploys, 50))}, p99 {ms(pct(deploys, 99))}")
print(f"deploy 200 -> served on every other node ({len(served)} observations): "
      f"p50 {ms(pct(served, 50))}, p99 {ms(pct(served, 99))}, max {ms(max(served))}")
