"""DICOM in and out, against the real daemon, on the real DICOM files Debian ships:
python3-pydicom's test files, libgdcm3.0's and dicom3tools' examples, and octave-dicom's
(GPL-3+: fetched at test time by tests/data/fetch.sh, never committed).

Shown: every file DCMTK can decode gives a mask through the three upload forms; the pixels
lgmsd decodes match pydicom's within 1 grey level after the same window; undecodable files
and objects without an image get their 4xx; a 16-bit CT and its window applied by hand
give the same mask; the SEG and secondary capture pass dciodvfy and the SEG's frames are
the reply's masks; no patient-identifying attribute reaches the reply or the log."""

import base64
import glob
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

import cv2
import numpy as np
import pydicom
from pydicom.pixel_data_handlers.util import apply_color_lut, apply_modality_lut, apply_voi_lut, convert_color_space

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_daemon import ROOT, SANITIZED, Daemon, curl, decode_png  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "..", "python"))
import dicomgen  # noqa: E402
from openapi_schema import validate, validate_segment_reply  # noqa: E402

LGMSD = os.path.abspath(os.environ.get("LGMSD_BIN", os.path.join(ROOT, "build", "lgmsd")))
PYDICOM = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")


def corpus(made):
    """Debian's DICOM files, and dicomgen's variants written into the folder made."""
    for name, data in dicomgen.variants().items():
        with open(os.path.join(made, "gen-%s.dcm" % name), "wb") as f:
            f.write(data)
    fetched = subprocess.run(["bash", os.path.join(ROOT, "tests", "data", "fetch.sh")], capture_output=True, text=True,
                             check=True).stdout.strip()
    files = sorted(glob.glob(os.path.join(PYDICOM, "*.dcm")))
    files += sorted(glob.glob(os.path.join(ROOT, fetched, "*.dcm")))
    files += ["/usr/share/doc/libgdcm3.0/examples/00191113.dcm", "/usr/share/doc/dicom3tools/examples/0051.dcm"]
    files += sorted(glob.glob(os.path.join(made, "gen-*.dcm")))
    return [f for f in files if os.path.exists(f)]


def dicom_window(v, center, width):
    """The DICOM linear window onto 0..255 (PS3.3 C.11.2.1.2.1), rounded."""
    v = np.asarray(v, np.float64)
    y = ((v - (center - 0.5)) / (width - 1) + 0.5) * 255 if width > 1 else (v > center - 0.5) * 255.0
    y = np.where(v <= center - 0.5 - (width - 1) / 2, 0, np.where(v > center - 0.5 + (width - 1) / 2, 255, y))
    return np.floor(y + 0.5).astype(np.uint8)


def pydicom_reference(path, window, frame=0):
    """pydicom's decoding of a frame, by the pixel rule lgmsd documents, with the window it applied."""
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        arr = arr[frame]
    pi = ds.PhotometricInterpretation
    if pi == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds)
        return (rgb >> 8).astype(np.uint8) if rgb.dtype != np.uint8 else rgb
    if ds.get("SamplesPerPixel", 1) == 3:
        if pi.startswith("YBR"):  # pydicom hands YBR back as stored, compressed or not
            arr = convert_color_space(arr, pi, "RGB")
        bits = int(ds.BitsStored)
        return arr.astype(np.uint8) if bits <= 8 else np.floor(arr.astype(np.float64) * 255 / ((1 << bits) - 1) + 0.5).astype(np.uint8)
    if window is None:  # 8-bit data as stored
        out = arr.astype(np.uint8)
    elif window["source"] == "voi-lut":
        v = apply_voi_lut(apply_modality_lut(arr, ds), ds)
        out = np.floor(v.astype(np.float64) * 255 / ((1 << int(ds.BitsStored)) - 1) + 0.5).astype(np.uint8)
    else:
        out = dicom_window(apply_modality_lut(arr, ds), window["center"], window["width"])
    return 255 - out if pi == "MONOCHROME1" else out


class DicomTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.files = corpus(cls.tmp.name)
        cls.d = Daemon("--workers", "2")
        cls.answers = {}
        for path in cls.files:
            st, hd, body = curl(cls.d, "/v1/segment?outputs=mask", "-H", "Content-Type: application/dicom",
                                data_file=path)
            cls.answers[path] = (st, hd, body)

    @classmethod
    def tearDownClass(cls):
        code = cls.d.stop()
        out = cls.d.output()
        cls.tmp.cleanup()
        assert code == 0, out[-3000:]
        assert "ERROR: AddressSanitizer" not in out and "runtime error" not in out, out[-3000:]

    def decodable(self):
        return [p for p in self.files if self.answers[p][0] == 200]

    def test_every_file_has_an_answer_and_the_undecodable_ones_a_4xx(self):
        decoded = self.decodable()
        self.assertGreaterEqual(len(decoded), 35, "pydicom, gdcm, dicom3tools and octave-dicom images")
        expect = {"JPEG2000.dcm": (415, "JPEG 2000"), "693_J2KI.dcm": (415, "JPEG 2000"), "test-SR.dcm": (422, "no image"),
                  "liver_1frame.dcm": (422, "segmentation"), "rtplan.dcm": (422, "no image"),
                  "gen-seg.dcm": (422, "segmentation"), "gen-no-pixels.dcm": (422, "no image")}
        for path in self.files:
            st, hd, body = self.answers[path]
            with self.subTest(file=os.path.basename(path)):
                self.assertIn(st, (200, 415, 422), body[:300])
                if st != 200:
                    self.assertEqual(hd.get("content-type"), "application/problem+json")
                    validate(json.loads(body), "Problem")
                else:
                    validate_segment_reply(json.loads(body))
                name = os.path.basename(path)
                if name in expect:
                    self.assertEqual(st, expect[name][0], body)
                    self.assertIn(expect[name][1], json.loads(body)["detail"])

    def test_decoded_pixels_match_pydicom_within_one_grey_level(self):
        checked = identical = 0
        for path in self.decodable():
            name = os.path.basename(path)
            if name == "gen-ct-sigmoid.dcm":  # DCMTK's SIGMOID VOI; the reference below knows LINEAR only
                continue
            reply = json.loads(self.answers[path][2])
            out = os.path.join(self.tmp.name, "decoded.png")
            r = subprocess.run([LGMSD, "preprocess", "--decoded", out, "--output", os.path.join(self.tmp.name, "x.npy"),
                                path], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            ours = cv2.imread(out, cv2.IMREAD_UNCHANGED)
            if ours.ndim == 3:
                ours = cv2.cvtColor(ours, cv2.COLOR_BGR2RGB)
            try:
                ref = pydicom_reference(path, reply["window"])
            except Exception as e:  # pydicom cannot decode it: nothing to compare with
                print("\ndicom: pydicom cannot decode %s (%s)" % (name, e), file=sys.stderr)
                continue
            with self.subTest(file=name):
                self.assertEqual(ours.shape, ref.shape)
                diff = int(np.abs(ours.astype(int) - ref.astype(int)).max())
                self.assertLessEqual(diff, 1, "%s differs from pydicom by %d grey levels (window %s)"
                                     % (name, diff, reply["window"]))
                checked += 1
                identical += diff == 0
        print("\ndicom: %d files decoded as pydicom does: %d identical, %d within 1 grey level"
              % (checked, identical, checked - identical), file=sys.stderr)
        self.assertGreaterEqual(checked, 25)

    def test_three_upload_forms_and_the_command_line_give_the_same_mask(self):
        path = os.path.join(PYDICOM, "MR_small.dcm")
        raw = decode_png(json.loads(self.answers[path][2])["mask"]["base64"])
        st, _, body = curl(self.d, "/v1/segment?outputs=mask", "-F", "image=@" + path)
        self.assertEqual(st, 200, body)
        self.assertTrue(np.array_equal(decode_png(json.loads(body)["mask"]["base64"]), raw), "multipart")
        req = os.path.join(self.tmp.name, "req.json")
        with open(path, "rb") as f, open(req, "w") as g:
            json.dump({"image": base64.b64encode(f.read()).decode(), "outputs": ["mask"]}, g)
        st, _, body = curl(self.d, "/v1/segment", "-H", "Content-Type: application/json", data_file=req)
        self.assertEqual(st, 200, body)
        self.assertTrue(np.array_equal(decode_png(json.loads(body)["mask"]["base64"]), raw), "JSON base64")
        out = os.path.join(self.tmp.name, "cli")
        r = subprocess.run([LGMSD, "segment", path, "--out", out, "--dicom-seg"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(np.array_equal(cv2.imread(os.path.join(out, "MR_small_mask.png"), 0), raw), "command line")
        self.assertTrue(os.path.getsize(os.path.join(out, "MR_small_seg.dcm")) > 1000)

    def test_a_ct_and_its_window_applied_by_hand_give_the_same_mask(self):
        path = os.path.join(PYDICOM, "CT_small.dcm")
        st, _, body = curl(self.d, "/v1/segment?outputs=mask&window=40,400", "-H", "Content-Type: application/dicom",
                           data_file=path)
        self.assertEqual(st, 200, body)
        reply = json.loads(body)
        self.assertEqual(reply["window"], {"source": "request", "center": 40, "width": 400})
        ds = pydicom.dcmread(path)
        by_hand = dicom_window(apply_modality_lut(ds.pixel_array, ds), 40, 400)
        png = os.path.join(self.tmp.name, "ct-by-hand.png")
        cv2.imwrite(png, by_hand)
        st, _, body = curl(self.d, "/v1/segment?outputs=mask", "-F", "image=@" + png)
        self.assertEqual(st, 200, body)
        a, b = decode_png(reply["mask"]["base64"]), decode_png(json.loads(body)["mask"]["base64"])
        self.assertLessEqual(int((a != b).sum()), 2, "pixels exactly on the threshold may flip")

    def test_seg_and_sc_validate_and_the_seg_frames_are_the_masks(self):
        fetched = subprocess.run(["bash", os.path.join(ROOT, "tests", "data", "fetch.sh")], capture_output=True,
                                 text=True, check=True).stdout.strip()
        cases = [(os.path.join(PYDICOM, "MR_small.dcm"), ""), (os.path.join(PYDICOM, "CT_small.dcm"), ""),
                 (os.path.join(PYDICOM, "SC_ybr_full_422_uncompressed.dcm"), ""),
                 (os.path.join(ROOT, fetched, "US-PAL-8-10x-echo.dcm"), "&frame=all"),
                 (os.path.join(ROOT, fetched, "CT-MONO2-16-ankle.dcm"), "")]
        for path, extra in cases:
            with self.subTest(file=os.path.basename(path)):
                st, _, body = curl(self.d, "/v1/segment?outputs=mask,dicom-seg,dicom-sc" + extra, "-H",
                                   "Content-Type: application/dicom", data_file=path)
                self.assertEqual(st, 200, body[:300])
                reply = json.loads(body)
                validate_segment_reply(reply)
                src = pydicom.dcmread(path)
                masks = [decode_png(f["mask"]["base64"]) for f in reply.get("frames", [reply])]
                for key in ("dicom_seg", "dicom_sc"):
                    out = os.path.join(self.tmp.name, key + ".dcm")
                    with open(out, "wb") as f:
                        f.write(base64.b64decode(reply[key]["base64"]))
                    r = subprocess.run(["dciodvfy", out], capture_output=True, text=True)
                    ours = [l for l in (r.stdout + r.stderr).splitlines()
                            if l.startswith("Error") and "Illegal root for UID" not in l]  # the source's own UIDs
                    self.assertEqual(ours, [], "%s %s:\n%s" % (os.path.basename(path), key, r.stdout + r.stderr))
                seg = pydicom.dcmread(io.BytesIO(base64.b64decode(reply["dicom_seg"]["base64"])))
                self.assertEqual(seg.StudyInstanceUID, src.StudyInstanceUID)
                self.assertNotEqual(seg.SeriesInstanceUID, src.SeriesInstanceUID)
                self.assertEqual(seg.ReferencedSeriesSequence[0].SeriesInstanceUID, src.SeriesInstanceUID)
                frames = seg.pixel_array.reshape(len(masks), *masks[0].shape)
                for i, m in enumerate(masks):
                    self.assertTrue(np.array_equal(frames[i] > 0, m > 0), "SEG frame %d" % (i + 1))
        # exactly one DICOM output with Accept: application/dicom: the object is the body
        st, hd, body = curl(self.d, "/v1/segment?outputs=dicom-seg", "-H", "Content-Type: application/dicom", "-H",
                            "Accept: application/dicom", data_file=os.path.join(PYDICOM, "MR_small.dcm"))
        self.assertEqual((st, hd.get("content-type")), (200, "application/dicom"))
        self.assertEqual(pydicom.dcmread(io.BytesIO(body)).Modality, "SEG")

    def test_frames_are_chosen_and_bounded(self):
        fetched = subprocess.run(["bash", os.path.join(ROOT, "tests", "data", "fetch.sh")], capture_output=True,
                                 text=True, check=True).stdout.strip()
        cine = os.path.join(ROOT, fetched, "US-PAL-8-10x-echo.dcm")
        st, _, body = curl(self.d, "/v1/segment?outputs=mask&frame=all", "-H", "Content-Type: application/dicom",
                           data_file=cine)
        frames = json.loads(body)["frames"]
        self.assertEqual([f["frame"] for f in frames], list(range(1, 11)))
        st, _, body = curl(self.d, "/v1/segment?outputs=mask&frame=3", "-H", "Content-Type: application/dicom",
                           data_file=cine)
        self.assertEqual(st, 200)
        self.assertTrue(np.array_equal(decode_png(json.loads(body)["mask"]["base64"]),
                                       decode_png(frames[2]["mask"]["base64"])))
        st, _, body = curl(self.d, "/v1/segment?frame=11", "-H", "Content-Type: application/dicom", data_file=cine)
        self.assertEqual(st, 400, body)
        self.assertIn("10 frame", json.loads(body)["detail"])

    def test_hostile_objects_are_refused_before_dcmtk_allocates_and_the_daemon_lives(self):
        # each a few KB that unchecked would make DCMTK allocate gigabytes (the fuzzer's first
        # finding: malloc(3456107596)) or recurse 2000 sequences deep
        for name, (data, status, needle) in dicomgen.hostile().items():
            path = os.path.join(self.tmp.name, name + ".dcm")
            with open(path, "wb") as f:
                f.write(data)
            with self.subTest(object=name):
                st, hd, body = curl(self.d, "/v1/segment", "-H", "Content-Type: application/dicom", data_file=path)
                self.assertEqual(st, status, body[:300])
                self.assertIn(needle, json.loads(body)["detail"])
        st, _, _ = curl(self.d, "/v1/segment", "-H", "Content-Type: application/dicom",
                        data_file=os.path.join(PYDICOM, "MR_small.dcm"))
        self.assertEqual(st, 200, "the daemon serves on")

    def test_no_patient_identifier_reaches_the_reply_or_the_log(self):
        path = os.path.join(PYDICOM, "CT_small.dcm")
        ds = pydicom.dcmread(path)
        secrets = [str(ds.PatientName), str(ds.PatientID), str(ds.get("PatientBirthDate", ""))]
        secrets = [s for s in secrets if len(s) >= 4]
        self.assertTrue(secrets)
        st, _, body = curl(self.d, "/v1/segment?outputs=mask,overlay", "-H", "Content-Type: application/dicom",
                           data_file=path)
        text = body.decode()
        reply = json.loads(text)
        self.assertEqual(reply["dicom"]["sop_instance_uid"], ds.SOPInstanceUID)
        self.assertEqual(reply["dicom"]["modality"], "CT")
        self.assertEqual(reply["dicom"]["pixel_spacing_mm"], [float(v) for v in ds.PixelSpacing])
        self.assertIn("area_mm2", reply["classes"][0])
        for s in secrets:
            self.assertNotIn(s, text)
            self.assertNotIn(s, self.d.output())


if __name__ == "__main__":
    unittest.main(verbosity=2)
