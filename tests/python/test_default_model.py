"""The shipped default model, run through the C engine and the served pipeline, still
segments held-out phantoms (seed 424242, never used in training) above a Dice floor, so
a broken engine, model file or preprocessing is caught."""

import json
import os
import tempfile
import unittest

from helpers import PY, ROOT, TOOLS, lgmsd, run

MODEL = os.path.join(ROOT, "models", "lgmsnet-phantom.lgms")
# The model card reports mean Dice on 200 held-out phantoms; 32 images vary more, so the
# floor sits below that figure while still far above what a broken pipeline scores.
DICE_FLOOR = 0.80


class DefaultModelTest(unittest.TestCase):
    def test_dice_floor_on_heldout_phantoms(self):
        self.assertTrue(os.path.exists(MODEL), "the default model must ship in models/")
        with tempfile.TemporaryDirectory() as d:
            r = run([PY, os.path.join(TOOLS, "phantom.py"), "--out", d, "--count", "32", "--seed", "424242"])
            self.assertEqual(r.returncode, 0, r.stderr)
            r = lgmsd("eval", "--model", MODEL, "--json", os.path.join(d, "images"), os.path.join(d, "masks"))
            self.assertEqual(r.returncode, 0, r.stderr)
            result = json.loads(r.stdout)
            self.assertEqual(result["images"], 32)
            self.assertGreaterEqual(result["mean"]["dice"], DICE_FLOOR, r.stdout[:300])

    def test_default_model_is_used_without_model_flag(self):
        with tempfile.TemporaryDirectory() as d:
            r = run([PY, os.path.join(TOOLS, "phantom.py"), "--out", d, "--count", "1", "--seed", "424243"])
            self.assertEqual(r.returncode, 0, r.stderr)
            img = os.path.join(d, "images", os.listdir(os.path.join(d, "images"))[0])
            r = lgmsd("segment", img, "--out", d)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("lesion", r.stdout)
            stem = os.path.splitext(os.path.basename(img))[0]
            self.assertTrue(os.path.exists(os.path.join(d, stem + "_mask.png")))
            self.assertTrue(os.path.exists(os.path.join(d, stem + "_overlay.png")))


if __name__ == "__main__":
    unittest.main()
