"""Converter: both key layouts, every wrapped form, exact round trip, and errors that name the key."""

import os
import tempfile
import unittest

import numpy as np
import torch

from helpers import lgmsd

import convert
import lgmsnet


class ConvertTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        hp = dict(num_classes=2, dims=[8, 16, 32, 64, 64], splits=[[48, 16], [48, 16], [48, 16], [24, 8]])
        cls.model = lgmsnet.randomize_(lgmsnet.LGMSNet(**hp), seed=5).eval()
        cls.sd = cls.model.state_dict()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def convert(self, obj, *extra):
        ckpt, out = self.path("ckpt.pth"), self.path("model.lgms")
        torch.save(obj, ckpt)
        rc = convert.main([ckpt, "-o", out, "--classes", "lesion", *extra])
        return rc, out

    def assert_round_trip(self, obj):
        rc, out = self.convert(obj)
        self.assertEqual(rc, 0)
        meta, tensors = convert.read_model(out)
        self.assertEqual(meta["arch"], "lgmsnet2d")
        self.assertEqual(meta["dims"], "8,16,32,64,64")
        self.assertEqual(meta["splits"], "48,16;48,16;48,16;24,8")
        self.assertEqual(meta["num_classes"], "2")
        expected = {k: v for k, v in self.sd.items() if not k.endswith("num_batches_tracked")}
        self.assertEqual(set(tensors), set(expected))
        for k, v in expected.items():
            np.testing.assert_array_equal(tensors[k], v.numpy(), err_msg=k)

    def test_official_bare_state_dict(self):
        self.assert_round_trip(self.sd)

    def test_wrapped_and_prefixed_forms(self):
        prefixed = {"module." + k: v for k, v in self.sd.items()}
        backbone = {"backbone." + k: v for k, v in self.sd.items()}
        for obj in ({"state_dict": self.sd, "epoch": 3}, {"model": self.sd}, prefixed, {"state_dict": prefixed}, backbone):
            with self.subTest(keys=list(obj)[:2]):
                self.assert_round_trip(obj)

    def test_ubench_class_has_the_same_keys(self):
        # U-Bench's clean copy is class LGMSNet with the official attribute names: the port is both.
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "state-dict-2d.tsv")) as f:
            keys = [ln.split("\t")[0] for ln in f if not ln.startswith("#")]
        self.assertEqual(list(lgmsnet.LGMSNet().state_dict().keys()), keys)

    def test_engine_loads_the_converted_file(self):
        rc, out = self.convert(self.sd)
        self.assertEqual(rc, 0)
        x = torch.randn(1, 3, 64, 64)
        np.save(self.path("in.npy"), x.numpy())
        r = lgmsd("tensor", "--model", out, "--input", self.path("in.npy"), "--output", self.path("out.npy"))
        self.assertEqual(r.returncode, 0, r.stderr)
        with torch.no_grad():
            want = self.model.double()(x.double()).float().numpy()
        self.model.float()
        got = np.load(self.path("out.npy"))
        self.assertLessEqual(float(np.abs(got - want).max()), 1e-4)

    def test_fp16_storage(self):
        rc, out = self.convert(self.sd, "--fp16")
        self.assertEqual(rc, 0)
        _, tensors = convert.read_model(out)
        w = self.sd["stem.conv.0.weight"].numpy()
        np.testing.assert_allclose(tensors["stem.conv.0.weight"], w, rtol=1e-3, atol=1e-4)
        r = lgmsd("tensor", "--model", out, "--input", os.path.join(os.path.dirname(__file__), "..", "fixtures", "small-3class-b2-in.npy"))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_errors_name_the_key(self):
        missing = dict(self.sd)
        del missing["Up_conv3.conv.6.bias"]
        extra = dict(self.sd)
        extra["encoder1.0.extra.weight"] = torch.zeros(3)
        shaped = dict(self.sd)
        shaped["Up4.up.1.bias"] = torch.zeros(5)
        for obj, key in ((missing, "Up_conv3.conv.6.bias"), (extra, "encoder1.0.extra.weight"), (shaped, "Up4.up.1.bias")):
            with self.subTest(key=key):
                rc, _ = self.convert(obj)
                self.assertEqual(rc, 1)
        with self.assertRaisesRegex(convert.ConvertError, "Up_conv3.conv.6.bias"):
            convert.check_against_port(missing, convert.infer_hparams(missing))
        with self.assertRaisesRegex(convert.ConvertError, "encoder1.0.extra.weight"):
            convert.check_against_port(extra, convert.infer_hparams(extra))
        with self.assertRaisesRegex(convert.ConvertError, "Up4.up.1.bias"):
            convert.check_against_port(shaped, convert.infer_hparams(shaped))
        with self.assertRaisesRegex(convert.ConvertError, "no state_dict"):
            convert.unwrap({"epoch": 1})

    def test_a_file_that_is_no_checkpoint_is_one_line(self):
        import subprocess
        import tempfile
        with tempfile.NamedTemporaryFile(suffix=".pth") as bad:
            bad.write(b"garbage, not a pickle\n")
            bad.flush()
            r = subprocess.run(["/usr/bin/python3", convert.__file__, bad.name, "-o", bad.name + ".lgms"],
                               capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertNotIn("Traceback", r.stderr)
        self.assertRegex(r.stderr.strip(), r"^convert: error: .* is not a PyTorch checkpoint")
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_presets_are_recorded(self):
        for preset, order, resize, extra in (("busi", "bgr", "bilinear", 1 / 255), ("kvasir", "rgb", "lanczos4", 1.0)):
            rc, out = self.convert(self.sd, "--preset", preset)
            self.assertEqual(rc, 0)
            meta, _ = convert.read_model(out)
            self.assertEqual(meta["channel_order"], order)
            self.assertEqual(meta["resize"], resize)
            self.assertAlmostEqual(float(meta["extra_scale"]), extra)


if __name__ == "__main__":
    unittest.main()
