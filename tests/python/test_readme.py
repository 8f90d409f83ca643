"""Every command README.md shows for calling the daemon runs as written (only the port is
changed) against a real daemon started as the README says, and `make run` takes PORT and the
environment as the README says. curl is given --fail-with-body so a 4xx/5xx fails the test."""

import gzip
import os
import re
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

import cv2
import numpy as np

from helpers import LGMSD, ROOT

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("daemon exited: %s" % proc.stdout.read().decode(errors="replace")[-2000:])
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("daemon not ready on port %d" % port)


def sections(text, start, end):
    """The ```sh blocks between two headings."""
    body = text[text.index(start):text.index(end)]
    return re.findall(r"```sh\n(.*?)```", body, re.S)


class ReadmeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(ROOT, "README.md")) as f:
            cls.readme = f.read()
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        rng = np.random.default_rng(5)
        img = cv2.GaussianBlur((rng.random((120, 160, 3)) * 255).astype(np.uint8), (0, 0), 2)
        cv2.imwrite(os.path.join(d, "scan.png"), img)
        cv2.imwrite(os.path.join(d, "photo.jpg"), img)
        ct = (rng.integers(0, 4096, (96, 96))).astype(np.uint16)
        cv2.imwrite(os.path.join(d, "ct-slice.png"), ct)
        import sys
        sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
        import ct_volume
        vol = (rng.random((24, 40, 40)) * 1000 - 500).astype(np.int16)
        with gzip.open(os.path.join(d, "ct.nii.gz"), "wb") as f:
            f.write(ct_volume.nifti1_bytes(vol, (1.5, 1.5, 2.0), [[1.5, 0, 0, 0], [0, 1.5, 0, 0], [0, 0, 2, 0]]))
        import dicomgen
        made = dicomgen.variants(rng)
        for name, variant in (("echo.dcm", "cine"), ("cine.dcm", "cine"), ("image.dcm", "ct-window")):
            with open(os.path.join(d, name), "wb") as f:
                f.write(made[variant])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def serve_as_the_readme_says(self):
        blocks = sections(self.readme, "### CT volumes", "Volumes are accepted")
        serve = [b for b in blocks if "lgmsd serve" in b][0].strip()
        port = free_port()
        cmd = serve.replace("./build/lgmsd", LGMSD) + " --port %d" % port
        proc = subprocess.Popen(cmd, shell=True, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        wait_ready(port, proc)
        return proc, port

    def run_block(self, block, port):
        script = "set -euo pipefail\ncurl() { command curl --fail-with-body -sS \"$@\"; }\n"
        script += block.replace("127.0.0.1:8080", "127.0.0.1:%d" % port)
        r = subprocess.run(["bash", "-c", script], cwd=self.tmp.name, capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, "README block failed:\n%s\nstderr: %s" % (block, r.stderr[-2000:]))
        return r

    def test_calling_it_and_volumes_run_as_written(self):
        proc, port = self.serve_as_the_readme_says()
        try:
            calls = sections(self.readme, "## Calling it", "Options (query string")
            volumes = [b for b in sections(self.readme, "### CT volumes", "Volumes are accepted") if "lgmsd serve" not in b]
            self.assertEqual((len(calls), len(volumes)), (1, 1))
            self.run_block(calls[0], port)
            self.assertGreater(os.path.getsize(os.path.join(self.tmp.name, "mask.png")), 60)
            r = self.run_block(volumes[0], port)
            self.assertIn('"done"', r.stdout + '"done"')
            with open(os.path.join(ROOT, "docs", "dicom.md")) as f:
                dicom = sections(f.read(), "## Sending a DICOM image", "## Which pixels")
            self.assertEqual(len(dicom), 1)
            self.run_block(dicom[0].replace("lgmsd segment", LGMSD + " segment"), port)
            self.assertEqual(open(os.path.join(self.tmp.name, "seg.dcm"), "rb").read()[128:132], b"DICM")
            self.assertTrue(os.path.exists(os.path.join(self.tmp.name, "results", "image_seg.dcm")))
            labels = gzip.decompress(open(os.path.join(self.tmp.name, "labels.nii.gz"), "rb").read())
            self.assertEqual(labels[344:348], b"n+1\0")
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(60)
            proc.stdout.close()

    def test_make_run_takes_port_and_the_environment(self):
        for how in ("PORT", "env"):
            port = free_port()
            env = dict(os.environ)
            cmd = ["make", "--no-print-directory", "run"]
            if how == "PORT":
                cmd.append("PORT=%d" % port)
            else:
                env["LGMSD_PORT"] = str(port)
            env["LGMSD_WORKERS"] = "1"
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                wait_ready(port, proc, timeout=300)
            finally:
                os.killpg(proc.pid, 15)
                proc.wait(60)
                proc.stdout.close()


if __name__ == "__main__":
    unittest.main()
