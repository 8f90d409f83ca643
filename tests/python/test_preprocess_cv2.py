"""Preprocessing parity: lgmsd's decode + resize + normalisation against cv2.imread,
cv2.resize and each preset's normalisation, within 1 grey level."""

import os
import struct
import tempfile
import unittest
import zlib

import cv2
import numpy as np
import torch

from helpers import lgmsd

import convert
import lgmsnet
import preprocess


def palette_png(path, idx, palette):
    """Write an 8-bit palette PNG by hand (cv2 cannot)."""
    h, w = idx.shape

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\0" + idx[y].astype(np.uint8).tobytes() for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)))
        f.write(chunk(b"PLTE", palette.astype(np.uint8).tobytes()))
        f.write(chunk(b"IDAT", zlib.compress(raw)))
        f.write(chunk(b"IEND", b""))


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
        rng = np.random.default_rng(7)
        cls.images = {}
        base = cv2.GaussianBlur((rng.random((333, 451, 3)) * 255).astype(np.uint8), (0, 0), 2.0)
        grey = cv2.cvtColor(base, cv2.COLOR_BGR2GRAY)
        small = cv2.GaussianBlur((rng.random((97, 61, 3)) * 255).astype(np.uint8), (0, 0), 1.0)
        cls.write("rgb.png", base)
        cls.write("small_upscaled.png", small)
        cls.write("grey.png", grey)
        cls.write("grey16.png", (grey.astype(np.uint16) * 257 + rng.integers(0, 200, grey.shape)).astype(np.uint16))
        rgba = cv2.cvtColor(base, cv2.COLOR_BGR2BGRA)
        rgba[..., 3] = rng.integers(0, 256, grey.shape)
        cls.write("rgba.png", rgba)
        cls.write("rgb16.png", base.astype(np.uint16) * 256 + 99)
        cls.write("photo.jpg", base, [cv2.IMWRITE_JPEG_QUALITY, 90])
        cls.write("grey.jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, 90])
        path = os.path.join(cls.tmp.name, "palette.png")
        palette_png(path, rng.integers(0, 16, (120, 200)), rng.integers(0, 256, (16, 3)))
        cls.images["palette.png"] = path

    @classmethod
    def write(cls, name, img, params=()):
        path = os.path.join(cls.tmp.name, name)
        assert cv2.imwrite(path, img, list(params))
        cls.images[name] = path

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_against_cv2(self):
        for preset, model in self.models.items():
            pre = preprocess.PRESETS[preset]
            for name, path in self.images.items():
                with self.subTest(preset=preset, image=name):
                    out = os.path.join(self.tmp.name, "t.npy")
                    r = lgmsd("preprocess", "--model", model, "--output", out, path)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    got = np.load(out)[0]
                    want = preprocess.normalise(preprocess.resize_uint8(preprocess.load_image(path, pre), 256, 256, pre), pre)
                    scale = np.array(pre["std"], np.float32)[:, None, None] * 255 * pre["extra_scale"]
                    levels = float(np.abs((got - want) / scale).max())
                    self.assertLessEqual(levels, 1.0 + 1e-3, "%s/%s differs by %.3f grey levels" % (preset, name, levels))


if __name__ == "__main__":
    unittest.main()
