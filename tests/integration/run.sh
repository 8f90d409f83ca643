#!/usr/bin/env bash
# Integration tests against the real daemon: HTTP, jobs, hardening (test_daemon.py) and
# DICOM in and out on Debian's DICOM files (test_dicom.py). LGMSD_BIN picks the binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 -m unittest -v tests/integration/test_daemon.py tests/integration/test_dicom.py
