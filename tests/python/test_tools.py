"""Phantom generator and trainer: determinism, mask content, and a one-epoch training run
whose checkpoint converts and runs in the C engine."""

import hashlib
import os
import tempfile
import unittest

import cv2
import numpy as np

from helpers import PY, TOOLS, lgmsd, run


def digest(folder):
    h = hashlib.sha256()
    for sub in ("images", "masks"):
        for name in sorted(os.listdir(os.path.join(folder, sub))):
            with open(os.path.join(folder, sub, name), "rb") as f:
                h.update(name.encode() + f.read())
    return h.hexdigest()


class PhantomTest(unittest.TestCase):
    def test_seeded_and_sane(self):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b, tempfile.TemporaryDirectory() as c:
            for out, seed in ((a, 11), (b, 11), (c, 12)):
                r = run([PY, os.path.join(TOOLS, "phantom.py"), "--out", out, "--count", "24", "--seed", str(seed), "--size", "160x128"])
                self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(digest(a), digest(b))
            self.assertNotEqual(digest(a), digest(c))
            names = sorted(os.listdir(os.path.join(a, "images")))
            self.assertEqual(names, sorted(os.listdir(os.path.join(a, "masks"))))
            fractions = []
            for n in names:
                img = cv2.imread(os.path.join(a, "images", n), cv2.IMREAD_UNCHANGED)
                mask = cv2.imread(os.path.join(a, "masks", n), cv2.IMREAD_UNCHANGED)
                self.assertEqual(img.shape, (128, 160))
                self.assertTrue(set(np.unique(mask)) <= {0, 255})
                self.assertGreater(img.std(), 10)  # speckled, not flat
                fractions.append((mask > 0).mean())
                if mask.any():  # lesions are hypoechoic: darker than the image on average
                    self.assertLess(img[mask > 0].mean(), img[mask == 0].mean())
            self.assertTrue(any(f == 0 for f in fractions), "some images should have no lesion")
            self.assertTrue(sum(f > 0 for f in fractions) > len(fractions) // 2)


class TrainSmokeTest(unittest.TestCase):
    def test_one_epoch_then_convert_and_run(self):
        with tempfile.TemporaryDirectory() as d:
            data, out = os.path.join(d, "data"), os.path.join(d, "run")
            r = run([PY, os.path.join(TOOLS, "phantom.py"), "--out", data, "--count", "6", "--seed", "3", "--size", "64x64"])
            self.assertEqual(r.returncode, 0, r.stderr)
            r = run([PY, os.path.join(TOOLS, "train.py"), "--data", data, "--out", out, "--epochs", "1", "--batch-size", "2",
                     "--size", "64", "--threads", "1"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn('"epoch": 1', r.stdout)
            self.assertTrue(os.path.exists(os.path.join(out, "best.pth")))
            model = os.path.join(d, "m.lgms")
            r = run([PY, os.path.join(TOOLS, "convert.py"), os.path.join(out, "best.pth"), "-o", model, "--preset", "busi",
                     "--input-size", "64x64"])
            self.assertEqual(r.returncode, 0, r.stderr)
            r = lgmsd("eval", "--model", model, "--json", os.path.join(data, "images"), os.path.join(data, "masks"))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn('"images": 6', r.stdout)


if __name__ == "__main__":
    unittest.main()
