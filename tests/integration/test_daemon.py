"""Integration tests: the real lgmsd daemon on a free loopback port, driven with curl.

Run by tests/integration/run.sh (make test-integration) with LGMSD_BIN set; the daemon
serves the shipped default model unless LGMSD_TEST_MODEL names another file.
"""

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
LGMSD = os.path.abspath(os.environ.get("LGMSD_BIN", os.path.join(ROOT, "build", "lgmsd")))
SANITIZED = os.environ.get("LGMSD_SANITIZED") == "1"
START_TIMEOUT = 180 if SANITIZED else 60
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
from pngraw import palette_png  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from openapi_schema import validate, validate_segment_reply  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """One lgmsd serve process; stop() sends SIGTERM and returns the exit code."""

    def __init__(self, *args, env=None, scheme="http"):
        self.port = free_port()
        self.url = "%s://127.0.0.1:%d" % (scheme, self.port)
        cmd = [LGMSD, "serve", "--host", "127.0.0.1", "--port", str(self.port), *args]
        model = os.environ.get("LGMSD_TEST_MODEL")
        if model and "--model" not in args:
            cmd += ["--model", "default=" + model]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, env={**os.environ, **(env or {})})
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("lgmsd exited at start:\n" + self.output())
            try:
                if curl(self, "/readyz")[0] == 200:
                    return
            except subprocess.SubprocessError:
                pass
            time.sleep(0.2)
        self.proc.kill()
        raise RuntimeError("lgmsd did not become ready:\n" + self.output())

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def __del__(self):
        self.log.close()

    def stop(self, timeout=120):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def curl(daemon, path, *args, data_file=None, timeout=120):
    """(status, headers dict with lower-case names, body bytes) of one request."""
    with tempfile.NamedTemporaryFile() as hdr, tempfile.NamedTemporaryFile() as body:
        cmd = ["curl", "-sS", "--max-time", str(timeout), "-D", hdr.name, "-o", body.name, "-w", "%{http_code}", *args]
        if daemon.url.startswith("https:"):
            cmd.insert(1, "-k")  # the tests' self-signed certificate
        if data_file:
            cmd += ["--data-binary", "@" + data_file]
        r = subprocess.run(cmd + [daemon.url + path], capture_output=True, text=True, timeout=timeout + 10)
        if r.returncode not in (0, 22):
            raise subprocess.SubprocessError("curl failed (%d): %s" % (r.returncode, r.stderr))
        headers = {}
        with open(hdr.name, "rb") as f:
            head = f.read().decode("latin-1")
        with open(body.name, "rb") as f:
            content = f.read()
        for line in head.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        return int(r.stdout or 0), headers, content


def decode_png(b64):
    return cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_UNCHANGED)


