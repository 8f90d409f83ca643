#!/usr/bin/env bash
# The web page at / in Debian's headless Chromium, driven by puppeteer-core (no browser
# download) with axe-core's accessibility checks; see test.cjs. npm packages are installed
# once into build/web-tools. Screenshots go to build/web/.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools=build/web-tools
if [ ! -d "$tools/node_modules/puppeteer-core" ] || [ ! -d "$tools/node_modules/@axe-core/puppeteer" ]; then
    mkdir -p "$tools"
    (cd "$tools" && PUPPETEER_SKIP_DOWNLOAD=true npm install --no-audit --no-fund --silent \
        puppeteer-core@25.16.0 @axe-core/puppeteer@4.13.0)
fi
out=build/web
rm -rf "$out" && mkdir -p "$out"
# inputs: an ultrasound phantom (what the shipped model was trained on), a text file, a
# CT volume of 4 patches for the 3-D fixture, an API key file
/usr/bin/python3 tools/phantom.py --out "$out/phantom" --count 1 --seed 7 --size 600x430 2>/dev/null
cp "$out"/phantom/images/*.png "$out/scan.png"
printf 'this is not an image\n' > "$out/notes.txt"
/usr/bin/python3 - "$out/ct.nii.gz" <<'EOF'
import sys
sys.path.insert(0, "tests/cluster")
from cluster import volume
volume(sys.argv[1], shape=(60, 120, 120), seed=4)
EOF
printf 'web-test-key-0123456789\n' > "$out/keys"
LGMSD_BIN="${LGMSD_BIN:-build/lgmsd}" WEB_OUT="$out" NODE_PATH="$PWD/$tools/node_modules" node tests/web/test.cjs
