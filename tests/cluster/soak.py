#!/usr/bin/python3
"""make soak-cluster: two lgmsd replicas on one real redis-server, 4 clients posting 50
volume jobs (the small 3-D fixture) to either replica and polling either one, while one
replica is killed with SIGKILL and started again, twice. Bounded in time (--timeout).

Checked: every job ends done exactly once from its client's view (no other state after
done, never a 404 on the way) with the labels a lone daemon gives; the replica that was
never killed holds its RSS after the first jobs; Redis' memory returns to where it was
once the results expire (job_ttl)."""

import argparse
import base64
import gzip
import os
import random
import signal
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cluster import FIXTURE_3D, ROOT, Daemon, Redis, get, post, replica, volume, wait_done  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tools"))
from load import rss_kb  # noqa: E402  (make load's reader of VmRSS)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--ttl", type=int, default=15)
    ap.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args()
    started = time.time()
    tmp = tempfile.TemporaryDirectory()
    vol = volume(os.path.join(tmp.name, "small.nii.gz"))
    ref = Daemon("--workers", "1", "--model", "ct=" + FIXTURE_3D)
    st, _, doc = post(ref, vol)
    reference = gzip.decompress(base64.b64decode(wait_done([ref], doc["id"])["result"]["labels"]["base64"]))
    ref.stop()

    redis = Redis()
    extra = ("--job-ttl", str(args.ttl))
    steady = replica(redis, *extra)
    victim = [replica(redis, *extra)]
    # a first round, expired, sets the baseline: Redis' memory then (scripts cached, the
    # streams and groups made, its allocator warm) is what "flat" is measured against
    for _ in range(6):
        wait_done([steady], post(steady, vol)[2]["id"])
    time.sleep(args.ttl + 3)
    get(steady, "/v1/jobs")
    baseline_memory = redis.used_memory()
    lock = threading.Lock()
    problems, outcomes, posted = [], {}, [0]

    def replicas():
        with lock:
            return [steady, victim[0]]

    def client(n):
        rng = random.Random(n)
        while True:
            with lock:
                if posted[0] >= args.jobs:
                    return
                posted[0] += 1
            d = rng.choice(replicas())
            try:
                st, _, doc = post(d, vol)
            except Exception:
                st, doc = 0, None
            while st in (0, 503) and time.time() - started < args.timeout:  # being killed, or the cluster is full
                time.sleep(0.5)
                st, _, doc = post(steady, vol)
            if st != 202:
                problems.append("post refused: %s %s" % (st, doc))
                continue
            seen, labels = [], None
            while time.time() - started < args.timeout:
                try:
                    s, _, cur = get(rng.choice(replicas()), "/v1/jobs/" + doc["id"])
                except Exception:
                    continue
                if s == 404:
                    problems.append("job %s: 404 after %s" % (doc["id"], seen))
                    break
                if s != 200:
                    continue
                if not seen or seen[-1] != cur["state"]:
                    seen.append(cur["state"])
                if cur["state"] in ("done", "failed", "cancelled"):
                    if cur["state"] == "done":
                        labels = gzip.decompress(base64.b64decode(cur["result"]["labels"]["base64"]))
                    # look again: a finished job stays as it is
                    again = get(steady, "/v1/jobs/" + doc["id"])[2]
                    if again["state"] != cur["state"]:
                        problems.append("job %s changed after it ended: %s" % (doc["id"], again["state"]))
                    break
                time.sleep(0.1)
            outcomes[doc["id"]] = (seen, labels)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    time.sleep(3)
    rss_early = rss_kb(steady.proc.pid)
    for round_ in range(2):  # kill the second replica mid-run, and bring it back
        time.sleep(4)
        with lock:
            v = victim[0]
        v.proc.send_signal(signal.SIGKILL)
        v.proc.wait(10)
        time.sleep(2)
        with lock:
            victim[0] = replica(redis, *extra)
        print("soak-cluster: killed and restarted a replica (%d)" % (round_ + 1), file=sys.stderr)
    for t in threads:
        t.join(max(1, args.timeout - (time.time() - started)))
    rss_end = rss_kb(steady.proc.pid)

    done = [j for j, (seen, labels) in outcomes.items() if seen and seen[-1] == "done"]
    for j, (seen, labels) in outcomes.items():
        if not seen or seen[-1] != "done":
            problems.append("job %s ended %s" % (j, seen))
        elif seen.count("done") != 1:
            problems.append("job %s was done more than once: %s" % (j, seen))
        elif labels != reference:
            problems.append("job %s: labels differ from a lone daemon's" % j)
    takeovers = sum(int(line.split()[-1]) for d in replicas() for line in
                    __import__("cluster").curl(d, "/metrics")[2].decode().splitlines()
                    if line.startswith("lgmsd_job_takeovers_total"))
    time.sleep(args.ttl + 3)  # the results expire
    for d in replicas():
        get(d, "/v1/jobs")  # lists drop expired entries
    redis_after = redis.used_memory()
    leftover = redis.cli("KEYS", "lgmsd:*").split()
    for d in replicas():
        d.proc.send_signal(signal.SIGTERM)
        d.proc.wait(60)
    redis.close()
    growth = (rss_end - rss_early) / max(rss_early, 1)
    print("soak-cluster: %d jobs by %d clients in %.0f s, %d done exactly once, %d taken over after a SIGKILL; "
          "steady replica RSS %.1f -> %.1f MB (%+.1f%%); Redis memory %.0f -> %.0f KB after the results expired; "
          "keys left: %s" % (len(outcomes), args.clients, time.time() - started, len(done), takeovers, rss_early / 1024,
                             rss_end / 1024, growth * 100, baseline_memory / 1024, redis_after / 1024,
                             " ".join(sorted(leftover)) or "none"), file=sys.stderr)
    if len(outcomes) != args.jobs:
        problems.append("%d of %d jobs were posted" % (len(outcomes), args.jobs))
    if growth > 0.10:
        problems.append("the steady replica's RSS grew %.1f%%" % (growth * 100))
    if redis_after > baseline_memory * 1.1 + 64 * 1024:
        problems.append("Redis holds %d bytes after the results expired (%d before)" % (redis_after, baseline_memory))
    stray = [k for k in leftover if not k.startswith("lgmsd:queue:") and k != "lgmsd:stats"]
    if stray:
        problems.append("keys left after every job ended and expired: %s" % stray)
    for p in problems:
        print("soak-cluster: FAILED: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
