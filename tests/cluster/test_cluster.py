"""Volume jobs on the redis store, with a real redis-server and real lgmsd replicas on
loopback (tests/cluster/run.sh).

Shown: a job posted to replica A is polled, listed, fetched and cancelled through
replica B, and its labels are those a lone daemon with the memory store gives; kill -9 of
the replica running a job: the other takes it over once the lease lapses and finishes it,
once, with the same labels; Redis restarted mid-job: clear 503s naming the store, the
replicas reconnect by themselves, nothing crashes, and 2-D requests answer 200 throughout;
Redis stopped: volume routes 503, images 200, /readyz stays 200 (it would not for a
replica with only 3-D models); max_jobs holds across the cluster with an honest
Retry-After; with API keys a job is 404 to another key on every route; the password is
never logged."""

import base64
import gzip
import json
import os
import signal
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cluster import (FIXTURE_3D, PHANTOM_2D, Daemon, Redis, ct_volume, curl, get, post, replica,  # noqa: E402
                     volume, wait_done)

# under ASan every patch is ~10x slower: the small volume is already long enough to kill
SANITIZED = bool(os.environ.get("LGMSD_SANITIZED"))

sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from openapi_schema import validate  # noqa: E402


def labels_of(doc):
    return gzip.decompress(base64.b64decode(doc["result"]["labels"]["base64"]))


class ClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.small = volume(os.path.join(cls.tmp.name, "small.nii.gz"))
        cls.cranium = os.path.join(cls.tmp.name, "cranium.nii.gz")  # ~8 patches: long enough to kill mid-way
        if SANITIZED:
            cls.cranium = volume(cls.cranium, shape=(60, 120, 120), seed=2)  # 4 patches
        else:
            ct_volume.write_nifti(cls.cranium)
        # the reference: one daemon, the memory store
        ref = Daemon("--workers", "1", "--model", "ct=" + FIXTURE_3D)
        try:
            cls.reference = {}
            for name, path in (("small", cls.small), ("cranium", cls.cranium)):
                st, _, doc = post(ref, path)
                assert st == 202, doc
                cls.reference[name] = labels_of(wait_done([ref], doc["id"]))
        finally:
            ref.stop()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.redis = Redis()
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            if d.proc.poll() is None:
                d.proc.send_signal(signal.SIGTERM)
                d.proc.wait(60)
            out = d.output()
            self.assertNotIn("AddressSanitizer", out)
            self.assertNotIn("runtime error", out)
        self.redis.close()

    def start(self, *extra, **kw):
        d = replica(self.redis, *extra, **kw)
        self.daemons.append(d)
        return d

    def test_a_job_posted_to_one_replica_is_served_by_the_other(self):
        a, b = self.start(), self.start()
        st, hd, doc = post(a, self.small)
        self.assertEqual(st, 202, doc)
        validate(doc, "Job")
        self.assertRegex(doc["id"], "^[0-9a-f]{32}$", "128 random bits")
        self.assertEqual(hd["location"], "/v1/jobs/" + doc["id"])
        done = wait_done([b], doc["id"])
        validate(done, "Job")
        self.assertEqual(done["state"], "done", done)
        self.assertEqual(labels_of(done), self.reference["small"], "labels as a lone daemon with the memory store")
        st, _, listed = get(b, "/v1/jobs")
        validate(listed, "JobList")
        self.assertEqual([j["id"] for j in listed["jobs"]], [doc["id"]])
        self.assertEqual(get(a, "/v1/jobs/" + doc["id"])[2]["state"], "done")
        st, _, _ = get(b, "/v1/jobs/" + doc["id"], method="DELETE")  # forget a finished job, from the other one
        self.assertEqual(st, 204)
        self.assertEqual(get(a, "/v1/jobs/" + doc["id"])[0], 404)
        self.assertEqual(get(a, "/v1/jobs")[2], {"jobs": []})

    def test_a_cancel_from_another_replica_reaches_the_one_running_the_job(self):
        a, b = self.start(), self.start()
        st, _, doc = post(a, self.cranium)
        self.assertEqual(st, 202)
        deadline = time.time() + 60
        while get(a, "/v1/jobs/" + doc["id"])[2]["state"] != "running" and time.time() < deadline:
            time.sleep(0.1)
        runner = [d for d in (a, b) if "started on" in d.output() and doc["id"] in d.output()][0]
        other = b if runner is a else a
        st, _, _ = get(other, "/v1/jobs/" + doc["id"], method="DELETE")
        self.assertEqual(st, 202)
        final = wait_done([a, b], doc["id"], timeout=60)
        self.assertEqual(final["state"], "cancelled")
        self.assertLess(final["progress"]["patches_done"], final["progress"]["patches_total"] or 99)

    def test_kill_9_of_the_running_replica_is_taken_over_and_finished_once(self):
        a, b = self.start(), self.start()
        st, _, doc = post(a, self.cranium)
        self.assertEqual(st, 202)
        deadline = time.time() + 60
        runner = None
        while runner is None and time.time() < deadline:
            d = get(a, "/v1/jobs/" + doc["id"])[2]
            if d["state"] == "running" and d["progress"]["patches_done"] >= 1:
                runner = [x for x in (a, b) if "started on" in x.output()][0]
            time.sleep(0.05)
        self.assertIsNotNone(runner, "the job never ran")
        survivor = b if runner is a else a
        runner.proc.kill()  # SIGKILL: no goodbye, the lease just stops being renewed
        runner.proc.wait(10)
        killed_at = time.time()
        final = wait_done([survivor], doc["id"], timeout=240)
        self.assertEqual(final["state"], "done", final)
        self.assertEqual(labels_of(final), self.reference["cranium"])
        self.assertIn("taken over", survivor.output())
        took = time.time() - killed_at
        print("\ncluster: a job on a replica killed with SIGKILL was taken over and finished %.1f s later "
              "(lease 3 s)" % took, file=sys.stderr)
        metrics = curl(survivor, "/metrics")[2].decode()
        self.assertIn("lgmsd_job_takeovers_total 1", metrics)
        self.assertNotIn("lgmsd_job_lease_renewals_total 0\n", metrics)
        self.assertEqual(self.redis.cli("SCARD", "lgmsd:active").strip(), "0")
        self.assertEqual(self.redis.cli("XLEN", "lgmsd:queue:ct").strip(), "0", "the entry was acknowledged and removed")
        self.daemons.remove(runner)

    def test_redis_restarted_mid_job_and_stopped(self):
        a = self.start(models=("default=" + PHANTOM_2D, "ct=" + FIXTURE_3D))
        png = os.path.join(self.tmp.name, "grey.png")
        import cv2
        import numpy as np
        cv2.imwrite(png, (np.random.default_rng(3).random((120, 160)) * 255).astype(np.uint8))
        failures, stop = [], threading.Event()

        def images():  # 2-D requests throughout
            while not stop.is_set():
                st, _, body = curl(a, "/v1/segment?outputs=mask", "-F", "image=@" + png)
                if st != 200:
                    failures.append((st, body[:200]))
                time.sleep(0.05)

        t = threading.Thread(target=images)
        t.start()
        try:
            st, _, doc = post(a, self.cranium)
            self.assertEqual(st, 202)
            time.sleep(1.0)
            self.redis.restart(pause=1.0)  # no persistence: the job is gone with Redis' memory
            deadline = time.time() + 30
            while time.time() < deadline:
                st, _, body = get(a, "/v1/jobs/" + doc["id"])
                if st == 404:
                    break
                time.sleep(0.2)
            self.assertEqual(st, 404, "the restarted Redis no longer has the job: a clear 404")
            st, _, doc2 = post(a, self.small)  # reconnected: new jobs work
            self.assertEqual(st, 202, doc2)
            self.assertEqual(wait_done([a], doc2["id"])["state"], "done")
            self.redis.stop()
            st, hd, problem = post(a, self.small)
            self.assertEqual(st, 503)
            validate(problem, "Problem")
            self.assertIn("redis://127.0.0.1:%d/0" % self.redis.port, problem["detail"], "the store is named")
            self.assertIn("retry-after", hd)
            self.assertEqual(get(a, "/v1/jobs")[0], 503)
            self.assertEqual(curl(a, "/readyz")[0], 200, "images are still served")
            self.assertIn("lgmsd_jobs_store_up 0", curl(a, "/metrics")[2].decode())
        finally:
            stop.set()
            t.join()
        self.assertEqual(failures, [], "2-D requests failed while Redis was away")
        self.assertIsNone(a.proc.poll(), "the daemon is alive")
        self.redis.start()
        deadline = time.time() + 40
        while time.time() < deadline and post(a, self.small)[0] != 202:
            time.sleep(0.5)
        self.assertIn("lgmsd_jobs_store_up 1", curl(a, "/metrics")[2].decode())

    def test_a_replica_of_3d_models_only_is_not_ready_without_its_store(self):
        a = self.start()
        self.assertEqual(curl(a, "/readyz")[0], 200)
        self.redis.stop()
        deadline = time.time() + 20
        while time.time() < deadline and curl(a, "/readyz")[0] == 200:
            post(a, self.small)  # the store learns it is down from a call or its reader
            time.sleep(0.2)
        st, _, body = curl(a, "/readyz")
        self.assertEqual((st, json.loads(body)["status"]), (503, "job store unreachable"))
        self.redis.start()

    def test_max_jobs_holds_across_the_cluster_with_an_honest_retry_after(self):
        a, b = self.start("--max-jobs", "2"), self.start("--max-jobs", "2")
        first = post(a, self.cranium)[2]["id"]
        second = post(b, self.cranium)[2]["id"]
        st, hd, problem = post(a, self.small)
        self.assertEqual(st, 503, problem)
        self.assertIn("max_jobs = 2", problem["detail"])
        self.assertGreaterEqual(int(hd["retry-after"]), 1)
        for j in (first, second):
            self.assertEqual(wait_done([a, b], j)["state"], "done")
        st, hd, problem = post(b, self.small)
        self.assertEqual(st, 202, "a slot is free again")
        wait_done([a, b], problem["id"])
        # now the mean job time is measured: Retry-After follows it
        post(a, self.cranium), post(b, self.cranium)
        st, hd, problem = post(a, self.small)
        self.assertEqual(st, 503)
        self.assertIn("a job takes", problem["detail"])

    def test_jobs_belong_to_the_key_that_made_them_and_the_password_stays_secret(self):
        self.redis.close()
        self.redis = Redis(password="s3cret-pass-word")
        keys = os.path.join(self.tmp.name, "keys")
        with open(keys, "w") as f:
            f.write("key-alpha-123456\nkey-beta-7890123\n")
        env = {"LGMSD_JOBS_STORE_PASSWORD": "s3cret-pass-word"}
        a = self.start("--api-key-file", keys, env=env)
        b = self.start("--api-key-file", keys, env=env)
        st, _, doc = post(a, self.small, key="key-alpha-123456")
        self.assertEqual(st, 202)
        wait_done([b], doc["id"], key="key-alpha-123456")
        for d in (a, b):
            self.assertEqual(get(d, "/v1/jobs/" + doc["id"], key="key-beta-7890123")[0], 404)
            self.assertEqual(get(d, "/v1/jobs/" + doc["id"], key="key-beta-7890123", method="DELETE")[0], 404)
            self.assertEqual(get(d, "/v1/jobs", key="key-beta-7890123")[2], {"jobs": []})
            self.assertEqual(get(d, "/v1/jobs/" + doc["id"])[0], 401)
        self.assertEqual(get(b, "/v1/jobs/" + doc["id"], key="key-alpha-123456")[0], 200)
        stored = self.redis.cli("HGET", "lgmsd:job:" + doc["id"], "owner").strip()
        self.assertRegex(stored, "^[0-9a-f]{16}$", "the key's id is stored, never the key")
        for d in (a, b):
            self.assertNotIn("s3cret-pass-word", d.output())
        # a wrong password: a clear error, no crash, and still no password in the log
        c = self.start("--api-key-file", keys, models=("default=" + PHANTOM_2D, "ct=" + FIXTURE_3D),
                       env={"LGMSD_JOBS_STORE_PASSWORD": "wrong-pass-word"})
        st, _, problem = post(c, self.small, key="key-alpha-123456")
        self.assertEqual(st, 503)
        self.assertIn("refused the password", problem["detail"])
        self.assertNotIn("wrong-pass-word", c.output() + problem["detail"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
