"""Real processes for the cluster tests: a redis-server from Debian (no persistence, a
temporary directory, a loopback port) and lgmsd replicas that share it."""

import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from test_daemon import Daemon, curl, free_port  # noqa: E402,F401
import ct_volume  # noqa: E402

FIXTURE_3D = os.path.join(ROOT, "tests", "fixtures", "small3d-14class.lgms")
PHANTOM_2D = os.path.join(ROOT, "models", "lgmsnet-phantom.lgms")


class Redis:
    """redis-server on 127.0.0.1:port; restart() keeps the port (and, without persistence,
    loses the data, as a restarted cache would)."""

    def __init__(self, password=None):
        self.dir = tempfile.TemporaryDirectory(prefix="lgmsd-redis-")
        self.port = free_port()
        self.password = password
        self.proc = None
        self.start()

    def start(self):
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", self.dir.name, "--protected-mode", "yes"]
        if self.password:
            cmd += ["--requirepass", self.password]
        self.log = open(os.path.join(self.dir.name, "redis.log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.cli("PING").strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def cli(self, *args):
        cmd = ["redis-cli", "-p", str(self.port)] + (["--no-auth-warning", "-a", self.password] if self.password else [])
        return subprocess.run(cmd + list(args), capture_output=True, text=True).stdout

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.log.close()

    def restart(self, pause=0.0):
        self.stop()
        time.sleep(pause)
        self.start()

    def used_memory(self):
        for line in self.cli("INFO", "memory").splitlines():
            if line.startswith("used_memory:"):
                return int(line.split(":")[1])
        return 0

    def close(self):
        self.stop()
        self.dir.cleanup()

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port


def replica(redis, *extra, models=("ct=" + FIXTURE_3D,), lease=3, env=None):
    args = ["--workers", "1", "--jobs-store", redis.url, "--job-lease", str(lease)]
    for m in models:
        args += ["--model", m]
    return Daemon(*args, *extra, env=env)


def volume(path, shape=(24, 40, 40), seed=1):
    """A small random CT volume (.nii.gz): one patch of the 3-D fixture."""
    import numpy as np
    rng = np.random.default_rng(seed)
    vol = (rng.random(shape) * 1000 - 500).astype(np.int16)
    with gzip.open(path, "wb") as f:
        f.write(ct_volume.nifti1_bytes(vol, (1.5, 1.5, 2.0), [[1.5, 0, 0, 0], [0, 1.5, 0, 0], [0, 0, 2, 0]]))
    return path


def post(d, path, model="ct", key=None):
    args = ["-H", "Content-Type: application/gzip"] + (["-H", "Authorization: Bearer " + key] if key else [])
    st, hd, body = curl(d, "/v1/models/%s/volumes" % model, *args, data_file=path)
    return st, hd, json.loads(body) if body else None


def get(d, path, key=None, method="GET"):
    args = (["-H", "Authorization: Bearer " + key] if key else []) + (["-X", method] if method != "GET" else [])
    st, hd, body = curl(d, path, *args)
    return st, hd, json.loads(body) if body else None


def wait_done(daemons, job_id, timeout=300, key=None):
    """The job's final document, polled from each daemon in turn (whichever answers)."""
    deadline, i = time.time() + timeout, 0
    while time.time() < deadline:
        d = daemons[i % len(daemons)]
        i += 1
        try:
            st, _, doc = get(d, "/v1/jobs/" + job_id, key=key)
        except Exception:  # a replica being killed
            continue
        if st == 200 and doc["state"] in ("done", "failed", "cancelled"):
            return doc
        time.sleep(0.2)
    raise AssertionError("job %s did not finish in %d s" % (job_id, timeout))
