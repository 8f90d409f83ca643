#!/usr/bin/env bash
# Integration tests against the real daemon (see test_daemon.py). LGMSD_BIN picks the binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 -m unittest -v tests/integration/test_daemon.py
