#!/usr/bin/python3
"""make bench: lgmsd's engine against PyTorch (Debian's python3-torch) on the same model
file, the same input and the same thread counts, side by side in one run.

Each runner is its own process so peak RSS is its own. Reported: median latency, the
ratio lgmsd/PyTorch, achieved GFLOP/s (FLOPs of convolutions, linears and attention
matmuls, ~10.0 GFLOP at 256x256) and the engine's per-op-class breakdown.
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

TORCH_RUNNER = r"""
import sys, time, numpy as np, torch
sys.path.insert(0, %(tools)r)
import convert, lgmsnet
torch.set_num_threads(%(threads)d)
meta, tensors = convert.read_model(%(model)r)
hp = dict(in_channels=int(meta["in_channels"]), num_classes=int(meta["num_classes"]),
          dims=[int(v) for v in meta["dims"].split(",")],
          splits=[[int(v) for v in s.split(",")] for s in meta["splits"].split(";")],
          depths=[int(v) for v in meta.get("depths", "1,1,1").split(",")])
m = lgmsnet.LGMSNet(**hp).eval()
sd = m.state_dict()
sd.update({k: torch.from_numpy(v.copy()) for k, v in tensors.items()})
m.load_state_dict(sd)
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


def run_measured(cmd, env=None):
    """(stdout, stderr, peak RSS in MiB) of a child process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        out.seek(0), err.seek(0)
        o, e = out.read().decode(), err.read().decode()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError("%s failed:\n%s%s" % (cmd[0], o, e))
        return o, e, usage.ru_maxrss / 1024.0


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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lgmsd", default=os.path.join(ROOT, "build", "lgmsd"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "lgmsnet-phantom.lgms"))
    ap.add_argument("--size", default="256x256", help="WxH (multiples of 32)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--torch-repeat", type=int, default=10)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    meta, _ = convert.read_model(args.model)
    with tempfile.TemporaryDirectory() as d:
        inp = os.path.join(d, "in.npy")
        np.save(inp, np.random.default_rng(0).standard_normal((1, int(meta["in_channels"]), h, w)).astype(np.float32))
        print("model %s, input 1x%sx%dx%d, CPU: %s" % (os.path.basename(args.model), meta["in_channels"], h, w, cpu_name()))
        print("%-8s %14s %14s %10s %10s %12s %12s" % ("threads", "lgmsd ms", "PyTorch ms", "ratio", "GFLOP/s", "lgmsd RSS", "torch RSS"))
        profiles = {}
        for t in [int(v) for v in args.threads.split(",")]:
            ms, gflops, rss, prof = bench_lgmsd(args.lgmsd, args.model, inp, t, args.repeat)
            tms, trss = bench_torch(args.model, inp, t, args.torch_repeat)
            profiles[t] = prof
            print("%-8d %14.1f %14.1f %10.3f %10.1f %10.0f MiB %9.0f MiB" % (t, ms, tms, ms / tms, gflops, rss, trss))
        for t, prof in profiles.items():
            print("\nlgmsd per op class, %d thread(s), last run:" % t)
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
