#!/usr/bin/env bash
# The redis job store with a real redis-server (Debian's) and real lgmsd replicas, all on
# loopback ports (see test_cluster.py). LGMSD_BIN picks the binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 -m unittest -v tests/cluster/test_cluster.py
