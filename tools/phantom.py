#!/usr/bin/python3
"""Procedural breast-ultrasound-like phantoms with exact lesion masks.

Writes OUT/images/NAME.png (8-bit grey B-mode-like image) and OUT/masks/NAME.png
(0 background, 255 lesion). Every image is a pure function of (seed, index), so sets
made with different seeds never share an image. The image model is described in
docs/phantom.md.

    /usr/bin/python3 tools/phantom.py --out DIR --count N --seed S [--size WxH]
"""

import argparse
import math
import os
import sys

import cv2
import numpy as np


def smooth_noise(rng, h, w, scale):
    """Band-limited noise in [-1, 1]: white noise blurred at the given length scale."""
    n = rng.standard_normal((h, w)).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), sigmaX=scale, sigmaY=scale)
    return n / (np.abs(n).max() + 1e-6)


def boundary_curve(rng, w, base, amp, length):
    """A smooth random depth profile across the width (tissue layer boundary)."""
    x = np.arange(w, dtype=np.float32)
    y = np.full(w, base, np.float32)
    for k in range(1, 4):
        y += amp / k * np.sin(2 * math.pi * k * x / length + rng.uniform(0, 2 * math.pi))
    return y


def tissue_map(rng, h, w):
    """Echogenicity of the background tissue: skin, fat, gland, muscle, with clutter."""
    rows = np.arange(h, dtype=np.float32)[:, None]
    skin = boundary_curve(rng, w, h * rng.uniform(0.03, 0.06), h * 0.01, w * 1.5)[None, :]
    fat = boundary_curve(rng, w, h * rng.uniform(0.15, 0.3), h * 0.04, w * 1.2)[None, :]
    gland = boundary_curve(rng, w, h * rng.uniform(0.7, 0.9), h * 0.05, w * 1.3)[None, :]
    echo = np.empty((h, w), np.float32)
    echo[:] = rng.uniform(0.35, 0.5)  # subcutaneous fat: grey
    gland_level = rng.uniform(0.55, 0.8)
    echo = np.where(rows >= fat, gland_level + 0.15 * smooth_noise(rng, h, w, 6), echo)
    muscle = 0.45 + 0.2 * np.sin(rows / rng.uniform(3, 6) + smooth_noise(rng, h, w, 10) * 3)
    echo = np.where(rows >= gland, muscle, echo)
    echo = np.where(rows < skin, rng.uniform(0.8, 1.0), echo)
    # fat lobules: dark ellipses with a thin bright rim
    for _ in range(rng.integers(2, 9)):
        c = (int(rng.uniform(0, w)), int(rng.uniform(skin.mean(), gland.mean())))
        ax = (int(rng.uniform(0.03, 0.09) * w), int(rng.uniform(0.02, 0.05) * h))
        ang = rng.uniform(-25, 25)
        lob = np.zeros((h, w), np.uint8)
        cv2.ellipse(lob, c, ax, ang, 0, 360, 1, -1)
        rim = np.zeros((h, w), np.uint8)
        cv2.ellipse(rim, c, ax, ang, 0, 360, 1, 1)
        echo = np.where(lob > 0, 0.3, echo)
        echo = np.where(rim > 0, 0.85, echo)
    # Cooper's-ligament-like bright curved lines
    for _ in range(rng.integers(2, 7)):
        pts = []
        x0, y0 = rng.uniform(0, w), rng.uniform(0.1 * h, 0.8 * h)
        dx, dy = rng.uniform(-1, 1), rng.uniform(-0.4, 0.4)
        for t in range(6):
            pts.append((x0 + dx * t * w / 6, y0 + dy * t * h / 6 + rng.normal(0, h * 0.02)))
        cv2.polylines(echo, [np.array(pts, np.int32)], False, float(rng.uniform(0.8, 1.0)), 1, cv2.LINE_AA)
    return np.clip(echo, 0.02, 1.0)


