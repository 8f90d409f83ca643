#!/usr/bin/python3
"""make load / make soak: drive a local lgmsd with segmentation requests (loopback only,
bounded in time) and check how it behaves at and beyond its capacity.

1. capacity: closed loop with as many clients as workers; throughput = sustainable rate.
2. overload: open loop at 4x that rate; only 200 and 503 may come back; p50/p99 latency
   of the accepted (200) requests and the throughput are reported.
3. soak (--soak-seconds > 0): open loop at 0.8x the sustainable rate; the daemon's RSS is
   sampled and its growth after warm-up must stay under 5%.
Exits non-zero when a check fails.
"""

import argparse
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import phantom  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, body, timeout=120):
    """(status, seconds); status 0 when the connection failed."""
    t0 = time.perf_counter()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("POST", "/v1/segment?outputs=mask", body=body, headers={"Content-Type": "image/png"})
        r = c.getresponse()
        r.read()
        c.close()
        return r.status, time.perf_counter() - t0
    except OSError:
        return 0, time.perf_counter() - t0


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def closed_loop(port, body, clients, seconds):
    results, stop = [], time.time() + seconds
    lock = threading.Lock()

    def run():
        while time.time() < stop:
            r = post(port, body)
            with lock:
                results.append(r)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.time() - t0


def open_loop(port, body, rate, seconds, on_tick=None):
    """Requests started at a fixed rate whatever the replies (bounded: at most 256 in flight)."""
    results, lock, threads = [], threading.Lock(), []
    sem = threading.Semaphore(256)

    def one():
        try:
            r = post(port, body)
            with lock:
                results.append(r)
        finally:
            sem.release()

    t0 = time.time()
    n = int(rate * seconds)
    for i in range(n):
        delay = t0 + i / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        if on_tick:
            on_tick()
        sem.acquire()
        t = threading.Thread(target=one)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    return results, time.time() - t0


def summary(name, results, seconds):
    codes = {}
    for st, _ in results:
        codes[st] = codes.get(st, 0) + 1
    ok = sorted(t for st, t in results if st == 200)
    p50 = 1e3 * float(np.percentile(ok, 50)) if ok else float("nan")
    p99 = 1e3 * float(np.percentile(ok, 99)) if ok else float("nan")
    print("%-9s %5d requests in %5.1f s: %s; %.2f accepted/s; accepted latency p50 %.0f ms, p99 %.0f ms"
          % (name, len(results), seconds, ", ".join("%s x%d" % (k, v) for k, v in sorted(codes.items())),
             len(ok) / seconds, p50, p99))
    return codes, p50, p99


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lgmsd", default=os.path.join(ROOT, "build", "lgmsd"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--queue", type=int, default=8)
    ap.add_argument("--capacity-seconds", type=float, default=20)
    ap.add_argument("--overload-seconds", type=float, default=30)
    ap.add_argument("--soak-seconds", type=float, default=0)
    args = ap.parse_args()

    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([args.lgmsd, "serve", "--port", str(port), "--workers", str(args.workers),
                             "--queue", str(args.queue), "--log-level", "warn"], stdout=log, stderr=log)
    failures = []
    try:
        for _ in range(300):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        img, _ = phantom.make_phantom(4242, 0, 256, 256)
        import cv2

        body = cv2.imencode(".png", img)[1].tobytes()
        res, secs = closed_loop(port, body, args.workers, args.capacity_seconds)
        summary("capacity", res, secs)
        rate = sum(1 for st, _ in res if st == 200) / secs
        if rate <= 0:
            raise SystemExit("no request succeeded")
        print("sustainable rate %.2f req/s with %d workers; overload at 4x = %.2f req/s" % (rate, args.workers, 4 * rate))
        res, secs = open_loop(port, body, 4 * rate, args.overload_seconds)
        codes, p50, p99 = summary("overload", res, secs)
        if set(codes) - {200, 503}:
            failures.append("overload returned statuses other than 200/503: %s" % codes)
        # bounded: an accepted request waits at most for a full queue ahead of it and the jobs
        # running, then its own service time: (queue + 2 workers) / rate, with 50% margin
        bound = 1e3 * (args.queue + 2 * args.workers) / rate * 1.5
        if p99 > bound:
            failures.append("accepted p99 %.0f ms exceeds the bound %.0f ms" % (p99, bound))
        if args.soak_seconds > 0:
            samples = []
            last = [0.0]

            def sample():
                now = time.time()
                if now - last[0] >= 5:
                    last[0] = now
                    samples.append((now, rss_kb(proc.pid)))

            res, secs = open_loop(port, body, 0.8 * rate, args.soak_seconds, on_tick=sample)
            summary("soak", res, secs)
            start = samples[0][0]
            warm = [kb for t, kb in samples if t - start >= min(60, args.soak_seconds / 4)]
            if len(warm) >= 2:
                growth = (max(warm[len(warm) // 2:]) - warm[0]) / warm[0]
                print("soak RSS after warm-up: first %.1f MB, last %.1f MB, max %.1f MB, growth %.2f%%"
                      % (warm[0] / 1024, warm[-1] / 1024, max(warm) / 1024, 100 * growth))
                if growth >= 0.05:
                    failures.append("RSS grew %.1f%% during the soak" % (100 * growth))
            if set(c for c, _ in res) - {200, 503}:
                failures.append("soak returned statuses other than 200/503")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(120)
        if code != 0:
            failures.append("lgmsd exited %d" % code)
    for f in failures:
        print("FAIL: " + f)
    print("load: %s" % ("passed" if not failures else "FAILED"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
