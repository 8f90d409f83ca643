#!/usr/bin/python3
"""make bench: lgmsd's engine against PyTorch (Debian's python3-torch) on the same model
file, the same input and the same thread counts, side by side in one run.

Each runner is its own process so peak RSS is its own. The three runners take turns in
several rounds (lgmsd, PyTorch, ONNX Runtime, then again), so that the host's drift in speed,
which is 15-25% over minutes on these shared machines, falls on all of them alike; each
reported latency is the median of the rounds' medians, with every round's figure printed.
Reported: latencies, the ratios, achieved GFLOP/s (FLOPs of convolutions, linears and
attention matmuls, ~10.0 GFLOP at 256x256) against this CPU's FMA peak as measured by
tools/fma_peak.c, the engine's per-op-class breakdown, the largest difference between the
ONNX export's output and lgmsd's (so the peer computes the same network), the same for
one LGMSNet-3D patch, and cold start: process start to first inference done (load, filter
packing and first run split out) and daemon start to /readyz 200.
"""

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import convert  # noqa: E402


TORCH_RUNNER = r"""
import sys, time, numpy as np, torch
sys.path.insert(0, %(tools)r)
import convert
torch.set_num_threads(%(threads)d)
m = convert.load_port(%(model)r)
x = torch.from_numpy(np.load(%(input)r))
times = []
with torch.no_grad():
    for i in range(%(warmup)d + %(repeat)d):
        t0 = time.perf_counter()
        m(x)
        if i >= %(warmup)d:
            times.append(time.perf_counter() - t0)
print("median_ms %%.3f" %% (1e3 * float(np.median(times))))
"""


EXPORT_RUNNER = r"""
import sys, numpy as np, torch
sys.path.insert(0, %(tools)r)
import convert
m = convert.load_port(%(model)r)
x = torch.from_numpy(np.load(%(input)r))
torch.onnx.export(m, x, %(onnx)r, opset_version=13, input_names=["input"], output_names=["logits"])
"""


def run_measured(cmd, env=None):
    """(stdout, stderr, peak RSS in MiB) of a child process. The peak comes from GNU time:
    wait4's ru_maxrss would include the Python parent's memory inherited at fork."""
    p = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", *cmd], capture_output=True, text=True, env=env)
    m = re.search(r"maxrss_kb=(\d+)\s*$", p.stderr)
    if p.returncode != 0 or not m:
        raise RuntimeError("%s failed:\n%s%s" % (cmd[0], p.stdout, p.stderr))
    return p.stdout, p.stderr[: m.start()], int(m.group(1)) / 1024.0


def bench_lgmsd(lgmsd, model, inp, threads, repeat, out=None):
    cmd = [lgmsd, "tensor", "--model", model, "--input", inp, "--threads", str(threads), "--repeat", str(repeat), "--profile"]
    if out:
        cmd += ["--output", out]
    _, err, rss = run_measured(cmd)
    m = re.search(r"median ([\d.]+) ms .*?([\d.]+) GFLOP/s", err)
    prof = [ln.strip() for ln in err.splitlines() if ln.startswith("  ")]
    return float(m.group(1)), float(m.group(2)), rss, prof


def bench_torch(model, inp, threads, repeat, warmup=3):
    code = TORCH_RUNNER % dict(tools=HERE, threads=threads, model=model, input=inp, repeat=repeat, warmup=warmup)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out, _, rss = run_measured(["/usr/bin/python3", "-c", code], env=env)
    return float(re.search(r"median_ms ([\d.]+)", out).group(1)), rss


def bench_ort(onnx, inp_f32, shape, threads, repeat, ort_dir, warmup=3, out=None):
    env = dict(os.environ, ORT_NODE_MODULES=os.path.join(ort_dir, "node_modules"))
    cmd = ["node", os.path.join(HERE, "bench_ort.js"), onnx, inp_f32, "x".join(map(str, shape)), str(threads), str(repeat),
           str(warmup)] + ([out] if out else [])
    text, _, rss = run_measured(cmd, env=env)
    return float(re.search(r"median_ms ([\d.]+)", text).group(1)), rss


def ort_matches(lgmsd_npy, ort_f32):
    """Text: the largest |difference| between lgmsd's logits and ONNX Runtime's on the same
    input, and the largest |logit| for scale."""
    a = np.load(lgmsd_npy).astype(np.float64).ravel()
    b = np.fromfile(ort_f32, dtype=np.float32).astype(np.float64)
    if a.size != b.size:
        return "outputs of different sizes (%d, %d)" % (a.size, b.size)
    return "%.2e (largest |logit| %.2f)" % (float(np.max(np.abs(a - b))), float(np.max(np.abs(a))))