def lesion_polygon(rng, cx, cy, r0, spiculated):
    """Irregular border: a radius with random low harmonics, optionally sharp spicules."""
    n = 180
    th = np.linspace(0, 2 * math.pi, n, endpoint=False)
    r = np.ones(n)
    for k in range(2, 7):
        r += rng.uniform(0, 0.18 / (k - 1)) * np.cos(k * th + rng.uniform(0, 2 * math.pi))
    if spiculated:
        for _ in range(rng.integers(5, 12)):
            at = rng.uniform(0, 2 * math.pi)
            width = rng.uniform(0.04, 0.12)
            d = np.angle(np.exp(1j * (th - at)))
            r += rng.uniform(0.25, 0.6) * np.maximum(0, 1 - np.abs(d) / width)
    aspect = rng.uniform(0.55, 1.0)  # wider than tall, as most lesions are
    x = cx + r0 * r * np.cos(th)
    y = cy + r0 * aspect * r * np.sin(th)
    return np.stack([x, y], axis=1)


def add_lesions(rng, echo, h, w):
    mask = np.zeros((h, w), np.uint8)
    count = rng.choice([0, 1, 1, 1, 1, 1, 1, 2], p=None)
    columns = []
    for _ in range(count):
        r0 = rng.uniform(0.06, 0.2) * min(h, w)
        cx = rng.uniform(0.2, 0.8) * w
        cy = rng.uniform(0.3, 0.65) * h
        poly = lesion_polygon(rng, cx, cy, r0, spiculated=rng.random() < 0.35)
        one = np.zeros((h, w), np.uint8)
        cv2.fillPoly(one, [np.round(poly * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
        interior = rng.uniform(0.04, 0.22) + 0.06 * smooth_noise(rng, h, w, 4)
        soft = cv2.GaussianBlur(one.astype(np.float32), (0, 0), 1.0)
        echo[:] = echo * (1 - soft) + interior * soft
        mask |= one
        columns.append((poly[:, 0].min(), poly[:, 0].max(), poly[:, 1].max(), rng.choice(["shadow", "enhance", "none"])))
    for x0, x1, y_bottom, kind in columns:
        if kind == "none":
            continue
        xs = np.arange(w)[None, :]
        ys = np.arange(h)[:, None]
        inside = ((xs >= x0) & (xs <= x1) & (ys > y_bottom)).astype(np.float32)
        inside = cv2.GaussianBlur(inside, (0, 0), 3.0)
        factor = rng.uniform(0.3, 0.6) if kind == "shadow" else rng.uniform(1.3, 1.7)
        echo[:] = echo * (1 + (factor - 1) * inside)
    return mask


def speckle(rng, h, w):
    """Rayleigh-distributed multiplicative speckle: magnitude of a low-passed complex Gaussian field."""
    re = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 0.8, sigmaY=1.4)
    im = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 0.8, sigmaY=1.4)
    env = np.sqrt(re * re + im * im)
    return env / env.mean()


def make_phantom(seed, index, w, h):
    rng = np.random.default_rng([seed, index])
    echo = tissue_map(rng, h, w)
    mask = add_lesions(rng, echo, h, w)
    depth = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    gain = np.exp(-rng.uniform(0.5, 1.5) * depth) * (1 + rng.uniform(0.0, 0.8) * depth)  # attenuation vs. TGC
    env = echo * gain * speckle(rng, h, w) * rng.uniform(0.8, 1.2)
    img = np.log1p(20 * env) / math.log1p(20 * 2.5)  # log compression
    img = np.clip(img * 255 + rng.normal(0, 2, (h, w)), 0, 255).astype(np.uint8)
    return img, mask * 255


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder (images/ and masks/ are made in it)")
    ap.add_argument("--count", type=int, required=True, help="number of images")
    ap.add_argument("--seed", type=int, required=True, help="set seed; image i is a function of (seed, i)")
    ap.add_argument("--size", default="256x256", help="WxH of each image (default 256x256)")
    args = ap.parse_args(argv)
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        ap.error("--size must look like 256x256")
    if args.count < 0 or w < 32 or h < 32:
        ap.error("--count must be >= 0 and the size at least 32x32")
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "masks"), exist_ok=True)
    for i in range(args.count):
        img, mask = make_phantom(args.seed, i, w, h)
        name = "phantom_s%d_%05d.png" % (args.seed, i)
        cv2.imwrite(os.path.join(args.out, "images", name), img)
        cv2.imwrite(os.path.join(args.out, "masks", name), mask)
    print("wrote %d phantoms to %s" % (args.count, args.out), file=sys.stderr)


if __name__ == "__main__":
    main()
