"""Preprocessing parity: lgmsd's decode + resize + normalisation against cv2.imread,
cv2.resize and each preset's normalisation: the same 8-bit pixels, so the tensors differ by
float rounding only (TOLERANCE, 0.01 grey level; until 2026-12-05 the test allowed 1 grey
level, and the bilinear resize was that far off at ~10% of the pixels).

The tolerance is in grey levels of the 8-bit image the network's input was computed from:
a tensor value t = (v / 255 - mean) / std * extra_scale moves by extra_scale / (255 std)
per grey level, so a tensor difference d is d * 255 * std / extra_scale grey levels.

The fixtures can tell right from wrong: every 16-bit sample has high and low bytes that
differ (a decoder that reads the wrong byte of a sample, or the samples in the wrong byte
order, is off by up to 255 levels), 12-bit data (0..4095) is included, and every sample
format libspng hands back is covered (grey 1/2/4/8/16, grey + alpha 8/16, RGB 8/16,
RGBA 8/16, palette with and without tRNS)."""

import os
import tempfile
import unittest

import cv2
import numpy as np
import torch

from helpers import lgmsd
from pngraw import palette_png, write_png

import convert
import lgmsnet
import preprocess


TOLERANCE = 0.01  # grey levels: one level off in a single pixel fails


def grey_levels(got, want, pre):
    """Largest difference of two normalised tensors, in grey levels (see the module doc)."""
    per_level = np.float32(pre["extra_scale"]) / (np.array(pre["std"], np.float32)[:, None, None] * 255)
    return float(np.abs((got - want) / per_level).max())


def sixteen_bit(rng, shape, top=65535):
    """Smooth 16-bit samples in 0..top whose low byte is never equal to the high byte."""
    base = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 3.0)
    base = (base - base.min()) / (base.max() - base.min())
    v = (base * top).astype(np.int64) + rng.integers(0, 7, shape)
    v = np.clip(v, 0, top)
    same = (v >> 8) == (v & 255)
    v[same] ^= 1  # flip the low bit where the two bytes happen to agree
    return v.astype(np.uint16)