def fma_peak(path):
    """{"avx2": GFLOP/s, "avx512": GFLOP/s} of one core, measured (tools/fma_peak.c)."""
    if not path or not os.path.exists(path):
        return {}
    out = subprocess.run([path], capture_output=True, text=True, check=True).stdout
    return {k: float(v) for k, v in (ln.split() for ln in out.splitlines())}


def ensure_ort(ort_dir):
    """onnxruntime-node@1.30.0 from npm (CPU binaries ship in the package); None if unavailable."""
    if os.path.exists(os.path.join(ort_dir, "node_modules", "onnxruntime-node")):
        return ort_dir
    os.makedirs(ort_dir, exist_ok=True)
    env = dict(os.environ, ONNXRUNTIME_NODE_INSTALL="skip")  # no GPU provider download
    r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "onnxruntime-node@1.30.0"], cwd=ort_dir, env=env,
                       capture_output=True, text=True)
    if r.returncode:
        print("ONNX Runtime unavailable (npm install failed): %s" % r.stderr.strip()[-300:])
        return None
    return ort_dir


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lgmsd", default=os.path.join(ROOT, "build", "lgmsd"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "lgmsnet-phantom.lgms"))
    ap.add_argument("--size", default="256x256", help="WxH (multiples of 32)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=5, help="turns each runner takes, alternating")
    ap.add_argument("--repeat", type=int, default=9, help="timed lgmsd and ORT runs per round")
    ap.add_argument("--torch-repeat", type=int, default=4, help="timed PyTorch runs per round")
    ap.add_argument("--ort-dir", default=os.path.join(ROOT, "build", "ort"), help="where onnxruntime-node is installed")
    ap.add_argument("--no-ort", action="store_true", help="skip the ONNX Runtime peer")
    ap.add_argument("--patch3d", type=int, default=96, help="side of the LGMSNet-3D patch to time (0: skip)")
    ap.add_argument("--rounds3d", type=int, default=2, help="turns lgmsd and ORT each take on the 3-D patch")
    ap.add_argument("--fma-peak", help="the fma-peak program (make bench builds it)")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-start and /readyz measures")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    meta, _ = convert.read_model(args.model)
    with tempfile.TemporaryDirectory() as d:
        inp = os.path.join(d, "in.npy")
        shape = (1, int(meta["in_channels"]), h, w)
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        np.save(inp, x)
        ort_dir = None if args.no_ort else ensure_ort(args.ort_dir)
        onnx, raw = os.path.join(d, "model.onnx"), os.path.join(d, "in.f32")
        if ort_dir:
            x.tofile(raw)
            run_measured(["/usr/bin/python3", "-c", EXPORT_RUNNER % dict(tools=HERE, model=args.model, input=inp, onnx=onnx)])
        peak = fma_peak(args.fma_peak)
        print("model %s, input 1x%sx%dx%d, CPU: %s" % (os.path.basename(args.model), meta["in_channels"], h, w, cpu_name()))
        if ort_dir:
            lo, oo = os.path.join(d, "lg.npy"), os.path.join(d, "ort.f32")
            bench_lgmsd(args.lgmsd, args.model, inp, 1, 1, out=lo)
            bench_ort(onnx, raw, shape, 1, 1, ort_dir, warmup=0, out=oo)
            print("ONNX export vs lgmsd, same input: max |difference| of the logits %s" % ort_matches(lo, oo))
        print("%-8s %10s %11s %9s %11s %9s %9s %10s %10s %10s" % ("threads", "lgmsd ms", "PyTorch ms", "lg/PT", "ORT ms",
                                                              "lg/ORT", "GFLOP/s", "lgmsd RSS", "torch RSS", "ORT RSS"))
        profiles, effs = {}, {}
        rounds = {}
        for t in [int(v) for v in args.threads.split(",")]:
            lg, pt, ort, rss = [], [], [], [0.0, 0.0, 0.0]
            for _ in range(args.rounds):
                ms, gflops, r, prof = bench_lgmsd(args.lgmsd, args.model, inp, t, args.repeat)
                lg.append((ms, gflops))
                tms, trss = bench_torch(args.model, inp, t, args.torch_repeat)
                pt.append(tms)
                oms, orss = bench_ort(onnx, raw, shape, t, args.repeat, ort_dir) if ort_dir else (float("nan"), 0.0)
                ort.append(oms)
                rss = [max(rss[0], r), max(rss[1], trss), max(rss[2], orss)]
            ms, gflops = sorted(lg)[len(lg) // 2]
            tms, oms = float(np.median(pt)), float(np.median(ort))
            profiles[t] = prof
            effs[t] = (gflops, ms)
            rounds[t] = (lg, pt, ort)
            print("%-8d %10.1f %11.1f %9.3f %11.1f %9.3f %9.1f %6.0f MiB %6.0f MiB %6.0f MiB"
                  % (t, ms, tms, ms / tms, oms, ms / oms, gflops, rss[0], rss[1], rss[2] if ort_dir else float("nan")))
        print("\nper round (median ms of each turn):")
        for t, (lg, pt, ort) in rounds.items():
            print("  %d thread(s): lgmsd %s | PyTorch %s | ORT %s" % (t, " ".join("%.1f" % v for v, _ in lg),
                                                                    " ".join("%.1f" % v for v in pt),
                                                                    " ".join("%.1f" % v for v in ort)))
        if peak:
            print("\nFP32 FMA peak of one core, measured: AVX2 %.1f GFLOP/s%s." % (
                peak["avx2"], ", AVX-512 %.1f (ONNX Runtime's kernels use it where the CPU has it)" % peak["avx512"]
                if "avx512" in peak else ""))
            for t, (gf, _) in effs.items():
                print("  %d thread(s): lgmsd %.1f GFLOP/s = %.0f%% of %d x the AVX2 peak%s" % (
                    t, gf, 100 * gf / (peak["avx2"] * t), t,
                    ", %.0f%% of the AVX-512 one" % (100 * gf / (peak["avx512"] * t)) if "avx512" in peak else ""))
        s1, s2 = effs.get(1), effs.get(2)
        if s1 and s2:
            o1, o2 = (float(np.median(rounds[t][2])) for t in (1, 2))
            print("\n2-thread speedup: lgmsd %.2fx, ONNX Runtime %.2fx" % (s1[1] / s2[1], o1 / o2 if ort_dir else float("nan")))
        for t, prof in profiles.items():
            print("\nlgmsd per op class, %d thread(s), last run:" % t)
            for line in prof:
                print("  " + line)
        if args.patch3d:
            bench_3d(args, d, ort_dir)
        if not args.no_cold:
            cold_start(args, inp, onnx if ort_dir else None, raw, shape, ort_dir)


BUILD_3D = r"""
import sys, numpy as np, torch
sys.path.insert(0, %(tools)r)
import convert, lgmsnet
m = lgmsnet.randomize_(lgmsnet.LGMSNet(**lgmsnet.DEFAULT_3D, spatial_dims=3), seed=1)
torch.save(m.state_dict(), %(ckpt)r)
assert convert.main([%(ckpt)r, "-o", %(model)r, "--arch", "3d"]) == 0
np.save(%(input)r, np.random.default_rng(0).standard_normal((1, 1, %(s)d, %(s)d, %(s)d)).astype(np.float32))
"""


def bench_3d(args, d, ort_dir):
    """One LGMSNet-3D patch (official dims, random weights): lgmsd and ONNX Runtime in
    alternating rounds, PyTorch once per thread count (a run takes ~12 s)."""
    s = args.patch3d
    model, inp, ckpt = os.path.join(d, "m3d.lgms"), os.path.join(d, "in3d.npy"), os.path.join(d, "m3d.pth")
    run_measured(["/usr/bin/python3", "-c", BUILD_3D % dict(tools=HERE, ckpt=ckpt, model=model, input=inp, s=s)])
    shape = (1, 1, s, s, s)
    onnx, raw = os.path.join(d, "m3d.onnx"), os.path.join(d, "in3d.f32")
    if ort_dir:
        np.load(inp).tofile(raw)
        run_measured(["/usr/bin/python3", "-c", EXPORT_RUNNER % dict(tools=HERE, model=model, input=inp, onnx=onnx)])
    print("\nLGMSNet-3D (official dims, 14 classes), one 1x1x%dx%dx%d patch:" % (s, s, s))
    print("%-8s %10s %11s %9s %11s %9s %9s %10s %10s %10s" % ("threads", "lgmsd ms", "PyTorch ms", "lg/PT", "ORT ms", "lg/ORT",
                                                          "GFLOP/s", "lgmsd RSS", "torch RSS", "ORT RSS"))
    profiles, rounds, lo = {}, {}, os.path.join(d, "lg3d.npy")
    for t in [int(v) for v in args.threads.split(",")]:
        lg, ort, rss = [], [], [0.0, 0.0, 0.0]
        for r in range(args.rounds3d):
            ms, gflops, lrss, prof = bench_lgmsd(args.lgmsd, model, inp, t, 3, out=lo if r == 0 else None)
            lg.append((ms, gflops))
            if ort_dir:
                oo = os.path.join(d, "ort3d.f32") if r == 0 else None
                oms, orss = bench_ort(onnx, raw, shape, t, 3, ort_dir, warmup=1, out=oo)
                ort.append(oms)
                rss[2] = max(rss[2], orss)
            rss[0] = max(rss[0], lrss)
        tms, rss[1] = bench_torch(model, inp, t, 2, warmup=1)
        ms, gflops = sorted(lg)[len(lg) // 2]
        oms = float(np.median(ort)) if ort else float("nan")
        profiles[t], rounds[t] = prof, (lg, ort)
        print("%-8d %10.0f %11.0f %9.3f %11.0f %9.3f %9.1f %6.0f MiB %6.0f MiB %6.0f MiB" % (
            t, ms, tms, ms / tms, oms, ms / oms, gflops, rss[0], rss[1], rss[2]))
    if ort_dir:
        print("ONNX export vs lgmsd, same patch: max |difference| of the logits %s"
              % ort_matches(lo, os.path.join(d, "ort3d.f32")))
    for t, (lg, ort) in rounds.items():
        print("  %d thread(s) per round: lgmsd %s | ORT %s" % (t, " ".join("%.0f" % v for v, _ in lg),
                                                            " ".join("%.0f" % v for v in ort)))
    for t, prof in profiles.items():
        print("\nlgmsd 3-D per op class, %d thread(s), last run:" % t)
        for line in prof:
            print("  " + line)


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def cold_start(args, inp, onnx, raw, shape, ort_dir, runs=5):
    """Process start to first inference done at 1 thread (the median of runs, each a fresh
    process, wall time from spawn to exit) with the engine's own split; then the daemon's
    start to its first /readyz 200 with 1 and 2 workers."""
    print("\nCold start, shipped 2-D model, 1 thread (median of %d fresh processes):" % runs)
    walls, splits = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run([args.lgmsd, "tensor", "--model", args.model, "--input", inp, "--repeat", "1", "--verbose"],
                           capture_output=True, text=True, check=True)
        walls.append(1e3 * (time.perf_counter() - t0))
        m = re.search(r"load ([\d.]+) ms \(read and fold ([\d.]+), pack filters ([\d.]+)\), state ([\d.]+) ms, "
                      r"first run ([\d.]+) ms", p.stderr)
        splits.append([float(v) for v in m.groups()])
    sp = np.median(np.array(splits), axis=0)
    print("  lgmsd: start to exit %.0f ms (runs %s); load %.1f ms = read and fold %.1f + pack filters %.1f; "
          "state %.1f ms; first run %.1f ms" % (float(np.median(walls)), " ".join("%.0f" % v for v in walls), *sp))
    if onnx:
        env = dict(os.environ, ORT_NODE_MODULES=os.path.join(ort_dir, "node_modules"))
        loads, firsts = [], []
        for _ in range(3):
            out = subprocess.run(["node", os.path.join(HERE, "bench_ort.js"), onnx, raw, "x".join(map(str, shape)), "1",
                                  "1", "0"], capture_output=True, text=True, check=True, env=env).stdout
            m = re.search(r"load_ms ([\d.]+) first_ms ([\d.]+)", out)
            loads.append(float(m.group(1)))
            firsts.append(float(m.group(2)))
        print("  ONNX Runtime (inside node, after its own start): session %.1f ms, first run %.1f ms"
              % (float(np.median(loads)), float(np.median(firsts))))
    for workers in (1, 2):
        waits = []
        for _ in range(3):
            port = free_port()
            t0 = time.perf_counter()
            p = subprocess.Popen([args.lgmsd, "serve", "--port", str(port), "--model", "default=" + args.model,
                                  "--workers", str(workers), "--log-level", "warn"], stderr=subprocess.DEVNULL)
            try:
                while time.perf_counter() - t0 < 30:
                    try:
                        with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=1) as r:
                            if r.status == 200:
                                break
                    except OSError:
                        pass
                    time.sleep(0.002)
                waits.append(1e3 * (time.perf_counter() - t0))
            finally:
                p.terminate()
                p.wait()
        print("  daemon, %d worker(s): start to /readyz 200 in %s ms" % (workers, " / ".join("%.0f" % v for v in waits)))


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
