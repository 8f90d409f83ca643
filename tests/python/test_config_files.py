"""Settings cannot drift apart: config/lgmsd.ini is what `lgmsd serve --print-config` writes
from the settings table, and README.md's settings table and the man page name every flag
and environment variable that `lgmsd serve --help` lists."""

import os
import re
import unittest

from helpers import ROOT, lgmsd


def settings():
    """(flag, env) of every setting, from --help."""
    r = lgmsd("serve", "--help")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"  (--[a-z-]+)\s", line)
        if m and m.group(1) not in ("--config", "--print-config"):
            env = lines[i + 1].split()[0]
            out.append((m.group(1), env))
    return out


class ConfigFilesTest(unittest.TestCase):
    def test_example_ini_is_the_settings_table(self):
        r = lgmsd("serve", "--print-config", "--model", "default=models/lgmsnet-phantom.lgms")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(ROOT, "config", "lgmsd.ini")) as f:
            self.assertEqual(f.read(), r.stdout, "config/lgmsd.ini drifted: run make config-example")

    def test_every_setting_is_documented(self):
        with open(os.path.join(ROOT, "README.md")) as f:
            readme = f.read()
        with open(os.path.join(ROOT, "docs", "lgmsd.1")) as f:
            man = f.read().replace("\\-", "-")
        found = settings()
        self.assertGreater(len(found), 20)
        for flag, env in found:
            with self.subTest(flag=flag):
                self.assertIn("`%s" % flag, readme, "README's settings table lacks %s" % flag)
                self.assertIn(env, readme, "README's settings table lacks %s" % env)
                self.assertIn(flag, man, "the man page lacks %s" % flag)


if __name__ == "__main__":
    unittest.main()
