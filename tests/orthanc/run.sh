#!/usr/bin/env bash
# The Orthanc plugin against a real Orthanc (Debian's orthanc) and a real lgmsd. Orthanc
# listens on every address it has, so both run in a network namespace that has only a
# loopback interface; the namespace is removed afterwards. Needs root (ip netns).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/data/fetch.sh >/dev/null
ns=lgmsd-orthanc-$$
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" /usr/bin/python3 tests/orthanc/test_orthanc.py
