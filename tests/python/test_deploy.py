"""Deployment files: Kubernetes manifests (the fields that matter; the schemas themselves are
checked by tests/k8s/run.sh with kubernetes-models from npm), the Dockerfile, the systemd
unit, shell scripts (shellcheck)."""

import glob
import os
import re
import subprocess
import unittest

import yaml

from helpers import ROOT

K8S = os.path.join(ROOT, "docker", "k8s")


def manifests():
    docs = {}
    for path in sorted(glob.glob(os.path.join(K8S, "*.yaml"))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                docs[doc["kind"]] = doc
    return docs


class KubernetesTest(unittest.TestCase):
    def setUp(self):
        self.m = manifests()

    def test_every_object_is_there(self):
        for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap", "Secret", "PodDisruptionBudget"):
            self.assertIn(kind, self.m)
            self.assertIn("apiVersion", self.m[kind])
            self.assertIn("name", self.m[kind]["metadata"])

    def test_deployment_probes_resources_security(self):
        dep = self.m["Deployment"]
        pod = dep["spec"]["template"]["spec"]
        c = pod["containers"][0]
        self.assertEqual(c["readinessProbe"]["httpGet"]["path"], "/readyz")
        self.assertEqual(c["livenessProbe"]["httpGet"]["path"], "/healthz")
        res = c["resources"]
        self.assertEqual(str(res["limits"]["cpu"]), str(res["requests"]["cpu"]))
        self.assertEqual(self.m["ConfigMap"]["data"]["LGMSD_WORKERS"], str(res["limits"]["cpu"]))  # workers = CPU limit
        self.assertIn("memory", res["limits"])
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertTrue(c["securityContext"]["readOnlyRootFilesystem"])
        self.assertFalse(c["securityContext"]["allowPrivilegeEscalation"])
        self.assertEqual(c["securityContext"]["capabilities"]["drop"], ["ALL"])
        drain = int(self.m["ConfigMap"]["data"]["LGMSD_DRAIN_TIMEOUT"])
        pre_stop = int(c["lifecycle"]["preStop"]["exec"]["command"][-1])
        self.assertGreater(pod["terminationGracePeriodSeconds"], drain + pre_stop)
        self.assertEqual(dep["spec"]["selector"]["matchLabels"], dep["spec"]["template"]["metadata"]["labels"])

    def test_the_job_store_is_redis_with_its_password_from_a_secret(self):
        self.assertTrue(self.m["ConfigMap"]["data"]["LGMSD_JOBS_STORE"].startswith("redis://lgmsd-redis:6379"))
        env = {e["name"]: e for e in self.m["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]}
        ref = env["LGMSD_JOBS_STORE_PASSWORD"]["valueFrom"]["secretKeyRef"]
        with open(os.path.join(K8S, "redis", "redis.yaml")) as f:
            redis = {d["kind"]: d for d in yaml.safe_load_all(f)}
        self.assertEqual(redis["Service"]["metadata"]["name"], "lgmsd-redis")
        pod = redis["Deployment"]["spec"]["template"]["spec"]
        self.assertEqual(pod["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"], {k: ref[k] for k in ("name", "key")})
        self.assertIn("--appendonly", pod["containers"][0]["args"])

    def test_service_hpa_pdb_point_at_the_deployment(self):
        labels = self.m["Deployment"]["spec"]["template"]["metadata"]["labels"]
        self.assertEqual(self.m["Service"]["spec"]["selector"], labels)
        self.assertEqual(self.m["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"], labels)
        ref = self.m["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
        self.assertEqual((ref["kind"], ref["name"]), ("Deployment", self.m["Deployment"]["metadata"]["name"]))
        port = self.m["Deployment"]["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"]
        self.assertEqual(self.m["Service"]["spec"]["ports"][0]["targetPort"], port)


class ContainerAndUnitTest(unittest.TestCase):
    def test_dockerfile(self):
        with open(os.path.join(ROOT, "Dockerfile")) as f:
            text = f.read()
        self.assertEqual(len(re.findall(r"^FROM debian:bookworm-slim", text, re.M)), 2)  # multi-stage
        self.assertRegex(text, r"(?m)^USER 10001", "runs as a non-root user")
        self.assertRegex(text, r'HEALTHCHECK .*"/usr/bin/lgmsd", "healthcheck"')
        self.assertRegex(text, r"(?m)^STOPSIGNAL SIGTERM")
        self.assertRegex(text, r"(?m)^EXPOSE 8080")
        self.assertRegex(text, r"LGMSD_HOST=0\.0\.0\.0")
        self.assertIn("org.opencontainers.image.title", text)
        self.assertIn("make deps-build", text)  # the same Makefile targets as the README

    def test_compose(self):
        with open(os.path.join(ROOT, "docker", "compose.yaml")) as f:
            services = yaml.safe_load(f)["services"]
        for name in ("lgmsd-a", "lgmsd-b"):
            c = services[name]
            self.assertTrue(c["read_only"])
            self.assertIn("LGMSD_WORKERS", c["environment"])
            self.assertEqual(c["environment"]["LGMSD_JOBS_STORE"], "redis://redis:6379/0")
            self.assertIn("REDIS_PASSWORD", c["environment"]["LGMSD_JOBS_STORE_PASSWORD"])
            self.assertTrue(any(v.endswith(":ro") for v in c["volumes"]))
        self.assertIn("--appendonly", services["redis"]["command"])
        with open(os.path.join(ROOT, "docker", "nginx.conf")) as f:
            conf = f.read()
        for name in ("lgmsd-a", "lgmsd-b"):
            self.assertIn("server %s:8080" % name, conf)
        self.assertIn("client_max_body_size 64m", conf)

    def test_systemd_unit(self):
        with open(os.path.join(ROOT, "docker", "systemd", "lgmsd.service")) as f:
            unit = f.read()
        for line in ("User=lgmsd", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "Restart=on-failure",
                     "ExecStart=/usr/bin/lgmsd serve", "Environment=LGMSD_CONFIG=/etc/lgmsd/lgmsd.ini"):
            self.assertIn(line, unit)

    def test_shell_scripts_pass_shellcheck(self):
        scripts = [os.path.join(ROOT, p) for p in (".ci/run", "tests/integration/run.sh", "tests/fuzz/run.sh",
                                                   "tools/train_default.sh", "docker/deb/depends.sh", "docker/deb/postinst",
                                                   "docker/deb/prerm", "docker/deb/postrm", "tests/deb/run.sh", "docker/build-image.sh", "docker/test-image.sh", "tests/k8s/run.sh", "tests/valgrind/run.sh",
                                                   "tests/cluster/run.sh", "tests/orthanc/run.sh", "tests/data/fetch.sh",
                                                   "tests/openapi/run.sh", "tests/web/run.sh")]
        r = subprocess.run(["shellcheck", *scripts], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout)


if __name__ == "__main__":
    unittest.main()
