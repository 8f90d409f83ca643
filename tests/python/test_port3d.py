"""The PyTorch port of LGMSNet-3D (tools/lgmsnet.py with spatial_dims=3): the official
state_dict keys and shapes, parameter count, InstanceNorm semantics and token groups."""

import os
import sys
import unittest

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import lgmsnet  # noqa: E402


def official_3d():
    with open(os.path.join(HERE, "..", "..", "docs", "state-dict-3d.tsv")) as f:
        rows = [ln.rstrip("\n").split("\t") for ln in f if not ln.startswith("#")]
    return [(r[0], r[1]) for r in rows]


def shape_text(t):
    return "x".join(str(v) for v in t.shape) if t.dim() else "scalar"


class Port3DTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = lgmsnet.LGMSNet(**lgmsnet.DEFAULT_3D, spatial_dims=3).eval()

    def test_state_dict_matches_the_official_keys_and_shapes(self):
        got = [(k, shape_text(v)) for k, v in self.model.state_dict().items()]
        self.assertEqual(got, official_3d())
        self.assertEqual(len(got), 177)

    def test_parameter_count(self):
        self.assertEqual(sum(p.numel() for p in self.model.parameters()), 6193742)

    def test_forward_shape(self):
        lgmsnet.randomize_(self.model, seed=3)
        with torch.no_grad():
            y = self.model(torch.randn(1, 1, 32, 32, 64))
        self.assertEqual(tuple(y.shape), (1, 14, 32, 32, 64))

    def test_stem_normalises_with_the_patch_statistics(self):
        # conv -> InstanceNorm3d (biased variance, eps 1e-5, no affine, no running stats) -> ReLU
        stem = lgmsnet.randomize_(lgmsnet.LGMSNet(**lgmsnet.DEFAULT_3D, spatial_dims=3), seed=4).stem.eval().double()
        x = torch.randn(2, 1, 8, 8, 8) * torch.tensor([1.0, 5.0]).reshape(2, 1, 1, 1, 1)
        conv = stem.conv[0]
        with torch.no_grad():
            z = F.conv3d(x.double(), conv.weight.double(), conv.bias.double(), padding=1)
            mu = z.mean(dim=(2, 3, 4), keepdim=True)
            var = z.var(dim=(2, 3, 4), unbiased=False, keepdim=True)
            want = torch.relu((z - mu) / torch.sqrt(var + 1e-5))
            got = stem(x.double())
        self.assertLess(float((got - want).abs().max()), 1e-9)
        self.assertEqual(len(list(stem.buffers())), 0)  # nothing learned or tracked

    def test_token_groups_are_the_stride_2_lattices(self):
        for shape, groups in (((1, 3, 4, 6, 8), 8), ((2, 3, 6, 8), 4)):
            t = torch.randn(*shape)
            tok = lgmsnet.tokens_split(t)
            self.assertEqual(tuple(tok.shape), (shape[0], groups, t[0, 0].numel() // groups, 3))
            self.assertTrue(torch.equal(lgmsnet.tokens_merge(tok, t.shape), t))
            # the tokens of group g are the elements whose coordinate parities spell g
            idx = torch.arange(t[0, 0].numel(), dtype=torch.float32).reshape(1, 1, *shape[2:])
            itok = lgmsnet.tokens_split(idx)[0, :, :, 0].long()
            sizes = shape[2:]
            for g in range(groups):
                rest, par = itok[g], []
                for n in reversed(sizes):
                    par.append(rest % n % 2)
                    rest = rest // n
                bits = sum(p << i for i, p in enumerate(par))  # w is bit 0, h bit 1, d bit 2
                self.assertTrue(bool((bits == g).all()), (shape, g))

    def test_trilinear_upsample_is_half_pixel(self):
        up = self.model.Up5.up[0]
        self.assertEqual((up.mode, up.align_corners), ("trilinear", False))
        x = torch.randn(1, 2, 3, 4, 5)
        self.assertTrue(torch.allclose(up(x), F.interpolate(x, scale_factor=2, mode="trilinear", align_corners=False)))


class Engine3DTest(unittest.TestCase):
    """Official LGMSNet-3D dimensions through the converter (official checkpoint layout) and
    the C engine, against the port in float64."""

    def test_official_dims_converted_and_run_by_the_engine(self):
        import subprocess
        import tempfile

        import numpy as np

        sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
        import convert  # noqa: E402

        lgmsd = os.path.abspath(os.environ.get("LGMSD_BIN", os.path.join(HERE, "..", "..", "build", "lgmsd")))
        model = lgmsnet.randomize_(lgmsnet.LGMSNet(**lgmsnet.DEFAULT_3D, spatial_dims=3), seed=11).eval()
        with torch.no_grad():
            model.Conv_1x1.weight.mul_(0.25)  # logits near +-4, where float32 keeps 1e-4 (see make_fixtures.py)
        with tempfile.TemporaryDirectory() as tmp:
            ckpt, out = os.path.join(tmp, "best.pth"), os.path.join(tmp, "btcv.lgms")
            # the official main3d.py layout: {"state_dict": ...} with DataParallel's "module." prefix
            torch.save({"state_dict": {"module." + k: v for k, v in model.state_dict().items()}, "epoch": 7}, ckpt)
            self.assertEqual(convert.main([ckpt, "-o", out, "--arch", "3d", "--classes", ",".join(
                "organ%d" % i for i in range(1, 14))]), 0)
            # a 2-D conversion of it names the right flag
            self.assertEqual(convert.main([ckpt, "-o", os.path.join(tmp, "x.lgms")]), 1)
            x = torch.randn(1, 1, 32, 64, 64, generator=torch.Generator().manual_seed(5))
            np.save(os.path.join(tmp, "in.npy"), x.numpy())
            r = subprocess.run([lgmsd, "tensor", "--model", out, "--input", os.path.join(tmp, "in.npy"), "--output",
                                os.path.join(tmp, "out.npy"), "--threads", "2"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            got = np.load(os.path.join(tmp, "out.npy"))
            with torch.no_grad():
                want = model.double()(x.double()).numpy()
        self.assertEqual(got.shape, (1, 14, 32, 64, 64))
        err = float(np.abs(got - want).max())
        print("LGMSNet-3D official dims, 1x1x32x64x64: max abs error %.3g" % err, file=sys.stderr)
        self.assertLessEqual(err, 1e-4)


def read_labels(path):
    """(z, y, x) uint8 labels of a NIfTI-1 .nii.gz written by lgmsd."""
    import gzip
    import struct

    import numpy as np

    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = struct.unpack_from("<8h", raw, 40)
    assert struct.unpack_from("<h", raw, 70)[0] == 2, "labels are uint8"
    off = int(struct.unpack_from("<f", raw, 108)[0])
    nx, ny, nz = dims[1], dims[2], dims[3]
    return np.frombuffer(raw, dtype=np.uint8, count=nx * ny * nz, offset=off).reshape(nz, ny, nx)


class OrientationTest(unittest.TestCase):
    """`orientation RAS` in a model file: the same anatomy stored in two voxel orders gets
    the same labels (turned back to each file's order); without it, the network sees
    whatever order the file has."""

    def test_volumes_are_segmented_in_ras_order_whatever_the_stored_order(self):
        import subprocess
        import tempfile

        import numpy as np

        sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
        sys.path.insert(0, os.path.join(HERE, "..", "integration"))
        import convert  # noqa: E402
        import ct_volume  # noqa: E402

        lgmsd = os.path.abspath(os.environ.get("LGMSD_BIN", os.path.join(HERE, "..", "..", "build", "lgmsd")))
        model = lgmsnet.randomize_(lgmsnet.LGMSNet(in_channels=1, num_classes=4, dims=[8, 16, 32, 64, 64],
                                                   splits=[[48, 16], [48, 16], [48, 16], [24, 8]], spatial_dims=3),
                                   seed=3).eval()
        rng = np.random.default_rng(4)
        vol = rng.integers(-200, 300, size=(36, 40, 44)).astype(np.int16)  # z, y, x
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = os.path.join(tmp, "m.pth")
            torch.save(model.state_dict(), ckpt)
            models = {}
            for orient in ("RAS", "none"):
                models[orient] = os.path.join(tmp, orient + ".lgms")
                self.assertEqual(convert.main([ckpt, "-o", models[orient], "--arch", "3d", "--roi", "32x32x32",
                                               "--spacing", "1,1,1", "--classes", "a,b,c", "--orientation",
                                               orient]), 0)
            # the same anatomy: stored RAS, and stored LPS (i and j reversed, the affine says so)
            files = {"ras": ([[1, 0, 0, 0.0], [0, 1, 0, 0.0], [0, 0, 1, 0.0]], vol),
                     "lps": ([[-1, 0, 0, 43.0], [0, -1, 0, 39.0], [0, 0, 1, 0.0]], vol[:, ::-1, ::-1])}
            for name, (affine, data) in files.items():
                with open(os.path.join(tmp, name + ".nii"), "wb") as f:
                    f.write(ct_volume.nifti1_bytes(np.ascontiguousarray(data), (1.0, 1.0, 1.0), affine))
            labels = {}
            for orient, path in models.items():
                for name in files:
                    out = os.path.join(tmp, orient)
                    r = subprocess.run([lgmsd, "segment", "--model", path, "--out", out,
                                        os.path.join(tmp, name + ".nii")], capture_output=True, text=True)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    labels[orient, name] = read_labels(os.path.join(out, name + "_labels.nii.gz"))
        for orient in models:
            self.assertEqual(labels[orient, "lps"].shape, vol.shape)
        back = labels["RAS", "lps"][:, ::-1, ::-1]
        self.assertTrue(np.array_equal(back, labels["RAS", "ras"]), "RAS model: same labels for the same anatomy")
        self.assertGreater(len(np.unique(labels["RAS", "ras"])), 1)
        self.assertFalse(np.array_equal(labels["none", "lps"][:, ::-1, ::-1], labels["none", "ras"]),
                         "as stored: the network saw two different arrays")


if __name__ == "__main__":
    unittest.main()
