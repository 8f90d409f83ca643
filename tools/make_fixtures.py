#!/usr/bin/python3
"""Generate the engine parity fixtures under tests/fixtures/ (make fixtures).

Each case: a model with random weights AND random BatchNorm running statistics (so a
folding mistake shows), converted to .lgms, a random input, and the port's output
computed in float64 (the reference the C engine must match to 1e-4).

  official-1class.lgms  official dims, 1 class: inputs 1x3x256x256 and 1x3x160x224
  small-3class.lgms     dims 8/16/32/64/64, depths 2/1/1, 3 classes: input 2x3x64x96
  small3d-14class.lgms  LGMSNet-3D, dims 8/16/32/64/64, 14 classes, fp16 storage (the
                        reference uses the same rounded weights): input 1x1x32x64x64
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
    (
        "small3d-14class",
        dict(in_channels=1, num_classes=14, dims=[8, 16, 32, 64, 64], splits=[[48, 16], [48, 16], [48, 16], [24, 8]],
             spatial_dims=3),
        3,
        [("d32", (1, 1, 32, 64, 64))],
    ),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures"))
    ap.add_argument("--only", help="regenerate this model's fixtures only")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, hp, seed, inputs in CASES:
        if args.only and name != args.only:
            continue
        three_d = hp.get("spatial_dims") == 3
        model = lgmsnet.randomize_(lgmsnet.LGMSNet(**hp), seed=seed).eval()
        if three_d:  # stored as fp16: the reference runs on the same rounded weights
            with torch.no_grad():
                # InstanceNorm keeps every stage at unit scale, so random heads give logits of +-15, where
                # float32 itself (PyTorch's too) errs by ~1.5e-4; a quarter-scale head keeps them near +-4
                model.Conv_1x1.weight.mul_(0.25)
                for t in model.state_dict().values():
                    if t.is_floating_point():
                        t.copy_(t.half().float())
        ckpt = os.path.join(args.out, name + ".pth")
        torch.save(model.state_dict(), ckpt)
        classes = "lesion" if model.hparams["num_classes"] == 1 else ",".join(
            "class%d" % i for i in range(1, model.hparams["num_classes"])
        )
        extra = ["--arch", "3d", "--fp16"] if three_d else ["--preset", "busi"]
        rc = convert.main([ckpt, "-o", os.path.join(args.out, name + ".lgms"), *extra, "--classes", classes,
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
