#!/usr/bin/python3
"""Train the project's PyTorch LGMSNet port with the official 2D recipe.

Recipe (as upstream main.py): 256x256 input, random rot90 + horizontal/vertical flips,
BCE + Dice loss on logits, SGD (momentum 0.9, weight decay 1e-4), poly learning-rate
decay with power 0.9. Data: any folder in the official layout

    DATA/images/NAME.png   DATA/masks/NAME.png   [train/val split .txt files, one NAME a line]

e.g. the output of tools/phantom.py. Checkpoints are bare state_dicts (like upstream):
OUT/last.pth every epoch and OUT/best.pth at the best validation Dice. Convert with

    /usr/bin/python3 tools/convert.py OUT/best.pth -o model.lgms --preset busi
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lgmsnet  # noqa: E402
import preprocess  # noqa: E402


def list_names(data, split_file):
    if split_file:
        with open(split_file) as f:
            names = [ln.strip() for ln in f if ln.strip()]
        files = set(os.listdir(os.path.join(data, "images")))
        out = []
        for n in names:
            cand = [n] + [n + ext for ext in (".png", ".jpg", ".jpeg", ".bmp")]
            hit = next((c for c in cand if c in files), None)
            if hit is None:
                raise SystemExit("split file %s names %s, which is not in %s/images" % (split_file, n, data))
            out.append(hit)
        return out
    return sorted(f for f in os.listdir(os.path.join(data, "images")) if not f.startswith("."))


def load_pair(data, name, size, pre):
    img = preprocess.load_image(os.path.join(data, "images", name), pre)
    img = preprocess.resize_uint8(img, size, size, pre)
    mpath = os.path.join(data, "masks", name)
    if not os.path.exists(mpath):
        mpath = os.path.splitext(mpath)[0] + ".png"
    import cv2

    mask = cv2.imread(mpath, cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise SystemExit("cannot read mask %s" % mpath)
    mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
    return preprocess.normalise(img, pre), (mask > 127).astype(np.float32)[None]


def augment(x, y, rng, crop=0):
    if crop:
        top = int(rng.integers(0, x.shape[1] - crop + 1))
        left = int(rng.integers(0, x.shape[2] - crop + 1))
        x, y = x[:, top : top + crop, left : left + crop], y[:, top : top + crop, left : left + crop]
    k = int(rng.integers(0, 4))
    x, y = np.rot90(x, k, axes=(1, 2)), np.rot90(y, k, axes=(1, 2))
    if rng.random() < 0.5:
        x, y = x[:, :, ::-1], y[:, :, ::-1]
    if rng.random() < 0.5:
        x, y = x[:, ::-1, :], y[:, ::-1, :]
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def bce_dice_loss(logits, target):
    """0.5 * BCE + soft Dice loss, per image, as upstream BCEDiceLoss."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    smooth = 1e-5
    dice = (2 * (p * t).sum(1) + smooth) / (p.sum(1) + t.sum(1) + smooth)
    return 0.5 * bce + (1 - dice.mean())


def dice_of(logits, target):
    """Hard Dice per image (prediction = logit > 0); both empty counts as 1."""
    p = (logits > 0).float().flatten(1)
    t = target.flatten(1)
    inter = (p * t).sum(1)
    denom = p.sum(1) + t.sum(1)
    return torch.where(denom > 0, 2 * inter / denom.clamp(min=1), torch.ones_like(denom))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="dataset folder with images/ and masks/")
    ap.add_argument("--out", required=True, help="folder for checkpoints and the training log")
    ap.add_argument("--train-list", help="text file of training image names (default: all but --val-fraction)")
    ap.add_argument("--val-list", help="text file of validation image names")
    ap.add_argument("--val-data", help="separate validation folder (images/, masks/)")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--preset", default="busi", choices=sorted(preprocess.PRESETS))
    ap.add_argument("--size", type=int, default=256, help="training input size (multiple of 32; default 256)")
    ap.add_argument("--crop", type=int, default=0, help="train on random CROPxCROP crops of the resized image (0: whole image)")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=41)
    ap.add_argument("--resume", help="state_dict to start from")
    ap.add_argument("--max-minutes", type=float, default=0, help="stop after this wall time (0: no limit)")
    ap.add_argument("--stop-after", type=int, default=0, help="stop after this many epochs, keeping the --epochs schedule")
    args = ap.parse_args(argv)
    if args.size % 32 or args.crop % 32 or args.crop > args.size:
        ap.error("--size and --crop must be multiples of 32, and --crop <= --size")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    pre = preprocess.PRESETS[args.preset]

    train_names = list_names(args.data, args.train_list)
    if args.val_data:
        val_data, val_names = args.val_data, list_names(args.val_data, args.val_list)
    elif args.val_list:
        val_data, val_names = args.data, list_names(args.data, args.val_list)
    else:
        order = rng.permutation(len(train_names))
        nval = max(1, int(len(train_names) * args.val_fraction)) if len(train_names) > 1 else 0
        val_names = [train_names[i] for i in order[:nval]]
        train_names = [train_names[i] for i in order[nval:]]
        val_data = args.data
    if not train_names:
        raise SystemExit("no training images in %s/images" % args.data)
    print("train %d images, val %d images, preset %s" % (len(train_names), len(val_names), args.preset), flush=True)

    train = [load_pair(args.data, n, args.size, pre) for n in train_names]
    val = [load_pair(val_data, n, args.size, pre) for n in val_names]

    model = lgmsnet.LGMSNet()
    if args.resume:
        model.load_state_dict(torch.load(args.resume, map_location="cpu"))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    steps_per_epoch = (len(train) + args.batch_size - 1) // args.batch_size
    max_iter = max(1, args.epochs * steps_per_epoch)
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "train_log.jsonl"), "a")
    best, it, t0 = -1.0, 0, time.time()
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(train))
        losses = []
        for s in range(steps_per_epoch):
            idx = order[s * args.batch_size : (s + 1) * args.batch_size]
            xb, yb = zip(*(augment(*train[i], rng, args.crop) for i in idx))
            x, y = torch.from_numpy(np.stack(xb)), torch.from_numpy(np.stack(yb))
            lr = args.lr * (1 - it / max_iter) ** 0.9
            for grp in opt.param_groups:
                grp["lr"] = lr
            loss = bce_dice_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            it += 1
        model.eval()
        dices = []
        with torch.no_grad():
            for i in range(0, len(val), 8):
                xb, yb = zip(*val[i : i + 8])
                dices.append(dice_of(model(torch.from_numpy(np.stack(xb))), torch.from_numpy(np.stack(yb))))
        vdice = float(torch.cat(dices).mean()) if dices else float("nan")
        elapsed = time.time() - t0
        rec = dict(epoch=epoch + 1, loss=float(np.mean(losses)), val_dice=vdice, lr=lr, seconds=round(elapsed, 1))
        print(json.dumps(rec), flush=True)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        torch.save(model.state_dict(), os.path.join(args.out, "last.pth"))
        if not val or vdice > best:
            best = vdice
            torch.save(model.state_dict(), os.path.join(args.out, "best.pth"))
        if args.stop_after and epoch + 1 >= args.stop_after:
            print("stopping: --stop-after %d epochs" % args.stop_after, flush=True)
            break
        if args.max_minutes and elapsed > args.max_minutes * 60:
            print("stopping: --max-minutes reached", flush=True)
            break
    print("done: best val Dice %.4f, %.1f s" % (best, time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
