"""CPU time an ID photo costs the server outside model inference (issue 20).

Sends one photo at a time and reads the server's CPU time (utime + stime of all its threads,
from /proc/PID/stat, which keeps the time of threads that ended) around each block of photos;
the host's own `infer` Server-Timing entry of each answer says how long its models ran. Run the
server with `[vision] threads = 1`: ONNX Runtime then runs each model on the batcher's thread
alone, so a model run's wall time is its CPU time, and

    CPU outside inference = (server CPU - the server's idle CPU - sum of infer) / photos.

Several endpoints (name=url, or name=url@pid when it is another server than --pid) are
measured in alternating blocks, so that a machine whose speed drifts treats them alike;
compare them as ratios.

Usage: idphoto_cpu.py --pid PID --image IMAGE [--photos N] [--field k=v ...] name=url[@pid] ...
"""

import argparse
import os
import statistics
import time
import urllib.request
import uuid

TICK = os.sysconf("SC_CLK_TCK")
BLOCK = 10


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are the 14th and 15th fields; the split starts at the 3rd.
    return (int(fields[11]) + int(fields[12])) / TICK


def multipart(image, fields):
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields
    ]
    with open(image, "rb") as f:
        data = f.read()
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode() + data + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def timings(headers):
    stages = {}
    for value in headers.get_all("server-timing") or []:
        for entry in value.split(","):
            name, *params = [p.strip() for p in entry.split(";")]
            for p in params:
                if p.startswith("dur="):
                    stages[name] = stages.get(name, 0.0) + float(p[4:])
    return stages


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--photos", type=int, default=30)
    ap.add_argument("--field", action="append", default=[])
    ap.add_argument("endpoints", nargs="+")
    args = ap.parse_args()
    body, content_type = multipart(args.image, [f.split("=", 1) for f in args.field])
    endpoints = []
    for e in args.endpoints:
        name, url = e.split("=", 1)
        url, _, pid = url.partition("@")
        endpoints.append((name, url, int(pid) if pid else args.pid))

    def post(url):
        req = urllib.request.Request(url, data=body, headers={"content-type": content_type})
        with urllib.request.urlopen(req) as resp:
            resp.read()
            return timings(resp.headers)

    for _, url, _ in endpoints:
        for _ in range(3):
            post(url)
    pids = sorted({pid for _, _, pid in endpoints})
    start, cpu = time.monotonic(), {pid: cpu_seconds(pid) for pid in pids}
    time.sleep(4)
    took = time.monotonic() - start
    idle = {pid: (cpu_seconds(pid) - cpu[pid]) / took for pid in pids}

    seen = {name: [] for name, _, _ in endpoints}
    used = {name: 0.0 for name, _, _ in endpoints}
    wall = {name: 0.0 for name, _, _ in endpoints}
    while any(len(v) < args.photos for v in seen.values()):
        for name, url, pid in endpoints:
            n = min(BLOCK, args.photos - len(seen[name]))
            start, cpu = time.monotonic(), cpu_seconds(pid)
            seen[name].extend(post(url) for _ in range(n))
            took = time.monotonic() - start
            wall[name] += took
            used[name] += cpu_seconds(pid) - cpu - idle[pid] * took
    rates = ", ".join(f"{idle[pid] * 1e3:.1f}" for pid in pids)
    print(f"idle CPU subtracted: {rates} ms a second")
    # A host from before the `infer` entry reports no model time; the models saw the same
    # inputs, so it is taken as the mean of the hosts that report it, and said so.
    reported = [
        sum(s["infer"] for s in seen[name]) / len(seen[name]) / 1e3
        for name, _, _ in endpoints
        if all("infer" in s for s in seen[name])
    ]
    for name, _, _ in endpoints:
        photos = seen[name]
        n = len(photos)
        infer = sum(s.get("infer", 0.0) for s in photos) / 1e3
        borrowed = infer == 0.0 and reported
        if borrowed:
            infer = statistics.mean(reported) * n
        outside = (used[name] - infer) / n * 1e3
        stages = ", ".join(
            f"{k} {statistics.median(s.get(k, 0) for s in photos):.1f}"
            for k in photos[0]
            if k != "infer"
        )
        print(
            f"{name}: {n} photos, server CPU {used[name] / n * 1e3:.1f} ms a photo, model "
            f"inference {infer / n * 1e3:.1f}, outside inference {outside:.1f}; wall "
            f"{wall[name] / n * 1e3:.1f} ms; stage medians (ms): {stages}"
            + (" (no infer entry: the others' model time used)" if borrowed else "")
        )


if __name__ == "__main__":
    main()
