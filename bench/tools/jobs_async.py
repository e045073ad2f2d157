"""Throughput of asynchronous jobs: submits JOBS requests with `Prefer: respond-async` to URL
(POST of IMAGE), then polls every job until it is done; prints "jobs_per_s" from the first
submission to the last job's `finished` (the server's clock), failing on any job not done.

usage: jobs_async.py URL IMAGE JOBS [STATUS_BASE]"""

import json
import sys
import time
import urllib.request

url, image, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
status_base = sys.argv[4] if len(sys.argv) > 4 else url.split("/", 3)[0] + "//" + url.split("/", 3)[2]
body = open(image, "rb").read()


def call(method, target, data=None, headers=()):
    req = urllib.request.Request(target, data=data, method=method)
    for k, v in headers:
        req.add_header(k, v)
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.status, r.read()


started_ms = time.time() * 1000
ids = []
for _ in range(jobs):
    status, answer = call("POST", url, body, [("prefer", "respond-async"), ("content-type", "image/jpeg")])
    if status != 202:
        sys.exit(f"submission answered {status}: {answer[:200]!r}")
    ids.append(json.loads(answer)["id"])
last = 0
for job in ids:
    while True:
        _, answer = call("GET", f"{status_base}/jobs/{job}")
        info = json.loads(answer)
        if info["status"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.05)
    if info["status"] != "done":
        sys.exit(f"job {job}: {info}")
    last = max(last, info["finished"])
print(f"{jobs / ((last - started_ms) / 1000):.2f}")
