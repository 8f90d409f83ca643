"""The Orthanc plugin end to end, with a real Orthanc from Debian and a real lgmsd, both on
the loopback of a network namespace that has nothing else (run by tests/orthanc/run.sh:
Orthanc cannot be bound to loopback alone).

Shown: instances stored through Orthanc's REST API come back segmented, the SEG (and the
secondary capture) stored into the same study; the SEG passes dciodvfy and its frames are
lgmsd's masks; the plugin skips its own outputs (no loop); while lgmsd is down it retries
with backoff and succeeds once lgmsd is up; a study queued by hand through the plugin's
route is segmented; Orthanc's GET /system stays fast throughout."""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import numpy as np
import pydicom

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LGMSD = os.path.join(ROOT, os.environ.get("LGMSD_BIN", "build/lgmsd"))
PLUGIN = os.path.join(ROOT, os.environ.get("LGMSD_PLUGIN", "build/liblgmsd-orthanc.so"))
PYDICOM_FILES = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, data=None, headers=None, timeout=30):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if http("GET", url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("no answer from " + url)


class OrthancPluginTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lgmsd-orthanc-")
        cls.lgmsd_port, cls.orthanc_port = free_port(), free_port()
        cls.lgmsd_url = "http://127.0.0.1:%d" % cls.lgmsd_port
        cls.orthanc = "http://127.0.0.1:%d" % cls.orthanc_port
        cls.lgmsd = None
        config = {
            "Name": "lgmsd-test",
            "StorageDirectory": os.path.join(cls.tmp, "db"),
            "IndexDirectory": os.path.join(cls.tmp, "db"),
            "HttpPort": cls.orthanc_port,
            "DicomServerEnabled": False,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "Plugins": [PLUGIN],
            "Lgmsd": {"Url": cls.lgmsd_url, "Modalities": ["US", "MR"], "Outputs": ["dicom-seg", "dicom-sc"],
                      "Retries": 8, "Timeout": 60},
        }
        path = os.path.join(cls.tmp, "orthanc.json")
        with open(path, "w") as f:
            json.dump(config, f)
        cls.orthanc_log = open(os.path.join(cls.tmp, "orthanc.log"), "w+")
        cls.orthanc_proc = subprocess.Popen(["Orthanc", "--verbose", path], stdout=cls.orthanc_log,
                                            stderr=subprocess.STDOUT)
        wait_for(cls.orthanc + "/system")

    @classmethod
    def tearDownClass(cls):
        cls.stop_lgmsd()
        cls.orthanc_proc.terminate()
        cls.orthanc_proc.wait(60)
        cls.orthanc_log.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def start_lgmsd(cls):
        cls.lgmsd_log = open(os.path.join(cls.tmp, "lgmsd.log"), "w+")
        cls.lgmsd = subprocess.Popen([LGMSD, "serve", "--port", str(cls.lgmsd_port), "--workers", "1"],
                                     stdout=cls.lgmsd_log, stderr=subprocess.STDOUT)
        wait_for(cls.lgmsd_url + "/readyz")

    @classmethod
    def stop_lgmsd(cls):
        if cls.lgmsd and cls.lgmsd.poll() is None:
            cls.lgmsd.terminate()
            assert cls.lgmsd.wait(60) == 0
            cls.lgmsd_log.close()

    def logs(self):
        self.orthanc_log.seek(0)
        return self.orthanc_log.read()[-6000:]

    def store(self, path):
        with open(path, "rb") as f:
            st, body = http("POST", self.orthanc + "/instances", f.read(), {"Content-Type": "application/dicom"})
        self.assertEqual(st, 200, body)
        return json.loads(body)

    def outputs_of(self, study, timeout=180):
        """(SEG instance ids, SC instance ids) in the study once both appear, polling /system meanwhile."""
        deadline, worst = time.time() + timeout, 0.0
        while time.time() < deadline:
            t0 = time.time()
            st, _ = http("GET", self.orthanc + "/system")
            worst = max(worst, time.time() - t0)
            self.assertEqual(st, 200)
            seg, sc = [], []
            for series in json.loads(http("GET", self.orthanc + "/studies/%s/series" % study)[1]):
                modality = series["MainDicomTags"].get("Modality")
                if modality == "SEG":
                    seg += series["Instances"]
                elif modality == "OT" and series["MainDicomTags"].get("SeriesDescription", "").startswith("lgmsd"):
                    sc += series["Instances"]
            if seg and sc:
                return seg, sc, worst
            time.sleep(0.05)
        self.fail("no SEG and SC appeared in study %s:\n%s" % (study, self.logs()))

    def test_1_a_cine_ultrasound_comes_back_segmented_while_orthanc_stays_responsive(self):
        fetched = subprocess.run(["bash", os.path.join(ROOT, "tests", "data", "fetch.sh")], capture_output=True,
                                 text=True, check=True).stdout.strip()
        source = os.path.join(ROOT, fetched, "US-PAL-8-10x-echo.dcm")
        self.start_lgmsd()
        t0 = time.time()
        stored = self.store(source)
        seg_ids, sc_ids, worst = self.outputs_of(stored["ParentStudy"])
        took = time.time() - t0
        print("\northanc: 10-frame ultrasound segmented and stored back in %.1f s; GET /system at most %.1f ms meanwhile"
              % (took, worst * 1e3), file=sys.stderr)
        self.assertLess(worst, 0.5, "Orthanc's REST API stalled while lgmsd worked")
        self.assertEqual(len(seg_ids), 1)
        seg = pydicom.dcmread(__import__("io").BytesIO(http("GET", self.orthanc + "/instances/%s/file" % seg_ids[0])[1]))
        src = pydicom.dcmread(source)
        self.assertEqual(seg.StudyInstanceUID, src.StudyInstanceUID)
        self.assertEqual(seg.ReferencedSeriesSequence[0].SeriesInstanceUID, src.SeriesInstanceUID)
        self.assertEqual(int(seg.NumberOfFrames), 10)
        # the SEG's frames are lgmsd's masks for the same frames
        with open(source, "rb") as f:
            st, body = http("POST", self.lgmsd_url + "/v1/segment?outputs=mask&frame=all", f.read(),
                            {"Content-Type": "application/dicom"}, timeout=120)
        self.assertEqual(st, 200, body)
        import cv2
        for i, frame in enumerate(json.loads(body)["frames"]):
            mask = cv2.imdecode(np.frombuffer(base64.b64decode(frame["mask"]["base64"]), np.uint8), 0)
            self.assertTrue(np.array_equal(seg.pixel_array[i] > 0, mask > 0), "frame %d" % (i + 1))
        sc = pydicom.dcmread(__import__("io").BytesIO(http("GET", self.orthanc + "/instances/%s/file" % sc_ids[0])[1]))
        self.assertEqual(sc.BurnedInAnnotation, src.get("BurnedInAnnotation", "NO"))
        self.assertEqual(int(sc.NumberOfFrames), 10)
        # no loop: the plugin skipped its own SEG and SC
        time.sleep(3)
        again, _, _ = self.outputs_of(stored["ParentStudy"])
        self.assertEqual(again, seg_ids)

    def test_2_failures_are_retried_until_lgmsd_is_back_and_the_seg_validates(self):
        self.stop_lgmsd()
        stored = self.store(os.path.join(PYDICOM_FILES, "MR_small.dcm"))
        time.sleep(2.5)  # two attempts fail: connection refused
        self.assertIn("will retry", self.logs())
        self.start_lgmsd()
        seg_ids, _, worst = self.outputs_of(stored["ParentStudy"], timeout=120)
        st, body = http("GET", self.orthanc + "/instances/%s/file" % seg_ids[0])
        path = os.path.join(self.tmp, "seg.dcm")
        with open(path, "wb") as f:
            f.write(body)
        r = subprocess.run(["dciodvfy", path], capture_output=True, text=True)
        errors = [l for l in (r.stdout + r.stderr).splitlines() if l.startswith("Error")]
        self.assertEqual(errors, [], r.stdout + r.stderr)

    def test_3_a_study_queued_by_hand_is_segmented_whatever_its_modality(self):
        # CT is not among the configured modalities: stored, it is left alone ...
        stored = self.store(os.path.join(PYDICOM_FILES, "CT_small.dcm"))
        time.sleep(2)
        series = json.loads(http("GET", self.orthanc + "/studies/%s/series" % stored["ParentStudy"])[1])
        self.assertEqual([x["MainDicomTags"]["Modality"] for x in series], ["CT"])
        # ... until asked for (the way back after a restart lost the in-memory queue)
        st, body = http("POST", self.orthanc + "/lgmsd/studies/%s" % stored["ParentStudy"], b"")
        self.assertEqual((st, json.loads(body)), (200, {"queued": 1, "dropped": 0}))
        seg_ids, _, _ = self.outputs_of(stored["ParentStudy"], timeout=120)
        self.assertEqual(len(seg_ids), 1)
        self.assertEqual(http("GET", self.orthanc + "/lgmsd/studies/%s" % stored["ParentStudy"])[0], 405)
        self.assertEqual(http("POST", self.orthanc + "/lgmsd/studies/no-such-study", b"")[0], 404)


if __name__ == "__main__":
    unittest.main(verbosity=2)
