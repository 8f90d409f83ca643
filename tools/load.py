#!/usr/bin/python3
"""make load / make soak: drive a local lgmsd with segmentation requests (loopback only,
bounded in time) and check how it behaves at and beyond its capacity.

1. capacity: closed loop with as many clients as workers; throughput = sustainable rate.
2. overload: open loop at 4x that rate; only 200 and 503 may come back; p50/p99 latency
   of the accepted (200) requests and the throughput are reported.
3. soak (--soak-seconds > 0): open loop at 0.8x the sustainable rate; the daemon's RSS is
   sampled and its growth after warm-up must stay under 5%.
4. floods (--floods, on in make load): 1500 idle connections, then 1500 clients trickling
   their headers a byte at a time, each while /healthz is probed on fresh connections (its
   p99 must stay under 1 s); then 64 uploads stalled near max_body_bytes with a body_budget
   of 256 MiB (the daemon's RSS must stay within that budget of its baseline).
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


def probe_healthz(port, count=60, gap=0.05):
    """Latencies (s) of /healthz on fresh connections; a failure counts as 30 s."""
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", "/healthz")
            ok = c.getresponse().status == 200
            c.close()
            out.append(time.perf_counter() - t0 if ok else 30.0)
        except OSError:
            out.append(30.0)
        time.sleep(gap)
    return out


def pct99(values):
    return float(np.percentile(values, 99)) if values else 0.0


def flood(port, n, trickle, seconds):
    """n connections held open for `seconds`: idle, or sending a header a byte at a time
    (one byte per connection per 0.5 s); /healthz probed meanwhile. Returns the probe times."""
    socks, stop = [], threading.Event()
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            break
    header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000

    def trickler():
        i = 0
        while not stop.is_set():
            for s in socks:
                try:
                    s.send(header[i % len(header):i % len(header) + 1])
                except OSError:
                    pass
            i += 1
            stop.wait(0.5)

    t = threading.Thread(target=trickler) if trickle else None
    if t:
        t.start()
    time.sleep(1)
    probes = probe_healthz(port, count=int(seconds / 0.1))
    stop.set()
    if t:
        t.join()
    for s in socks:
        s.close()
    return probes, len(socks)


def stalled_uploads(port, pid, n, size):
    """n uploads declaring `size` bytes that send all but the last MiB and stall. Returns the
    daemon's RSS (kB) before and at the peak, and how many were answered 503 meanwhile."""
    before = rss_kb(pid)
    socks, peak = [], before
    chunk = b"\0" * (1 << 20)
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"POST /v1/segment HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n" % size)
        socks.append(s)
    for s in socks:
        try:
            for _ in range(size // len(chunk) - 1):
                s.sendall(chunk)
        except OSError:
            pass
        peak = max(peak, rss_kb(pid))
    time.sleep(1)
    peak = max(peak, rss_kb(pid))
    refused = 0
    for s in socks:  # finish each body: the ones over the budget are answered 503
        try:
            s.sendall(chunk)
            s.settimeout(60)
            refused += b" 503 " in s.recv(200)
        except OSError:
            pass
        s.close()
    return before, peak, refused


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
    ap.add_argument("--floods", action="store_true", help="also the connection floods and stalled uploads")
    args = ap.parse_args()

    port = free_port()
    log = tempfile.TemporaryFile()
    budget = 256 << 20  # a quarter of the 1 GiB the Kubernetes manifests give a pod
    proc = subprocess.Popen([args.lgmsd, "serve", "--port", str(port), "--workers", str(args.workers),
                             "--queue", str(args.queue), "--log-level", "warn", "--body-budget", str(budget)],
                            stdout=log, stderr=log)
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
        if args.floods:
            for name, trickle in (("idle", False), ("slowloris", True)):
                probes, held = flood(port, 1500, trickle, 15)
                print("flood %s: %d connections held; /healthz on a fresh connection: p50 %.0f ms, p99 %.0f ms, "
                      "max %.0f ms over %d probes" % (name, held, 1e3 * float(np.median(probes)), 1e3 * pct99(probes),
                                                     1e3 * max(probes), len(probes)))
                if pct99(probes) >= 1.0:
                    failures.append("/healthz p99 %.0f ms under the %s flood" % (1e3 * pct99(probes), name))
            before, peak, refused = stalled_uploads(port, proc.pid, 64, 64 << 20)
            print("stalled uploads: 64 x 63 MiB of 64 MiB declared; RSS %.0f -> %.0f MB at the peak (body_budget "
                  "%d MiB); %d answered 503" % (before / 1024, peak / 1024, budget >> 20, refused))
            if (peak - before) * 1024 > budget + (96 << 20):
                failures.append("RSS grew %.0f MB under stalled uploads, past the %d MiB budget"
                                % ((peak - before) / 1024, budget >> 20))
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
