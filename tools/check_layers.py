#!/usr/bin/env python3
"""The dependency rule of the tree, checked: every #include "..." in a folder may only
reach the folders below it in cli -> server -> api -> engine (cli -> config, server ->
config). Prints each upward include and exits 1 if there is one (make test runs it)."""

import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ALLOWED = {
    "engine": {"engine"},
    "api": {"api", "engine"},
    "config": {"config"},
    "server": {"server", "api", "engine", "config"},
    "cli": {"cli", "server", "api", "engine", "config"},
    "orthanc": {"orthanc", "api"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def violations(root=ROOT):
    found = []
    for folder, allowed in ALLOWED.items():
        base = os.path.join(root, folder)
        for name in sorted(os.listdir(base)):
            if not name.endswith((".c", ".h", ".cc", ".S")):
                continue
            path = os.path.join(base, name)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for inc in INCLUDE.findall(text):
                target = os.path.relpath(os.path.normpath(os.path.join(base, inc)), root)
                top = target.split(os.sep)[0]
                if top not in allowed:
                    found.append("%s/%s includes %s: %s may not depend on %s" % (folder, name, inc, folder, top))
    return found


if __name__ == "__main__":
    bad = violations(sys.argv[1] if len(sys.argv) > 1 else ROOT)
    for line in bad:
        print("layers:", line)
    print("layers: %s" % ("%d upward include(s)" % len(bad) if bad else "cli -> server -> api -> engine holds"))
    sys.exit(1 if bad else 0)
