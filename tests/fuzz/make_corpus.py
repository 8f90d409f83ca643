#!/usr/bin/python3
"""Regenerate the fuzzing seed corpora under tests/fuzz/corpus/ (small, valid inputs of
every form each target parses)."""

import json
import os
import sys
import tempfile

import cv2
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import convert  # noqa: E402
import ct_volume  # noqa: E402
import dicomgen  # noqa: E402
import lgmsnet  # noqa: E402
from pngraw import palette_png  # noqa: E402

C = os.path.join(HERE, "corpus")


def out(kind, name, data):
    os.makedirs(os.path.join(C, kind), exist_ok=True)
    with open(os.path.join(C, kind, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def main():
    rng = np.random.default_rng(0)
    g = (rng.random((9, 13)) * 255).astype(np.uint8)
    rgb = (rng.random((7, 11, 3)) * 255).astype(np.uint8)
    for name, img in (("grey8", g), ("grey16", g.astype(np.uint16) * 257), ("rgb", rgb),
                      ("rgba", cv2.cvtColor(rgb, cv2.COLOR_BGR2BGRA)), ("rgb16", rgb.astype(np.uint16) * 256)):
        out("png", name + ".png", cv2.imencode(".png", img)[1].tobytes())
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "pal.png")
        palette_png(p, rng.integers(0, 4, (5, 6)), rng.integers(0, 256, (4, 3)))
        out("png", "palette.png", open(p, "rb").read())
    # fuzz_pngdiff.c: what it writes PNGs from (a random stream of its own, so the files
    # after these stay as they were)
    synth = np.random.default_rng(1).integers(0, 256, 200, dtype=np.uint8).tobytes()
    out("pngdiff", "rgb16", bytes([9, 5, 1, 1, 3]) + synth)
    out("pngdiff", "grey8", bytes([30, 7, 0, 0, 255]) + bytes(range(0, 250, 3)))
    out("pngdiff", "rgba8-split", bytes([17, 3, 3, 0, 2]) + synth[::-1])
    out("jpeg", "rgb.jpg", cv2.imencode(".jpg", rgb)[1].tobytes())
    out("jpeg", "grey.jpg", cv2.imencode(".jpg", g)[1].tobytes())
    out("jpeg", "progressive.jpg", cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes())
    b64 = __import__("base64").b64encode(cv2.imencode(".png", g)[1].tobytes()).decode()
    out("json", "basic.json", json.dumps({"image": b64}))
    out("json", "options.json", json.dumps({"image": "data:image/png;base64," + b64, "threshold": 0.3, "alpha": 1,
                                            "overlay": False, "outputs": ["mask", "probabilities"]}))
    out("options", "segment", "POST\0/v1/segment\0threshold=0.5&alpha=0.2&outputs=mask,overlay&overlay=true")
    out("options", "named", "POST\0/v1/models/busi-1.2/segment\0outputs=probabilities")
    out("options", "get", "GET\0/readyz\0")
    with open(os.path.join(HERE, "..", "..", "config", "lgmsd.ini")) as f:
        out("config", "example.ini", f.read())
    out("config", "models.ini", "[server]\nport=0\nworkers=2\nlog_level=debug\n[models]\na=/x.lgms\nb = /y.lgms\n")
    png = cv2.imencode(".png", g)[1].tobytes()
    for name, ctype, parts in (
            ("image-only", "multipart/form-data; boundary=XyZ", [("image", "a.png", png)]),
            ("with-options", "multipart/form-data; boundary=----b0",
             [("threshold", None, b"0.4"), ("outputs", None, b"mask,overlay"), ("image", "s.png", png)]),
            ("wrong-field", "multipart/form-data; boundary=q", [("file", "s.png", png)]),
            ("two-images", "multipart/form-data; boundary=q", [("image", "a", png), ("image", "b", png)])):
        b = parts and ctype.split("boundary=")[1].encode()
        body = b""
        for field, filename, value in parts:
            disp = b'form-data; name="%s"' % field.encode() + (b'; filename="%s"' % filename.encode() if filename else b"")
            body += b"--" + b + b"\r\nContent-Disposition: " + disp + b"\r\n"
            body += (b"Content-Type: image/png\r\n" if filename else b"") + b"\r\n" + value + b"\r\n"
        out("multipart", name, ctype.encode() + b"\n" + body + b"--" + b + b"--\r\n")
    out("multipart", "raw-png", b"image/png\n" + png)
    out("multipart", "no-boundary", b"multipart/form-data\n--x\r\n\r\n")
    hp = dict(dims=[4, 4, 4, 4, 4], splits=[[3, 1]] * 4, num_classes=2)
    m = lgmsnet.randomize_(lgmsnet.LGMSNet(**hp), seed=9)
    with tempfile.TemporaryDirectory() as d:
        ck, lg = os.path.join(d, "m.pth"), os.path.join(d, "m.lgms")
        torch.save(m.state_dict(), ck)
        assert convert.main([ck, "-o", lg, "--fp16", "--input-size", "32x32"]) == 0
        out("model", "tiny-fp16.lgms", open(lg, "rb").read())
    vol = (rng.random((4, 5, 6)) * 2000 - 1000).astype(np.int16)  # z, y, x
    nii = ct_volume.nifti1_bytes(vol, (0.8, 0.8, 2.5), [[0.8, 0, 0, 1], [0, 0.8, 0, 2], [0, 0, 2.5, 3]])
    out("nifti", "int16.nii", nii)
    out("nifti", "int16.nii.gz", __import__("gzip").compress(nii, mtime=0))
    for name, (data, _) in ct_volume.hostile_volumes().items():  # crash repros of issue #15
        out("nifti", name, data)
    for name, data in dicomgen.variants(np.random.default_rng(1)).items():
        out("dicom", name + ".dcm", data)
    for name, (data, _, _) in dicomgen.hostile().items():
        if len(data) < 100000:  # not the deflate bomb: seeds stay small
            out("dicom", name + ".dcm", data)


if __name__ == "__main__":
    main()
