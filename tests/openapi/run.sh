#!/usr/bin/env bash
# The OpenAPI document in make test: lint it (@redocly/cli, recommended rules: no error, no
# warning), generate a TypeScript client from it (@hey-api/openapi-ts), type-check the code
# that uses it (tsc), and run that code against a real daemon with API keys (tsx).
# npm packages are installed once into build/openapi-tools.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools=build/openapi-tools
if [ ! -x "$tools/node_modules/.bin/redocly" ] || [ ! -x "$tools/node_modules/.bin/openapi-ts" ] ||
    [ ! -x "$tools/node_modules/.bin/tsx" ] || [ ! -d "$tools/node_modules/@types/node" ]; then
    mkdir -p "$tools"
    (cd "$tools" && npm install --no-audit --no-fund --silent @redocly/cli@2.77.0 @hey-api/openapi-ts@0.99.0 \
        typescript@5 tsx@4 @types/node@20)
fi
bin=$PWD/$tools/node_modules/.bin
"$bin/redocly" lint --max-problems 50 api/openapi.json 2>&1 | tee build/openapi-lint.log | tail -3
if grep -qE "You have [0-9]+ (warning|error)" build/openapi-lint.log; then
    echo "openapi: the lint is not clean (build/openapi-lint.log)"
    exit 1
fi
work=$tools/client
rm -rf "$work" && mkdir -p "$work"
cp tests/openapi/client.ts "$work/"
"$bin/openapi-ts" -i "$PWD/api/openapi.json" -o "$work/gen" >/dev/null
"$bin/tsc" --noEmit --strict --target es2022 --module nodenext --moduleResolution nodenext --skipLibCheck \
    --types node --typeRoots "$tools/node_modules/@types" "$work/client.ts" || {
    echo "openapi: the generated client does not type-check against its use"
    exit 1
}
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
keys=$(mktemp)
echo "test-key-1" > "$keys"
png=$(mktemp --suffix=.png)
/usr/bin/python3 -c 'import cv2, numpy, sys; cv2.imwrite(sys.argv[1], (numpy.random.default_rng(1).random((90, 120)) * 255).astype("uint8"))' "$png"
"${LGMSD_BIN:-build/lgmsd}" serve --port "$port" --workers 1 --api-key-file "$keys" >build/openapi-daemon.log 2>&1 &
daemon=$!
trap 'kill $daemon 2>/dev/null || true; rm -f "$keys" "$png"' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.2
done
LGMSD_URL="http://127.0.0.1:$port" LGMSD_KEY=test-key-1 LGMSD_PNG="$png" "$bin/tsx" "$work/client.ts"