def make_fixtures(folder, rng):
    """name -> path of every sample format, each able to show a decoding fault."""
    paths = {}

    def cv2_write(name, img, params=()):
        p = os.path.join(folder, name)
        assert cv2.imwrite(p, img, list(params))
        paths[name] = p

    def raw(name, samples, depth, colour, **kw):
        p = os.path.join(folder, name)
        write_png(p, samples, depth, colour, **kw)
        paths[name] = p

    base = cv2.GaussianBlur((rng.random((333, 451, 3)) * 255).astype(np.uint8), (0, 0), 2.0)
    grey = cv2.cvtColor(base, cv2.COLOR_BGR2GRAY)
    cv2_write("rgb.png", base)
    cv2_write("small_upscaled.png", cv2.GaussianBlur((rng.random((97, 61, 3)) * 255).astype(np.uint8), (0, 0), 1.0))
    cv2_write("grey.png", grey)
    cv2_write("photo.jpg", base, [cv2.IMWRITE_JPEG_QUALITY, 90])
    cv2_write("grey.jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, 90])
    rgba = cv2.cvtColor(base, cv2.COLOR_BGR2BGRA)
    rgba[..., 3] = rng.integers(0, 256, grey.shape)
    cv2_write("rgba.png", rgba)
    # 16-bit: full range and 12-bit CT-like data (0..4095), bytes always distinct
    g16 = sixteen_bit(rng, (240, 320))
    raw("grey16.png", g16, 16, "grey")
    ct = np.full((256, 256), 24, np.int64)  # air
    yy, xx = np.mgrid[:256, :256]
    ct[(yy - 128) ** 2 / 110.0 ** 2 + (xx - 128) ** 2 / 95.0 ** 2 < 1] = 1040  # soft tissue
    ct[(yy - 140) ** 2 + (xx - 100) ** 2 < 15 ** 2] = 2900  # bone
    ct = np.clip(ct + rng.integers(-40, 41, ct.shape), 0, 4095)
    ct[(ct >> 8) == (ct & 255)] ^= 1
    ct = ct.astype(np.uint16)
    raw("grey12.png", ct, 16, "grey")
    rgb16 = np.stack([sixteen_bit(rng, (150, 210)) for _ in range(3)], -1)
    raw("rgb16.png", rgb16, 16, "rgb")
    raw("rgba16.png", np.concatenate([rgb16, sixteen_bit(rng, (150, 210))[..., None]], -1), 16, "rgba")
    raw("grey_alpha16.png", np.stack([g16, g16[::-1]], -1), 16, "grey_alpha")
    raw("grey_alpha8.png", np.stack([grey, 255 - grey], -1), 8, "grey_alpha")
    for depth in (1, 2, 4):
        raw("grey%d.png" % depth, rng.integers(0, 1 << depth, (77, 93)), depth, "grey")
    idx = rng.integers(0, 16, (120, 200))
    pal = rng.integers(0, 256, (16, 3))
    p = os.path.join(folder, "palette.png")
    palette_png(p, idx, pal)
    paths["palette.png"] = p
    p = os.path.join(folder, "palette_trns.png")
    palette_png(p, idx, pal, trns=bytes(rng.integers(0, 256, 16).astype(np.uint8)))
    paths["palette_trns.png"] = p
    return paths


class PreprocessParityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        model = lgmsnet.randomize_(lgmsnet.LGMSNet(dims=[8, 16, 32, 64, 64], splits=[[48, 16]] * 3 + [[24, 8]]), seed=3)
        ckpt = os.path.join(cls.tmp.name, "m.pth")
        torch.save(model.state_dict(), ckpt)
        cls.models = {}
        for preset in ("busi", "kvasir"):
            out = os.path.join(cls.tmp.name, preset + ".lgms")
            assert convert.main([ckpt, "-o", out, "--preset", preset]) == 0
            cls.models[preset] = out
        cls.images = make_fixtures(cls.tmp.name, np.random.default_rng(7))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def preprocess(self, model, path, *options):
        out = os.path.join(self.tmp.name, "t.npy")
        r = lgmsd("preprocess", "--model", model, "--output", out, *options, path)
        self.assertEqual(r.returncode, 0, r.stderr)
        return np.load(out)[0]

    def test_fixtures_can_show_a_byte_order_fault(self):
        for name in ("grey16.png", "grey12.png", "rgb16.png", "rgba16.png", "grey_alpha16.png"):
            with self.subTest(image=name):
                v = cv2.imread(self.images[name], cv2.IMREAD_UNCHANGED).astype(np.int64)
                self.assertEqual(int(((v >> 8) == (v & 255)).sum()), 0)
                swapped = ((v & 255) << 8) | (v >> 8)
                self.assertGreater(int(np.abs((swapped >> 8) - (v >> 8)).max()), 200)

    def test_grey_levels_unit(self):
        # one grey level of difference in the 8-bit image is exactly 1.0, for either preset
        for preset in ("busi", "kvasir"):
            pre = preprocess.PRESETS[preset]
            img = np.full((4, 4, 3), 100, np.uint8)
            a, b = preprocess.normalise(img, pre), preprocess.normalise(img + 1, pre)
            self.assertAlmostEqual(grey_levels(b, a, pre), 1.0, places=4)

    def test_window_follows_the_dicom_rule(self):
        """window=C,W and window=auto on 12- and 16-bit data, against the DICOM linear rule
        applied to the file's samples with numpy, then cv2's resize and the preset."""

        def dicom_window(v, c, w):
            v = v.astype(np.float64)
            y = ((v - (c - 0.5)) / (w - 1) + 0.5) * 255
            y = np.where(v <= c - 0.5 - (w - 1) / 2, 0, np.where(v > c - 0.5 + (w - 1) / 2, 255, y))
            return np.floor(y + 0.5).astype(np.uint8)

        pre = preprocess.PRESETS["busi"]
        for name, window in (("grey12.png", "1040,400"), ("grey12.png", "auto"), ("grey16.png", "30000,20001")):
            with self.subTest(image=name, window=window):
                raw = cv2.imread(self.images[name], cv2.IMREAD_UNCHANGED)
                if window == "auto":
                    lo, hi = int(raw.min()), int(raw.max())
                    c, w = lo + (hi - lo + 1) / 2.0, hi - lo + 1.0
                else:
                    c, w = (float(x) for x in window.split(","))
                grey = dicom_window(raw, c, w)
                self.assertGreater(len(np.unique(grey)), 2, "the window shows the data")
                want = preprocess.normalise(preprocess.resize_uint8(cv2.merge([grey] * 3), 256, 256, pre), pre)
                got = self.preprocess(self.models["busi"], self.images[name], "--window", window)
                levels = grey_levels(got, want, pre)
                self.assertLessEqual(levels, TOLERANCE, "%s window %s differs by %.3f grey levels" % (name, window, levels))

    def test_against_cv2(self):
        for preset, model in self.models.items():
            pre = preprocess.PRESETS[preset]
            for name, path in self.images.items():
                with self.subTest(preset=preset, image=name):
                    got = self.preprocess(model, path)
                    want = preprocess.normalise(preprocess.resize_uint8(preprocess.load_image(path, pre), 256, 256, pre), pre)
                    levels = grey_levels(got, want, pre)
                    self.assertLessEqual(levels, TOLERANCE, "%s/%s differs by %.3f grey levels" % (preset, name, levels))


if __name__ == "__main__":
    unittest.main()
