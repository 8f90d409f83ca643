"""Shared helpers for the Python test suites (run with /usr/bin/python3 from the repo root)."""

import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOOLS = os.path.join(ROOT, "tools")
sys.path.insert(0, TOOLS)
LGMSD = os.environ.get("LGMSD_BIN", os.path.join(ROOT, "build", "lgmsd"))
PY = "/usr/bin/python3"


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def lgmsd(*args):
    return run([LGMSD, *args])