class Images:
    """Test images in every accepted flavour, made once."""

    def __init__(self, folder):
        rng = np.random.default_rng(1)
        self.folder = folder
        grey = cv2.GaussianBlur((rng.random((190, 230)) * 255).astype(np.uint8), (0, 0), 3)
        cv2.circle(grey, (120, 90), 40, 20, -1)
        colour = cv2.merge([grey, grey // 2 + 60, 255 - grey])
        self.paths = {}
        self.add("grey8.png", grey)
        self.add("grey16.png", grey.astype(np.uint16) * 257)
        self.add("rgb.png", colour)
        rgba = cv2.cvtColor(colour, cv2.COLOR_BGR2BGRA)
        rgba[..., 3] = 128
        self.add("rgba.png", rgba)
        self.add("rgb.jpg", colour)
        self.add("grey.jpg", grey)
        p = os.path.join(folder, "progressive.jpg")
        assert cv2.imwrite(p, colour, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
        self.paths["progressive.jpg"] = p
        p = os.path.join(folder, "palette.png")
        palette_png(p, (grey // 32).astype(np.uint8), rng.integers(0, 256, (8, 3)))
        self.paths["palette.png"] = p
        with open(self.paths["rgb.png"], "rb") as f:
            png = f.read()
        self.write("truncated.png", png[: len(png) // 2])
        self.write("garbage.png", b"this is not an image at all" * 10)
        self.write("empty.png", b"")
        big = np.zeros((600, 700), np.uint8)
        self.add("big.png", big)
        self.size = {k: cv2.imread(v, cv2.IMREAD_UNCHANGED).shape[:2] for k, v in self.paths.items() if "." in k and k not in ("truncated.png", "garbage.png", "empty.png")}

    def add(self, name, img):
        p = os.path.join(self.folder, name)
        assert cv2.imwrite(p, img)
        self.paths[name] = p

    def write(self, name, data):
        p = os.path.join(self.folder, name)
        with open(p, "wb") as f:
            f.write(data)
        self.paths[name] = p


class OwnDaemonCase(unittest.TestCase):
    """A test class with a daemon of its own (started with DAEMON_ARGS) and a folder of test
    images; at the end the daemon must exit 0 and report no sanitizer finding."""

    DAEMON_ARGS = ()
    STOP_TIMEOUT = 120

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.img = Images(cls.tmp.name)
        cls.d = Daemon(*cls.DAEMON_ARGS)

    @classmethod
    def tearDownClass(cls):
        code = cls.d.stop(cls.STOP_TIMEOUT)
        out = cls.d.output()
        cls.tmp.cleanup()
        assert code == 0, "daemon exit code %d\n%s" % (code, out[-3000:])
        assert "ERROR: AddressSanitizer" not in out and "runtime error" not in out, out[-3000:]


class DaemonTest(OwnDaemonCase):
    DAEMON_ARGS = ("--workers", "2", "--queue", "16", "--max-body-bytes", "2000000", "--max-pixels", "400000")

    def assert_segmentation(self, status, headers, body, shape):
        self.assertEqual(status, 200, body[:500])
        self.assertEqual(headers.get("content-type"), "application/json")
        r = json.loads(body)
        validate_segment_reply(r)  # as api/openapi.json documents it, no more, no less
        h, w = shape
        self.assertEqual((r["height"], r["width"]), (h, w))
        self.assertEqual(headers.get("x-request-id"), r["request_id"])
        mask = decode_png(r["mask"]["base64"])
        overlay = decode_png(r["overlay"]["base64"])
        self.assertEqual(mask.shape, (h, w))
        self.assertEqual(overlay.shape, (h, w, 3))
        self.assertTrue(set(np.unique(mask)) <= {0, 255})
        cls = r["classes"][0]
        self.assertEqual(cls["pixels"], int((mask > 0).sum()))
        self.assertAlmostEqual(cls["fraction"], cls["pixels"] / (h * w), places=6)
        for key in ("queue", "decode", "preprocess", "inference", "postprocess", "encode", "total"):
            self.assertIn(key, r["timings_ms"])
        return r

    # ---- upload forms and formats

    def test_multipart_upload(self):
        st, hd, body = curl(self.d, "/v1/segment", "-F", "image=@" + self.img.paths["rgb.png"])
        self.assert_segmentation(st, hd, body, self.img.size["rgb.png"])

    def test_raw_png_and_jpeg(self):
        st, hd, body = curl(self.d, "/v1/segment", "-H", "Content-Type: image/png", data_file=self.img.paths["grey8.png"])
        self.assert_segmentation(st, hd, body, self.img.size["grey8.png"])
        st, hd, body = curl(self.d, "/v1/models/default/segment", "-H", "Content-Type: image/jpeg", data_file=self.img.paths["rgb.jpg"])
        self.assert_segmentation(st, hd, body, self.img.size["rgb.jpg"])

    def test_json_base64_with_options(self):
        with open(self.img.paths["rgb.png"], "rb") as f:
            b64 = base64.b64encode(f.read()).decode()
        req = os.path.join(self.tmp.name, "req.json")
        with open(req, "w") as f:
            json.dump({"image": b64, "threshold": 0.3, "alpha": 0.6, "outputs": ["mask", "overlay", "probabilities"]}, f)
        st, hd, body = curl(self.d, "/v1/segment", "-H", "Content-Type: application/json", data_file=req)
        r = self.assert_segmentation(st, hd, body, self.img.size["rgb.png"])
        self.assertAlmostEqual(r["threshold"], 0.3, places=6)
        self.assertEqual(decode_png(r["probabilities"]["base64"]).shape, self.img.size["rgb.png"])

    def test_every_pixel_format(self):
        for name in ("grey8.png", "grey16.png", "rgb.png", "rgba.png", "palette.png", "rgb.jpg", "grey.jpg"):
            with self.subTest(image=name):
                st, hd, body = curl(self.d, "/v1/segment", "-F", "image=@" + self.img.paths[name])
                self.assert_segmentation(st, hd, body, self.img.size[name])

    def test_outputs_option(self):
        st, _, body = curl(self.d, "/v1/segment?outputs=mask&threshold=0.7", "-F", "image=@" + self.img.paths["rgb.png"])
        self.assertEqual(st, 200)
        r = json.loads(body)
        self.assertIn("mask", r)
        self.assertNotIn("overlay", r)
        st, _, body = curl(self.d, "/v1/segment", "-F", "image=@" + self.img.paths["rgb.png"], "-F", "overlay=false")
        self.assertNotIn("overlay", json.loads(body))

    # ---- errors: each produced by a real bad request

    def assert_problem(self, st, hd, body, status, needle=""):
        self.assertEqual(st, status, body[:400])
        self.assertEqual(hd.get("content-type"), "application/problem+json")
        p = json.loads(body)
        validate(p, "Problem")
        self.assertEqual(p["status"], status)
        self.assertTrue(p["title"])
        self.assertIn(needle, p.get("detail", ""))
        return p

    def test_400_bad_requests(self):
        rgb = self.img.paths["rgb.png"]
        cases = [
            (("/v1/segment?threshold=2", "-F", "image=@" + rgb), "threshold"),
            (("/v1/segment?colour=red", "-F", "image=@" + rgb), "unknown option"),
            (("/v1/segment", "-F", "picture=@" + rgb), "no \"image\" field"),
            (("/v1/segment", "-F", "threshold=0.5"), "no \"image\" field"),
            (("/v1/segment", "-H", "Content-Type: application/json", "--data", "{\"image\": \"***\"}"), "base64"),
            (("/v1/segment", "-H", "Content-Type: application/json", "--data", "{\"image\": "), "JSON body"),
            (("/v1/segment", "-H", "Content-Type: application/json", "--data", "{\"image\": \"eA==\", \"x\": 1,}"), "JSON"),
            (("/v1/segment", "-H", "Content-Type: application/json", "--data", "[" * 5000 + "]" * 5000), "JSON"),
            (("/v1/segment", "-H", "Content-Type: image/png", "--data-binary", "@" + self.img.paths["empty.png"]), "no image bytes"),
            (("/v1/segment", "-H", "Content-Type: multipart/form-data", "--data", "x"), "boundary"),
        ]
        for args, needle in cases:
            with self.subTest(args=args[:2]):
                self.assert_problem(*curl(self.d, *args), 400, needle)

    def test_404_and_405(self):
        self.assert_problem(*curl(self.d, "/v1/models/nope/segment", "-F", "image=@" + self.img.paths["rgb.png"]), 404, "nope")
        self.assert_problem(*curl(self.d, "/v2/segment"), 404, "no route")
        st, hd, body = curl(self.d, "/v1/segment")
        self.assert_problem(st, hd, body, 405)
        self.assertEqual(hd.get("allow"), "POST")
        self.assert_problem(*curl(self.d, "/healthz", "-X", "DELETE"), 405)

    def test_413_limits_named(self):
        big = os.path.join(self.tmp.name, "big.bin")
        with open(big, "wb") as f:
            f.write(b"\x89PNG" + os.urandom(2100000))
        self.assert_problem(*curl(self.d, "/v1/segment", "-H", "Content-Type: image/png", data_file=big), 413, "max_body_bytes")
        # the same without Content-Length: chunked, discarded, answered at the end
        self.assert_problem(*curl(self.d, "/v1/segment", "-H", "Content-Type: image/png", "-H", "Transfer-Encoding: chunked",
                                  data_file=big), 413, "max_body_bytes")
        self.assert_problem(*curl(self.d, "/v1/segment", "-F", "image=@" + big), 413, "max_body_bytes")
        self.assert_problem(*curl(self.d, "/v1/segment", "-F", "image=@" + self.img.paths["big.png"]), 413, "max_pixels")

    def test_415_and_422(self):
        rgb = self.img.paths["rgb.png"]
        self.assert_problem(*curl(self.d, "/v1/segment", "-H", "Content-Type: text/plain", data_file=rgb), 415, "Content-Type")
        self.assert_problem(*curl(self.d, "/v1/segment", "-H", "Content-Type: image/png", data_file=self.img.paths["garbage.png"]), 415, "neither PNG, JPEG nor DICOM")
        self.assert_problem(*curl(self.d, "/v1/segment", "-F", "image=@" + self.img.paths["truncated.png"]), 422, "PNG")

    def test_daemon_keeps_serving_after_errors(self):
        for _ in range(3):
            curl(self.d, "/v1/segment", "-F", "image=@" + self.img.paths["truncated.png"])
        st, hd, body = curl(self.d, "/v1/segment", "-F", "image=@" + self.img.paths["rgb.png"])
        self.assert_segmentation(st, hd, body, self.img.size["rgb.png"])

    # ---- the other routes

    def test_probes_models_openapi(self):
        self.assertEqual(curl(self.d, "/healthz")[0], 200)
        self.assertEqual(curl(self.d, "/healthz", "-I")[0], 200)
        st, _, body = curl(self.d, "/readyz")
        self.assertEqual((st, json.loads(body)["status"]), (200, "ready"))
        validate(json.loads(body), "Status")
        st, _, body = curl(self.d, "/v1/models")
        models = json.loads(body)
        validate(models, "ModelList")
        self.assertEqual(models["default"], "default")
        self.assertEqual(models["models"][0]["input"], {"width": 256, "height": 256})
        st, _, body = curl(self.d, "/openapi.json")
        self.assertIn("/v1/models/{name}/segment", json.loads(body)["paths"])

    def test_metrics_counters_move(self):
        def count():
            _, _, body = curl(self.d, "/metrics")
            m = re.search(rb'lgmsd_requests_total\{route="segment",status="200"\} (\d+)', body)
            return int(m.group(1)) if m else 0

        before = count()
        curl(self.d, "/v1/segment", "-F", "image=@" + self.img.paths["grey8.png"])
        self.assertEqual(count(), before + 1)
        _, _, body = curl(self.d, "/metrics")
        for name in (b"lgmsd_inference_seconds_count", b"lgmsd_queue_depth", b"lgmsd_workers_busy", b"lgmsd_rejections_total"):
            self.assertIn(name, body)


def parallel(n, fn):
    results = [None] * n
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, fn(i))) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


class OverloadAndDrainTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.img = Images(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_queue_of_one_answers_503_with_retry_after(self):
        d = Daemon("--workers", "1", "--queue", "1")
        try:
            res = parallel(8, lambda i: curl(d, "/v1/segment", "-F", "image=@" + self.img.paths["rgb.png"]))
            codes = [r[0] for r in res]
            self.assertTrue(set(codes) <= {200, 503}, codes)
            self.assertIn(503, codes)
            self.assertIn(200, codes)
            for st, hd, body in res:
                if st == 503:
                    self.assertEqual(hd.get("retry-after"), "1")
                    self.assertIn("queue", json.loads(body)["detail"])
        finally:
            self.assertEqual(d.stop(), 0, d.output()[-2000:])

    def test_sigterm_under_load_answers_every_accepted_request(self):
        d = Daemon("--workers", "1", "--queue", "16", "--drain-timeout", "120")
        results = []

        def client(i):
            time.sleep(0.05 * i)
            return curl(d, "/v1/segment", "-F", "image=@" + self.img.paths["grey8.png"])

        t = threading.Thread(target=lambda: results.extend(parallel(6, client)))
        t.start()
        time.sleep(0.5)
        d.proc.send_signal(signal.SIGTERM)
        t.join()
        code = d.proc.wait(120)  # no second signal: that one means "exit now"
        out = d.output()
        self.assertEqual(code, 0, out[-2000:])
        codes = [r[0] for r in results]
        # accepted before the signal: 200; arriving after it: refused (503) or not connected
        self.assertIn(200, codes)
        self.assertTrue(set(codes) <= {200, 503, 0}, codes)
        self.assertIn("drained", out)


class HostileInputTest(OwnDaemonCase):
    DAEMON_ARGS = ("--workers", "1", "--max-connections", "20", "--connection-timeout", "2")

    def write(self, name, data):
        p = os.path.join(self.tmp.name, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def test_huge_declared_dimensions_are_refused_before_allocation(self):
        import struct
        import zlib

        def chunk(kind, payload):
            return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

        png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)) + \
            chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
        st, _, body = curl(self.d, "/v1/segment", "-F", "image=@" + self.write("huge.png", png))
        self.assertEqual(st, 413, body)
        # a JPEG whose frame header claims 60000 x 60000
        with open(self.img.paths["grey.jpg"], "rb") as f:
            jpg = bytearray(f.read())
        sof = jpg.find(b"\xff\xc0")
        self.assertGreater(sof, 0)
        jpg[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)
        st, _, body = curl(self.d, "/v1/segment", "-H", "Content-Type: image/jpeg", data_file=self.write("huge.jpg", bytes(jpg)))
        self.assertEqual(st, 413, body)
        st, hd, body = curl(self.d, "/v1/segment", "-F", "image=@" + self.img.paths["grey8.png"])
        self.assertEqual(st, 200)  # and the daemon still serves

    def test_a_jpeg_of_thousands_of_scans_is_refused_before_decoding(self):
        # 2082 one-coefficient scans over 5120 x 5120: 2.2 MB that took 3.8 s of a worker to
        # decode before the scan count was checked (libturbojpeg 2.1 has no limit)
        bomb = os.path.join(self.tmp.name, "scans.jpg")
        r = subprocess.run([os.path.join(ROOT, "build", "jpeg-scans"), "5120", "5120", bomb], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        st, _, body = curl(self.d, "/v1/segment", "-H", "Content-Type: image/jpeg", data_file=bomb)
        self.assertEqual(st, 422, body)
        self.assertIn("2082 scans", json.loads(body)["detail"])
        st, _, body = curl(self.d, "/v1/segment", "-F", "image=@" + self.img.paths["progressive.jpg"])
        self.assertEqual(st, 200, "an ordinary progressive JPEG still decodes")

    def daemon_fds(self):
        return len(os.listdir("/proc/%d/fd" % self.d.proc.pid))

    def test_connection_cap_holds_with_thousands_of_idle_connections(self):
        import resource
        n = min(3000, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 200)
        self.assertGreaterEqual(n, 1000, "raise the open-file limit to run this test")
        fds_before = self.daemon_fds()
        idle = []
        try:
            for _ in range(n):  # far more idle connections than max_connections = 20
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", self.d.port))  # in progress or done; the kernel queues the rest
                idle.append(s)
            time.sleep(1.0)
            # the cap holds: the daemon keeps at most max_connections sockets (and 8 being
            # closed to make room), whatever the flood
            self.assertLessEqual(self.daemon_fds(), fds_before + 20 + 8)
            time.sleep(2.5)  # connection_timeout = 2 s closes the idle ones it accepted ...
            self.assertLessEqual(self.daemon_fds(), fds_before + 20 + 8)  # ... and the next ones wait their turn
        finally:
            for s in idle:
                s.close()
        st, _, _ = curl(self.d, "/healthz")
        self.assertEqual(st, 200)
        st, _, _ = curl(self.d, "/v1/segment", "-F", "image=@" + self.img.paths["grey8.png"])
        self.assertEqual(st, 200)
        # the closed connections still queued in the accept backlog are accepted and dropped
        # one by one; give that a few seconds (slow under the sanitizers), then nothing is held
        deadline = time.time() + 30
        while self.daemon_fds() > fds_before + 2 and time.time() < deadline:
            time.sleep(0.2)
        self.assertLessEqual(self.daemon_fds(), fds_before + 2)

class FloodTest(OwnDaemonCase):
    """A flood of idle connections beyond max_connections, with timeouts far away: a new
    client still gets in (the one idle longest makes room), rather than waiting for a
    timeout to empty the table. Before, libmicrohttpd stopped accepting at the cap and only
    the header deadline (15 s) let anyone in."""
    DAEMON_ARGS = ("--workers", "1", "--max-connections", "50", "--connection-timeout", "120", "--header-timeout", "120")

    def test_a_probe_gets_in_while_a_thousand_idle_connections_are_held(self):
        idle = []
        try:
            for _ in range(1000):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", self.d.port))
                idle.append(s)
            time.sleep(1.0)
            for _ in range(5):
                st, _, _ = curl(self.d, "/healthz", timeout=5)  # no timeout of the daemon's could help it here
                self.assertEqual(st, 200)
            st, _, _ = curl(self.d, "/v1/segment", "-F", "image=@" + self.img.paths["grey8.png"], timeout=30)
            self.assertEqual(st, 200)
        finally:
            for s in idle:
                s.close()


class SlowClientTest(OwnDaemonCase):
    """Clients that trickle a byte a second, on a daemon of their own (no connections left
    over from other tests): header_timeout = 4 s closes one trickling its headers,
    read_timeout = 4 s one trickling its body; connection_timeout = 2 s, an inactivity
    timeout, never would."""

    DAEMON_ARGS = ("--workers", "1", "--connection-timeout", "2", "--read-timeout", "4", "--header-timeout", "4",
                   "--log-level", "debug")

    def trickle(self, data):
        """Send data one byte a second; return the seconds until the daemon closed the connection."""
        t0 = time.time()
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=30) as s:
            for i in range(len(data)):
                try:
                    s.sendall(data[i:i + 1])
                    s.settimeout(1.0)
                    if s.recv(4096) == b"":
                        return time.time() - t0
                except socket.timeout:
                    continue  # still open: send the next byte
                except (BrokenPipeError, ConnectionResetError):
                    return time.time() - t0
                if i % 3 == 0:  # meanwhile the daemon answers other clients at once
                    self.assertEqual(curl(self.d, "/healthz", timeout=5)[0], 200)
        return None

    def test_slow_clients_are_closed_by_the_read_deadline(self):
        # one byte a second never trips the 2 s idle timeout; read_timeout = 4 s closes it
        head = b"POST /v1/segment HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 500\r\n\r\n"
        took = self.trickle(head)
        self.assertIsNotNone(took, "a client trickling its headers was never closed:\n" + self.d.output()[-3000:])
        self.assertLess(took, 9)
        # the same with the headers sent at once and the body trickled
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=30) as s:
            s.sendall(head)
            t0, closed = time.time(), None
            for i in range(15):
                try:
                    s.sendall(b"x")
                    s.settimeout(1.0)
                    if s.recv(4096) == b"":
                        closed = time.time() - t0
                        break
                except socket.timeout:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    closed = time.time() - t0
                    break
        self.assertIsNotNone(closed, "a client trickling its body was never closed:\n" + self.d.output()[-3000:])
        self.assertLess(closed, 9)
        st, _, body = curl(self.d, "/metrics")
        for reason in (b"header_timeout", b"read_timeout"):
            m = re.search(rb'lgmsd_rejections_total\{reason="' + reason + rb'"\} (\d+)', body)
            self.assertGreaterEqual(int(m.group(1)), 1, body[-800:])
        st, _, _ = curl(self.d, "/v1/segment", "-F", "image=@" + self.img.paths["grey8.png"])
        self.assertEqual(st, 200)  # no worker was held


class LatencyModeTest(unittest.TestCase):
    def test_one_worker_with_an_engine_team_gives_the_same_masks(self):
        with tempfile.TemporaryDirectory() as tmp:
            img = Images(tmp)
            team = Daemon("--workers", "1", "--engine-threads", "2")
            single = Daemon("--workers", "1", "--engine-threads", "1")
            try:
                for name in ("rgb.png", "grey8.png"):
                    masks = []
                    for d in (team, single):
                        st, _, body = curl(d, "/v1/segment?outputs=mask", "-F", "image=@" + img.paths[name])
                        self.assertEqual(st, 200, body)
                        masks.append(decode_png(json.loads(body)["mask"]["base64"]))
                    # logits agree to float rounding; a pixel exactly on the threshold could flip
                    self.assertLessEqual(int(np.count_nonzero(masks[0] != masks[1])), 2, name)
            finally:
                self.assertEqual(team.stop(60), 0, team.output()[-2000:])
                self.assertEqual(single.stop(60), 0, single.output()[-2000:])
            self.assertIn("1 worker(s) x 2 engine thread(s)", team.output())


class VolumeJobTest(OwnDaemonCase):
    """A real head CT (Debian's invesalius-examples) through POST /v1/models/{name}/volumes,
    with a small LGMSNet-3D (the parity fixture: random weights, so labels are noise, but
    every stage of the pipeline runs) on ONE worker, so the 2-D request below can only be
    answered early because volume jobs let waiting 2-D requests run between patches."""

    DAEMON_ARGS = ("--workers", "1", "--model", "default=" + os.path.join(ROOT, "models", "lgmsnet-phantom.lgms"),
                   "--model", "ct=" + os.path.join(ROOT, "tests", "fixtures", "small3d-14class.lgms"),
                   "--max-body-bytes", "100000000", "--max-jobs", "3")
    STOP_TIMEOUT = 300

    @classmethod
    def setUpClass(cls):
        sys.path.insert(0, HERE)
        import ct_volume

        super().setUpClass()
        cls.nii = os.path.join(cls.tmp.name, "cranium.nii.gz")
        cls.shape, cls.spacing, cls.affine = ct_volume.write_nifti(cls.nii)

    def truncated(self):
        """A volume whose header passes the checks and whose data is cut short."""
        import ct_volume

        path = os.path.join(self.tmp.name, "truncated.nii")
        with open(path, "wb") as f:
            f.write(ct_volume.nifti1_header_only((16, 16, 8), (1.5, 1.5, 2.0), bytes(100)))
        return path

    def post_volume(self, path):
        st, hd, body = curl(self.d, "/v1/models/ct/volumes", "-H", "Content-Type: application/octet-stream",
                            data_file=path)
        self.assertEqual(st, 202, body)
        job = json.loads(body)
        self.assertEqual(hd["location"], "/v1/jobs/" + job["id"])
        return job["id"]

    def wait(self, job_id, timeout=900):
        deadline = time.time() + timeout
        while time.time() < deadline:
            st, _, body = curl(self.d, "/v1/jobs/" + job_id)
            self.assertEqual(st, 200, body)
            job = json.loads(body)
            if job["state"] not in ("queued", "running"):
                return job
            time.sleep(0.5)
        self.fail("job %s did not finish in %d s" % (job_id, timeout))

    def test_ct_volume_gives_labels_on_the_input_grid_and_2d_is_not_starved(self):
        import gzip
        import struct

        t0 = time.time()
        job_id = self.post_volume(self.nii)
        while json.loads(curl(self.d, "/v1/jobs/" + job_id)[2])["state"] == "queued":
            time.sleep(0.1)
        st, _, body = curl(self.d, "/v1/segment", "-F", "image=@" + self.img.paths["grey8.png"])
        self.assertEqual(st, 200, body)
        during = json.loads(curl(self.d, "/v1/jobs/" + job_id)[2])
        self.assertEqual(during["state"], "running", "the 2-D request waited for the whole volume")
        job = self.wait(job_id)
        took = time.time() - t0
        self.assertEqual(job["state"], "done", job)
        validate(job, "Job")
        validate(json.loads(curl(self.d, "/v1/jobs")[2]), "JobList")
        r = job["result"]
        self.assertEqual(r["grid"]["size"], [256, 256, 108])
        self.assertEqual(r["grid"]["axes"], "RAS", "the test volume's sform points i, j, k to R, A, S")
        self.assertEqual(r["grid"]["model_axes"], "RAS")
        self.assertEqual(job["progress"]["patches_done"], job["progress"]["patches_total"])
        nii = gzip.decompress(base64.b64decode(r["labels"]["base64"]))
        dims = struct.unpack_from("<8h", nii, 40)
        self.assertEqual(dims[:4], (3, 256, 256, 108))
        self.assertEqual(struct.unpack_from("<h", nii, 70)[0], 2, "uint8 labels")
        self.assertEqual(nii[344:348], b"n+1\0")
        self.assertEqual(struct.unpack_from("<hh", nii, 252), (1, 1), "qform and sform codes kept")
        for row in range(3):
            got = struct.unpack_from("<4f", nii, 280 + 16 * row)
            for g, w in zip(got, self.affine[row]):
                self.assertAlmostEqual(g, w, places=4)
        vox = np.frombuffer(nii[352:], np.uint8)
        self.assertEqual(vox.size, 256 * 256 * 108)
        self.assertLess(int(vox.max()), 14)
        counts = np.bincount(vox, minlength=14)
        for c in r["classes"]:
            self.assertEqual(c["voxels"], int(counts[c["id"]]), c)
            self.assertAlmostEqual(c["ml"], counts[c["id"]] * np.prod(self.spacing) / 1000, delta=0.01)
        montage = decode_png(r["montage"]["base64"])
        self.assertEqual(montage.shape, (512, 512, 3))
        limit = 600 if SANITIZED else 180  # docs/volumes.md: this volume and model take ~10 s on 2 cores
        self.assertLess(took, limit)

    def test_cancel_bad_volume_and_unknown_jobs(self):
        job_id = self.post_volume(self.nii)
        st, _, body = curl(self.d, "/v1/jobs/" + job_id, "-X", "DELETE")
        self.assertEqual(st, 202, body)
        self.assertEqual(self.wait(job_id)["state"], "cancelled")
        st, _, _ = curl(self.d, "/v1/jobs/" + job_id, "-X", "DELETE")
        self.assertEqual(st, 204)  # a finished job is forgotten
        self.assertEqual(curl(self.d, "/v1/jobs/" + job_id)[0], 404)
        junk = os.path.join(self.tmp.name, "junk.nii")
        with open(junk, "wb") as f:
            f.write(b"not a volume" * 100)
        st, _, body = curl(self.d, "/v1/models/ct/volumes", "-H", "Content-Type: application/octet-stream", data_file=junk)
        self.assertEqual(st, 422, body)  # no NIfTI header: refused before a job exists
        job = self.wait(self.post_volume(self.truncated()))  # a good header, data cut short: the job fails
        self.assertEqual((job["state"], job["error"]["status"]), ("failed", 422), job)
        self.assertEqual(curl(self.d, "/v1/jobs/0123456789abcdef")[0], 404)
        self.assertEqual(curl(self.d, "/v1/jobs/x", "-X", "PUT")[0], 405)
        st, _, body = curl(self.d, "/v1/models/ct/segment", "-F", "image=@" + self.img.paths["grey8.png"])
        self.assertEqual(st, 422, body)  # a 3-D model takes volumes
        st, _, body = curl(self.d, "/v1/models/default/volumes", "-H", "Content-Type: application/octet-stream",
                           data_file=self.nii)
        self.assertEqual(st, 422, body)  # and a 2-D model does not


    def test_hostile_volume_headers_are_refused_at_once_and_the_daemon_lives(self):
        import ct_volume

        for name, (data, status) in ct_volume.hostile_volumes().items():
            with self.subTest(volume=name):
                path = os.path.join(self.tmp.name, name)
                with open(path, "wb") as f:
                    f.write(data)
                st, hd, body = curl(self.d, "/v1/models/ct/volumes", "-H", "Content-Type: application/octet-stream",
                                    data_file=path)
                self.assertEqual(st, status, body)
                self.assertEqual(hd.get("content-type"), "application/problem+json")
                if status == 413:
                    self.assertRegex(json.loads(body)["detail"], "max_voxels|max_grid_voxels|max_patches")
        self.assertEqual(curl(self.d, "/healthz")[0], 200)
        self.assertEqual(curl(self.d, "/v1/segment", "-F", "image=@" + self.img.paths["grey8.png"])[0], 200)

    def small_volume(self, name="small.nii"):
        """A 16 x 16 x 8 volume at the fixture's spacing: one patch, quick."""
        import ct_volume

        path = os.path.join(self.tmp.name, name)
        with open(path, "wb") as f:
            f.write(ct_volume.nifti1_header_only((16, 16, 8), (1.5, 1.5, 2.0), bytes(16 * 16 * 8)))
        return path

    def test_a_full_dev_shm_fails_the_job_clearly_instead_of_truncating(self):
        # a daemon whose /dev/shm (where libnifti2 reads and writes) holds 1 MiB, as small
        # container defaults do: the 7 MB volume cannot pass through it. Before, a short
        # write went unnoticed and the job reported done with a truncated file.
        port = free_port()
        script = ("mount -t tmpfs -o size=1m tmpfs /dev/shm && exec %s serve --host 127.0.0.1 --port %d "
                  "--workers 1 --model ct=%s" % (LGMSD, port, os.path.join(ROOT, "tests", "fixtures",
                                                                            "small3d-14class.lgms")))
        proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            class D:
                url = "http://127.0.0.1:%d" % port
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    if curl(D, "/readyz", timeout=2)[0] == 200:
                        break
                except subprocess.SubprocessError:
                    pass
                time.sleep(0.2)
            st, _, body = curl(D, "/v1/models/ct/volumes", "-H", "Content-Type: application/gzip", data_file=self.nii)
            self.assertEqual(st, 202, body)
            job_id = json.loads(body)["id"]
            deadline = time.time() + 120
            while time.time() < deadline:
                job = json.loads(curl(D, "/v1/jobs/" + job_id)[2])
                if job["state"] not in ("queued", "running"):
                    break
                time.sleep(0.2)
            self.assertEqual(job["state"], "failed", job)
            self.assertIn("/dev/shm", job["error"]["detail"])
            self.assertEqual(curl(D, "/healthz")[0], 200)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)

    def test_job_table_is_bounded_by_results_not_failures(self):
        for job in json.loads(curl(self.d, "/v1/jobs")[2])["jobs"]:  # start from an empty table
            if job["state"] in ("queued", "running"):
                self.wait(job["id"])
            curl(self.d, "/v1/jobs/" + job["id"], "-X", "DELETE")
        small = self.small_volume()
        made = [self.post_volume(small) for _ in range(3)]  # max_jobs = 3 results kept for job_ttl
        for job_id in made:
            self.assertEqual(self.wait(job_id)["state"], "done")
        st, hd, body = curl(self.d, "/v1/models/ct/volumes", "-H", "Content-Type: application/octet-stream",
                            data_file=small)
        self.assertEqual(st, 503, body)
        self.assertIn("max_jobs", json.loads(body)["detail"])
        self.assertGreater(int(hd.get("retry-after")), 500, "Retry-After is when the oldest result expires")
        listed = {j["id"] for j in json.loads(curl(self.d, "/v1/jobs")[2])["jobs"]}
        self.assertEqual(listed, set(made))
        self.assertEqual(curl(self.d, "/v1/jobs/" + made[0], "-X", "DELETE")[0], 204)
        failed = self.wait(self.post_volume(self.truncated()))  # a freed slot; a failure takes it ...
        self.assertEqual(failed["state"], "failed")
        self.assertEqual(failed["error"]["status"], 422)
        self.assertEqual(failed["error"]["title"], "Unprocessable content")
        job_id = self.post_volume(small)  # ... and gives it up to the next job at once
        self.assertEqual(self.wait(job_id)["state"], "done")
        for j in made[1:] + [job_id]:
            self.assertEqual(curl(self.d, "/v1/jobs/" + j, "-X", "DELETE")[0], 204)


class LargeJsonTest(OwnDaemonCase):
    """Large JSON bodies are parsed and decoded on the workers, after a shape check that
    builds nothing: the loop thread stays free for probes. Before, four 60 MiB base64
    bodies stalled /healthz for 6.4 s (Kubernetes' liveness probe gives up after 1 s)."""
    DAEMON_ARGS = ("--workers", "1")

    def test_healthz_answers_within_a_second_while_large_json_bodies_are_parsed(self):
        big = os.path.join(self.tmp.name, "big.json")
        with open(big, "w") as f:
            f.write('{"image": "')
            chunk = base64.b64encode(np.random.default_rng(2).bytes(3 << 20)).decode()
            for _ in range(14):  # ~56 MiB of base64
                f.write(chunk)
            f.write('"}')
        deep = os.path.join(self.tmp.name, "array.json")
        with open(deep, "w") as f:  # not the documented shape: refused before a tree is built
            f.write('{"a": [' + "0," * (20 << 20) + '0]}')
        results = []

        def post(path):
            results.append(curl(self.d, "/v1/segment", "-H", "Content-Type: application/json", data_file=path,
                                timeout=120)[0])

        threads = [threading.Thread(target=post, args=(p,)) for p in (big, big, big, deep)]
        for t in threads:
            t.start()
        probes = 0
        while any(t.is_alive() for t in threads):
            st, _, _ = curl(self.d, "/healthz", timeout=3 if SANITIZED else 1)  # curl gives up: a failure here
            self.assertEqual(st, 200)
            probes += 1
            time.sleep(0.1)
        for t in threads:
            t.join()
        self.assertEqual(sorted(results), [400, 415, 415, 415], "bytes that are no image: 415; not the shape: 400")
        self.assertGreater(probes, 3)


class BodyBudgetTest(OwnDaemonCase):
    """Bodies being received share one budget: stalled near-limit uploads cannot pile up
    memory; the one that would pass it is answered 503, the others and probes go on."""
    DAEMON_ARGS = ("--workers", "1", "--max-body-bytes", "2000000", "--body-budget", "3000000")

    def test_the_upload_that_passes_the_budget_gets_503_and_memory_stays_bounded(self):
        socks = []
        try:
            for _ in range(2):  # two stalled uploads of 1.5 MB toward 1.9 MB each: 3 MB is spent at the second
                s = socket.create_connection(("127.0.0.1", self.d.port))
                s.sendall(b"POST /v1/segment HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                          b"Content-Length: 1900000\r\n\r\n" + b"\0" * 1500000)
                socks.append(s)
                time.sleep(0.3)
            self.assertEqual(curl(self.d, "/healthz")[0], 200)
            socks[1].sendall(b"\0" * 400000)
            head = socks[1].recv(4096).decode(errors="replace")
            self.assertIn("503", head.split("\r\n")[0])
            self.assertIn("Retry-After", head)
            self.assertIn("body_budget", head)
            metrics = curl(self.d, "/metrics")[2].decode()
            self.assertIn('lgmsd_rejections_total{reason="body_budget"} 1', metrics)
        finally:
            for s in socks:
                s.close()
        time.sleep(0.5)
        st, _, _ = curl(self.d, "/v1/segment", "-F", "image=@" + self.img.paths["grey8.png"])
        self.assertEqual(st, 200, "the budget came back when the uploads went")


class TlsTest(unittest.TestCase):
    def test_https_with_cert_and_key(self):
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                                "-days", "2", "-subj", "/CN=127.0.0.1"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            img = Images(tmp)
            d = Daemon("--workers", "1", "--tls-cert", cert, "--tls-key", key, scheme="https")
            try:
                st, _, body = curl(d, "/v1/segment", "-F", "image=@" + img.paths["grey8.png"])
                self.assertEqual((st, json.loads(body)["width"]), (200, 230))
                r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", d.url.replace("https", "http") + "/healthz"],
                                   capture_output=True, text=True)
                self.assertNotEqual(r.stdout, "200")  # plain HTTP is not served on a TLS port
                # what openssl s_client can negotiate: TLS 1.3, or 1.2 with ECDHE and AEAD only
                port = str(d.port)

                def handshake(*args):
                    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:" + port, *args],
                                       input="", capture_output=True, text=True, timeout=30)
                    return r.returncode == 0 and "Cipher is (NONE)" not in r.stdout, r.stdout + r.stderr

                ok, out = handshake("-tls1_3")
                self.assertTrue(ok, out[-800:])
                ok, out = handshake("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
                self.assertTrue(ok, out[-800:])
                for refused in (("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"), ("-tls1",  "-cipher", "DEFAULT@SECLEVEL=0"),
                                ("-tls1_2", "-cipher", "AES128-SHA"), ("-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"),
                                ("-tls1_2", "-cipher", "AES128-GCM-SHA256")):  # static RSA, CBC-SHA1
                    ok, out = handshake(*refused)
                    self.assertFalse(ok, "accepted %s" % " ".join(refused))
            finally:
                self.assertEqual(d.stop(60), 0, d.output()[-2000:])


class AuthTest(unittest.TestCase):
    def test_401_without_the_key(self):
        with tempfile.TemporaryDirectory() as tmp:
            keys = os.path.join(tmp, "keys")
            with open(keys, "w") as f:
                f.write("# clinic keys\ns3cret-key-1\n\nother-key\n")
            img = Images(tmp)
            d = Daemon("--workers", "1", "--api-key-file", keys)
            try:
                st, hd, body = curl(d, "/v1/segment", "-F", "image=@" + img.paths["grey8.png"])
                self.assertEqual(st, 401)
                self.assertEqual(hd.get("www-authenticate"), "Bearer")
                st, _, _ = curl(d, "/v1/segment", "-H", "Authorization: Bearer wrong", "-F", "image=@" + img.paths["grey8.png"])
                self.assertEqual(st, 401)
                st, _, _ = curl(d, "/v1/models")
                self.assertEqual(st, 401)
                st, _, _ = curl(d, "/v1/segment", "-H", "Authorization: Bearer other-key", "-F", "image=@" + img.paths["grey8.png"])
                self.assertEqual(st, 200)
                self.assertEqual(curl(d, "/healthz")[0], 200)  # probes stay open
            finally:
                self.assertEqual(d.stop(), 0)

    def test_a_job_belongs_to_the_key_that_made_it(self):
        sys.path.insert(0, HERE)
        import ct_volume

        with tempfile.TemporaryDirectory() as tmp:
            keys = os.path.join(tmp, "keys")
            with open(keys, "w") as f:
                f.write("key-a\nkey-b\n")
            vol = os.path.join(tmp, "v.nii")
            with open(vol, "wb") as f:
                f.write(ct_volume.nifti1_header_only((16, 16, 8), (1.5, 1.5, 2.0), bytes(16 * 16 * 8)))
            d = Daemon("--workers", "1", "--api-key-file", keys, "--model",
                       "ct=" + os.path.join(ROOT, "tests", "fixtures", "small3d-14class.lgms"))
            a, b = ("-H", "Authorization: Bearer key-a"), ("-H", "Authorization: Bearer key-b")
            try:
                st, _, body = curl(d, "/v1/models/ct/volumes", *a, "-H", "Content-Type: application/octet-stream",
                                   data_file=vol)
                self.assertEqual(st, 202, body)
                job = json.loads(body)["id"]
                self.assertEqual(len(job), 32)
                self.assertEqual(curl(d, "/v1/jobs/" + job, *b)[0], 404)
                self.assertEqual(curl(d, "/v1/jobs/" + job, *b, "-X", "DELETE")[0], 404)
                self.assertEqual(json.loads(curl(d, "/v1/jobs", *b)[2])["jobs"], [])
                self.assertEqual(curl(d, "/v1/jobs/" + job)[0], 401)
                self.assertEqual([j["id"] for j in json.loads(curl(d, "/v1/jobs", *a)[2])["jobs"]], [job])
                self.assertEqual(curl(d, "/v1/jobs/" + job, *a)[0], 200)
            finally:
                self.assertEqual(d.stop(), 0)


class ProtocolTest(OwnDaemonCase):
    """HTTP as clients and proxies speak it: keep-alive, CORS, refusals that reach clients
    that send their whole body at once, framing a proxy could read differently."""

    DAEMON_ARGS = ("--workers", "1", "--max-body-bytes", "2000000", "--cors-origins", "https://app.example.org")

    def raw(self, data, read_all=True):
        """Send bytes on one connection; everything the daemon answers until it closes (or 5 s)."""
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=5) as s:
            s.sendall(data)
            got = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
                    if not read_all and b"\r\n\r\n" in got:
                        break
            except socket.timeout:
                pass
        return got

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        one = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=5) as s:
            for i in range(3):
                s.sendall(one)
                head = b""
                while b"\r\n\r\n" not in head:
                    head += s.recv(4096)
                self.assertIn(b"200 OK", head, i)
                self.assertNotIn(b"Connection: close", head)
                time.sleep(0.05)

    def test_cors_preflight_and_exposed_headers(self):
        st, hd, _ = curl(self.d, "/v1/segment", "-X", "OPTIONS", "-H", "Origin: https://app.example.org",
                         "-H", "Access-Control-Request-Method: POST")
        self.assertEqual(st, 204)
        self.assertEqual(hd.get("access-control-allow-origin"), "https://app.example.org")
        self.assertIn("POST", hd.get("access-control-allow-methods"))
        self.assertIn("Authorization", hd.get("access-control-allow-headers"))
        st, hd, _ = curl(self.d, "/v1/segment", "-H", "Origin: https://app.example.org", "-F",
                         "image=@" + self.img.paths["grey8.png"])
        self.assertEqual(st, 200)
        self.assertIn("Retry-After", hd.get("access-control-expose-headers"))
        self.assertIn("Location", hd.get("access-control-expose-headers"))
        st, hd, _ = curl(self.d, "/v1/segment", "-X", "OPTIONS", "-H", "Origin: https://evil.example")
        self.assertIsNone(hd.get("access-control-allow-origin"))

    def test_an_early_refusal_reaches_a_client_that_sends_its_whole_body(self):
        body = b"\x89PNG" + os.urandom(12000000)  # more than socket buffers hold: the sender blocks
        head = b"POST /v1/segment HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n" % len(body)
        got = self.raw(head + body)
        self.assertIn(b" 413 ", got.split(b"\r\n")[0], got[:300])
        self.assertIn(b"max_body_bytes", got)
        got = self.raw(b"POST /v1/segment HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5000\r\n\r\n" +
                       b"x" * 5000)
        self.assertIn(b" 415 ", got.split(b"\r\n")[0])
        # urllib sends the body without Expect: 100-continue: it must read the status, not a reset
        import urllib.request
        import urllib.error
        req = urllib.request.Request(self.d.url + "/v1/segment", data=body, headers={"Content-Type": "image/png"})
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, timeout=30)
        self.assertEqual(cm.exception.code, 413)

    def test_framing_a_proxy_could_read_differently_is_refused(self):
        cases = [
            b"POST /v1/segment HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcd",
            b"POST /v1/segment HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"POST /v1/segment HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabcd",
            b"GET /healthz?" + b"&".join(b"a%d=1" % i for i in range(100)) + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        ]
        for raw in cases:
            with self.subTest(raw=raw[:80]):
                got = self.raw(raw)
                self.assertIn(b" 400 ", got.split(b"\r\n")[0], got[:300])
        self.assertEqual(curl(self.d, "/healthz")[0], 200)

    def test_window_option_on_a_12_bit_png(self):
        rng = np.random.default_rng(4)
        ct = np.clip(1040 + rng.normal(0, 150, (80, 100)), 0, 4095).astype(np.uint16)
        path = os.path.join(self.tmp.name, "ct12.png")
        cv2.imwrite(path, ct)
        plain = json.loads(curl(self.d, "/v1/segment", "-F", "image=@" + path)[2])
        self.assertIsNone(plain["window"])
        self.assertEqual(plain["input"], {"format": "png", "bits": 16, "channels": 1})
        st, _, body = curl(self.d, "/v1/segment?window=1040,400", "-F", "image=@" + path)
        self.assertEqual(st, 200, body)
        win = json.loads(body)
        self.assertEqual(win["window"], {"center": 1040, "width": 400, "source": "request"})
        dark = decode_png(plain["overlay"]["base64"]).mean()
        shown = decode_png(win["overlay"]["base64"]).mean()
        self.assertLess(dark, 20, "v >> 8 of 12-bit data is nearly black")
        self.assertGreater(shown, 60, "the window shows it")
        auto = json.loads(curl(self.d, "/v1/segment", "-F", "image=@" + path, "-F", "window=auto")[2])
        self.assertEqual(auto["window"]["source"], "auto")
        self.assertEqual(curl(self.d, "/v1/segment?window=40", "-F", "image=@" + path)[0], 400)


if __name__ == "__main__":
    unittest.main(verbosity=2)
