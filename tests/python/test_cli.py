"""The command line as a user meets it: lgmsd segment on a folder (sorted, every image,
n/total progress on a terminal), outputs that would overwrite each other refused, every
refusal with its reason, and a port in use reported in one line before any warm-up."""

import os
import pty
import socket
import subprocess
import tempfile
import time
import unittest

import cv2
import numpy as np

from helpers import LGMSD, lgmsd


class SegmentCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.images = os.path.join(cls.tmp.name, "images")
        os.makedirs(cls.images)
        rng = np.random.default_rng(3)
        for name in ("b.png", "a.jpg", "c.png"):
            cv2.imwrite(os.path.join(cls.images, name), (rng.random((60, 80, 3)) * 255).astype(np.uint8))
        with open(os.path.join(cls.images, "notes.txt"), "w") as f:
            f.write("not an image\n")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_a_folder_is_its_images_sorted(self):
        out = os.path.join(self.tmp.name, "out", "nested")
        r = lgmsd("segment", self.images, "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [l.split(":")[0] for l in r.stdout.splitlines()]
        self.assertEqual([os.path.basename(l) for l in lines], ["a.jpg", "b.png", "c.png"])
        self.assertEqual(sorted(os.listdir(out)), sorted("%s_%s.png" % (s, k) for s in "abc" for k in ("mask", "overlay")))

    def test_progress_on_a_terminal(self):
        out = os.path.join(self.tmp.name, "tty")
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(LGMSD, [LGMSD, "segment", self.images, "--out", out])
        text = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            text += chunk
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, text)
        self.assertIn(b"3/3", text)
        self.assertIn(b"1/3", text)

    def test_refusals_say_why(self):
        clash = os.path.join(self.tmp.name, "clash")
        os.makedirs(clash)
        for ext in ("png", "jpg"):
            cv2.imwrite(os.path.join(clash, "x." + ext), np.zeros((20, 20, 3), np.uint8))
        cases = [
            (("segment", clash), 2, "would both write x_*"),
            (("segment", self.images, "--threshold", "2"), 2, "--threshold 2: threshold must be a number strictly between 0 and 1"),
            (("segment", self.images, "--alpha", "x"), 2, "alpha must be"),
            (("segment", self.images, "--window", "5"), 2, "window must be"),
            (("segment", self.images, "--bogus"), 2, "unknown option --bogus"),
            (("segment",), 2, "name at least one"),
            (("segment", "/nonexistent.png"), 2, "No such file or directory"),
            (("segment", self.images, "--out", "/proc/lgmsd-out"), 2, "cannot create /proc/lgmsd-out"),
            (("eval", "--threshold", "0"), 2, "threshold must be"),
            (("preprocess", "--window", "1,0", "--output", "x.npy", "y.png"), 2, "window must be"),
        ]
        for args, code, needle in cases:
            with self.subTest(args=args):
                r = lgmsd(*args)
                self.assertEqual(r.returncode, code, r.stderr)
                self.assertIn(needle, r.stderr)
                self.assertTrue(r.stderr.startswith("lgmsd %s: " % args[0]), r.stderr)


class ServeCliTest(unittest.TestCase):
    def test_a_port_in_use_fails_at_once_in_one_line(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            t0 = time.time()
            r = subprocess.run([LGMSD, "serve", "--port", str(port)], capture_output=True, text=True, timeout=60)
            took = time.time() - t0
        self.assertEqual(r.returncode, 1)
        errors = [l for l in r.stderr.splitlines() if '"level":"error"' in l]
        self.assertEqual(len(errors), 1, r.stderr)
        self.assertIn("Address already in use", errors[0])
        self.assertNotIn("warm", r.stderr, "no worker warmed up")
        self.assertLess(took, 5)

    def test_debug_log_has_no_libmicrohttpd_logger_warning(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        p = subprocess.Popen([LGMSD, "serve", "--port", str(port), "--log-level", "debug", "--workers", "1"],
                             stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        p.terminate()
        _, err = p.communicate(timeout=60)
        self.assertNotIn("EXTERNAL_LOGGER", err)
        self.assertIn("listening on", err)


if __name__ == "__main__":
    unittest.main()
