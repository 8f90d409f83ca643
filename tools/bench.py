#!/usr/bin/python3
"""make bench: lgmsd's engine against PyTorch (Debian's python3-torch) on the same model
file, the same input and the same thread counts, side by side in one run.

Each runner is its own process so peak RSS is its own. The three runners take turns in
several rounds (lgmsd, PyTorch, ONNX Runtime, then again), so that the host's drift in speed,
which is 15-25% over minutes on these shared machines, falls on all of them alike; each
reported latency is the median of the rounds' medians, with every round's figure printed.
Reported: latencies, the ratios, achieved GFLOP/s (FLOPs of convolutions, linears and
attention matmuls, ~10.0 GFLOP at 256x256) and the engine's per-op-class breakdown.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import convert  # noqa: E402

PEAK_PER_CORE = 99.2  # GFLOP/s: 32 FP32 FLOP per cycle (AVX2 + FMA) at 3.1 GHz

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


def bench_lgmsd(lgmsd, model, inp, threads, repeat):
    cmd = [lgmsd, "tensor", "--model", model, "--input", inp, "--threads", str(threads), "--repeat", str(repeat), "--profile"]
    _, err, rss = run_measured(cmd)
    m = re.search(r"median ([\d.]+) ms .*?([\d.]+) GFLOP/s", err)
    prof = [ln.strip() for ln in err.splitlines() if ln.startswith("  ")]
    return float(m.group(1)), float(m.group(2)), rss, prof


def bench_torch(model, inp, threads, repeat, warmup=3):
    code = TORCH_RUNNER % dict(tools=HERE, threads=threads, model=model, input=inp, repeat=repeat, warmup=warmup)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out, _, rss = run_measured(["/usr/bin/python3", "-c", code], env=env)
    return float(re.search(r"median_ms ([\d.]+)", out).group(1)), rss


def bench_ort(onnx, inp_f32, shape, threads, repeat, ort_dir):
    env = dict(os.environ, ORT_NODE_MODULES=os.path.join(ort_dir, "node_modules"))
    cmd = ["node", os.path.join(HERE, "bench_ort.js"), onnx, inp_f32, *map(str, shape), str(threads), str(repeat)]
    out, _, rss = run_measured(cmd, env=env)
    return float(re.search(r"median_ms ([\d.]+)", out).group(1)), rss


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
    ap.add_argument("--rounds", type=int, default=3, help="turns each runner takes, alternating")
    ap.add_argument("--repeat", type=int, default=8, help="timed lgmsd and ORT runs per round")
    ap.add_argument("--torch-repeat", type=int, default=4, help="timed PyTorch runs per round")
    ap.add_argument("--ort-dir", default=os.path.join(ROOT, "build", "ort"), help="where onnxruntime-node is installed")
    ap.add_argument("--no-ort", action="store_true", help="skip the ONNX Runtime peer")
    ap.add_argument("--patch3d", type=int, default=96, help="side of the LGMSNet-3D patch to time (0: skip)")
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
        print("model %s, input 1x%sx%dx%d, CPU: %s" % (os.path.basename(args.model), meta["in_channels"], h, w, cpu_name()))
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
        print("\nFP32 peak assumed: %.0f GFLOP/s per core = 32 FLOP/cycle (2 FMA pipes x 8 lanes x 2) x %.1f GHz;"
              % (PEAK_PER_CORE, PEAK_PER_CORE / 32), "an FMA loop measures ~100 GFLOP/s per core on these Zen 3 machines.")
        for t, (gf, _) in effs.items():
            print("  %d thread(s): %.1f GFLOP/s = %.0f%% of %.0f GFLOP/s" % (t, gf, 100 * gf / (PEAK_PER_CORE * t), PEAK_PER_CORE * t))
        for t, prof in profiles.items():
            print("\nlgmsd per op class, %d thread(s), last run:" % t)
            for line in prof:
                print("  " + line)
        if args.patch3d:
            bench_3d(args, d)


BUILD_3D = r"""
import sys, numpy as np, torch
sys.path.insert(0, %(tools)r)
import convert, lgmsnet
m = lgmsnet.randomize_(lgmsnet.LGMSNet(**lgmsnet.DEFAULT_3D, spatial_dims=3), seed=1)
torch.save(m.state_dict(), %(ckpt)r)
assert convert.main([%(ckpt)r, "-o", %(model)r, "--arch", "3d"]) == 0
np.save(%(input)r, np.random.default_rng(0).standard_normal((1, 1, %(s)d, %(s)d, %(s)d)).astype(np.float32))
"""


def bench_3d(args, d):
    """One LGMSNet-3D patch (official dims, random weights) with lgmsd and PyTorch."""
    s = args.patch3d
    model, inp, ckpt = os.path.join(d, "m3d.lgms"), os.path.join(d, "in3d.npy"), os.path.join(d, "m3d.pth")
    run_measured(["/usr/bin/python3", "-c", BUILD_3D % dict(tools=HERE, ckpt=ckpt, model=model, input=inp, s=s)])
    print("\nLGMSNet-3D (official dims, 14 classes), one 1x1x%dx%dx%d patch:" % (s, s, s))
    print("%-8s %10s %11s %9s %9s %10s %10s" % ("threads", "lgmsd ms", "PyTorch ms", "lg/PT", "GFLOP/s", "lgmsd RSS",
                                               "torch RSS"))
    profiles = {}
    for t in [int(v) for v in args.threads.split(",")]:
        ms, gflops, rss, prof = bench_lgmsd(args.lgmsd, model, inp, t, 3)
        tms, trss = bench_torch(model, inp, t, 2, warmup=1)
        profiles[t] = prof
        print("%-8d %10.0f %11.0f %9.3f %9.1f %6.0f MiB %6.0f MiB" % (t, ms, tms, ms / tms, gflops, rss, trss))
    for t, prof in profiles.items():
        print("\nlgmsd 3-D per op class, %d thread(s), last run:" % t)
        for line in prof:
            print("  " + line)


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
