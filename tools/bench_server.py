#!/usr/bin/python3
"""make bench (second part): what the HTTP server adds on top of the engine.

1. Throughput mode (workers = CPUs, 1 engine thread each): the daemon's throughput over
   loopback (closed loop, 2 clients per worker, PNG uploads of a 256x256 phantom) against
   the engine alone on the same image (one `lgmsd tensor` process per worker, side by side),
   in three alternating rounds so that drift in the host's speed hits both alike.
2. Latency mode (1 worker, engine threads = CPUs): one client's latency against the engine
   alone at the same thread count.
3. Request stages at 512x512: decode, preprocess, postprocess and encode (PNG + base64 +
   JSON) from the reply's timings_ms, as a share of inference.
"""

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import load  # noqa: E402
import phantom  # noqa: E402


def start(lgmsd, *args):
    port = load.free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([lgmsd, "serve", "--port", str(port), "--log-level", "warn", "--queue", "64", *args],
                            stdout=log, stderr=log)
    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    log.seek(0)
    raise SystemExit("lgmsd did not become ready:\n" + log.read().decode(errors="replace"))


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    return proc.wait(120)


def engine_ms(lgmsd, tensor, threads, repeat, copies):
    """Median latency (ms) of each of `copies` concurrent `lgmsd tensor` processes."""
    procs = [subprocess.Popen([lgmsd, "tensor", "--input", tensor, "--output", os.devnull, "--threads", str(threads),
                               "--repeat", str(repeat)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(copies)]
    out = []
    for p in procs:
        _, err = p.communicate()
        m = re.search(r"median ([0-9.]+) ms", err)
        if p.returncode or not m:
            raise SystemExit("lgmsd tensor failed: " + err)
        out.append(float(m.group(1)))
    return out


def preprocessed(lgmsd, png_path, folder):
    """The 1x3x256x256 tensor the daemon feeds the network for this image."""
    path = os.path.join(folder, "in.npy")
    r = subprocess.run([lgmsd, "preprocess", "--output", path, png_path], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit("lgmsd preprocess failed: " + r.stderr)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lgmsd", default=os.path.join(ROOT, "build", "lgmsd"))
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--stages-only", action="store_true", help="only the 512x512 stage timings")
    args = ap.parse_args()
    cpus = args.cpus
    if args.stages_only:
        big, _ = phantom.make_phantom(4242, 1, 512, 512)
        big_body = cv2.imencode(".png", big)[1].tobytes()
        for mode, workers, threads in (("latency", 1, cpus), ("throughput", cpus, 1)):
            stages_512(args.lgmsd, big_body, mode, workers, threads)
        return
    with tempfile.TemporaryDirectory() as tmp:
        img, _ = phantom.make_phantom(4242, 0, 256, 256)
        body = cv2.imencode(".png", img)[1].tobytes()
        png = os.path.join(tmp, "p.png")
        with open(png, "wb") as f:
            f.write(body)
        tensor = preprocessed(args.lgmsd, png, tmp)

        # 1. throughput mode, in alternating rounds (the host's speed drifts within a minute)
        proc, port = start(args.lgmsd, "--workers", str(cpus), "--engine-threads", "1")
        rounds, daemon_n, daemon_s, engine_rps = 3, 0, 0.0, []
        try:
            load.closed_loop(port, body, 2 * cpus, 3)  # warm the connections and caches
            for _ in range(rounds):
                res, secs = load.closed_loop(port, body, 2 * cpus, args.seconds / rounds)
                daemon_n += sum(1 for st, _ in res if st == 200)
                daemon_s += secs
                per = engine_ms(args.lgmsd, tensor, 1, max(5, int(args.seconds * 1000 / 300 / rounds)), cpus)
                engine_rps.append(sum(1e3 / ms for ms in per))
        finally:
            stop(proc)
        daemon_rps, engine = daemon_n / daemon_s, float(np.mean(engine_rps))
        print("throughput mode (%d workers x 1 engine thread), %d alternating rounds: daemon %.2f req/s over loopback, "
              "engine alone %.2f inferences/s -> %.3f of the engine" % (cpus, rounds, daemon_rps, engine,
                                                                       daemon_rps / engine))

        # 2. latency mode
        proc, port = start(args.lgmsd, "--workers", "1", "--engine-threads", str(cpus))
        try:
            load.closed_loop(port, body, 1, 2)
            res, secs = load.closed_loop(port, body, 1, args.seconds / 2)
        finally:
            stop(proc)
        lat = 1e3 * float(np.median([t for st, t in res if st == 200]))
        eng = engine_ms(args.lgmsd, tensor, cpus, 20, 1)[0]
        print("latency mode (1 worker x %d engine threads): daemon p50 %.1f ms per request, engine alone %.1f ms "
              "-> the server adds %.1f ms" % (cpus, lat, eng, lat - eng))

        # 3. stages at 512x512 (default outputs: mask and overlay PNGs, base64, JSON), in both modes
        big, _ = phantom.make_phantom(4242, 1, 512, 512)
        big_body = cv2.imencode(".png", big)[1].tobytes()
        for mode, workers, threads in (("latency", 1, cpus), ("throughput", cpus, 1)):
            stages_512(args.lgmsd, big_body, mode, workers, threads)


def stages_512(lgmsd, body, mode, workers, threads):
    """Median stage times of 15 sequential 512x512 requests, as a share of inference."""
    proc, port = start(lgmsd, "--workers", str(workers), "--engine-threads", str(threads))
    stages = {k: [] for k in ("decode", "preprocess", "inference", "postprocess", "encode")}
    try:
        for _ in range(15):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.request("POST", "/v1/segment", body=body, headers={"Content-Type": "image/png"})
            r = c.getresponse()
            reply = json.loads(r.read())
            c.close()
            for k in stages:
                stages[k].append(reply["timings_ms"][k])
    finally:
        stop(proc)
    med = {k: float(np.median(v)) for k, v in stages.items()}
    rest = med["decode"] + med["preprocess"] + med["postprocess"] + med["encode"]
    print("512x512 request stages, %s mode (%d worker(s) x %d engine thread(s)), median ms: %s" %
          (mode, workers, threads, ", ".join("%s %.2f" % kv for kv in med.items())))
    print("  decode + preprocess + postprocess + encode = %.2f ms = %.1f%% of inference" %
          (rest, 100 * rest / med["inference"]))

if __name__ == "__main__":
    main()
