#!/usr/bin/python3
"""Generate the engine parity fixtures under tests/fixtures/ (make fixtures).

Each case: a model with random weights AND random BatchNorm running statistics (so a
folding mistake shows), converted to .lgms, a random input, and the port's output
computed in float64 (the reference the C engine must match to 1e-4).

  official-1class.lgms  official dims, 1 class: inputs 1x3x256x256 and 1x3x160x224
  small-3class.lgms     dims 8/16/32/64/64, depths 2/1/1, 3 classes: input 2x3x64x96
"""

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert  # noqa: E402
import lgmsnet  # noqa: E402

CASES = [
    # model name, hyper-parameters, seed, [(case name, input shape)]
    ("official-1class", dict(), 1, [("s256", (1, 3, 256, 256)), ("s160x224", (1, 3, 160, 224))]),
    (
        "small-3class",
        dict(num_classes=3, dims=[8, 16, 32, 64, 64], splits=[[48, 16], [48, 16], [48, 16], [24, 8]], depths=[2, 1, 1]),
        2,
        [("b2", (2, 3, 64, 96))],
    ),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, hp, seed, inputs in CASES:
        model = lgmsnet.randomize_(lgmsnet.LGMSNet(**hp), seed=seed).eval()
        ckpt = os.path.join(args.out, name + ".pth")
        torch.save(model.state_dict(), ckpt)
        classes = "lesion" if model.hparams["num_classes"] == 1 else ",".join(
            "class%d" % i for i in range(1, model.hparams["num_classes"])
        )
        rc = convert.main([ckpt, "-o", os.path.join(args.out, name + ".lgms"), "--preset", "busi", "--classes", classes,
                           "--name", name, "--source", "tools/make_fixtures.py seed %d" % seed])
        os.remove(ckpt)
        if rc:
            sys.exit(rc)
        ref = model.double()
        for case, shape in inputs:
            g = torch.Generator().manual_seed(seed * 100 + len(case))
            x = torch.randn(shape, generator=g)
            with torch.no_grad():
                y = ref(x.double()).float()
            np.save(os.path.join(args.out, "%s-%s-in.npy" % (name, case)), x.numpy().astype(np.float32))
            np.save(os.path.join(args.out, "%s-%s-out.npy" % (name, case)), y.numpy().astype(np.float32))
            print("%s %s: output range [%.3f, %.3f]" % (name, case, float(y.min()), float(y.max())), file=sys.stderr)
        model.float()


if __name__ == "__main__":
    main()
