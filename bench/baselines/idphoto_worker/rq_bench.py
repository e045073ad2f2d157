"""The Python ID-photo worker as it ran in production: jobs queued in Redis with RQ and run by
RQ workers (one process each, `SimpleWorker`: the model loaded once per process, no fork per
job). Starts WORKERS workers and waits until each has loaded the model, enqueues JOBS photos,
then prints "jobs_per_s" from the go signal until the last worker is done (burst mode).

usage: rq_bench.py REDIS_URL IMAGE JOBS WORKERS
(run as a worker: rq_bench.py --work REDIS_URL INDEX)"""

import os
import subprocess
import sys
import time

from redis import Redis
from rq import Queue, SimpleWorker

QUEUE = "atelier-bench-idphoto"


def work(url: str, index: str) -> None:
    import rq_task  # loads the model

    redis = Redis.from_url(url)
    redis.set(f"{QUEUE}:ready:{index}", 1)
    while not redis.get(f"{QUEUE}:go"):
        time.sleep(0.01)
    SimpleWorker([QUEUE], connection=redis).work(burst=True, logging_level="WARNING")
    del rq_task


def main() -> None:
    if sys.argv[1] == "--work":
        return work(sys.argv[2], sys.argv[3])
    url, image, jobs, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    data = open(image, "rb").read()
    redis = Redis.from_url(url)
    for key in redis.keys(f"{QUEUE}*"):
        redis.delete(key)
    queue = Queue(QUEUE, connection=redis)
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONPATH=here)
    procs = [
        subprocess.Popen([sys.executable, __file__, "--work", url, str(i)], env=env)
        for i in range(workers)
    ]
    while sum(1 for i in range(workers) if redis.get(f"{QUEUE}:ready:{i}")) < workers:
        time.sleep(0.05)
    enqueued = [queue.enqueue("rq_task.id_photo", data, result_ttl=600) for _ in range(jobs)]
    started = time.perf_counter()
    redis.set(f"{QUEUE}:go", 1)
    for p in procs:
        p.wait()
    elapsed = time.perf_counter() - started
    failed = [j.id for j in enqueued if j.get_status(refresh=True) != "finished"]
    if failed:
        sys.exit(f"{len(failed)} RQ jobs did not finish")
    print(f"{jobs / elapsed:.2f}")


if __name__ == "__main__":
    main()
