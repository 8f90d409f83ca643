"""The layering check (tools/check_layers.py) holds on the tree and catches an upward include."""

import os
import shutil
import tempfile
import unittest

from helpers import ROOT

import check_layers


class LayersTest(unittest.TestCase):
    def test_the_tree_keeps_the_rule(self):
        self.assertEqual(check_layers.violations(ROOT), [])

    def test_an_upward_include_is_caught(self):
        with tempfile.TemporaryDirectory() as tmp:
            for folder in check_layers.ALLOWED:
                os.makedirs(os.path.join(tmp, folder))
            with open(os.path.join(tmp, "engine", "ops.c"), "w") as f:
                f.write('#include "ops.h"\n#include "../api/image.h"\n')
            with open(os.path.join(tmp, "api", "image.c"), "w") as f:
                f.write('#include "../engine/lgms.h"\n#include "../server/log.h"\n')
            with open(os.path.join(tmp, "cli", "main.c"), "w") as f:
                f.write('#include "../server/daemon.h"\n#include "../config/config.h"\n')
            bad = check_layers.violations(tmp)
            self.assertEqual(len(bad), 2, bad)
            self.assertIn("engine may not depend on api", bad[0])
            self.assertIn("api may not depend on server", bad[1])


if __name__ == "__main__":
    unittest.main()
