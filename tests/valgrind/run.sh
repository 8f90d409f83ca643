#!/usr/bin/env bash
# The daemon under valgrind memcheck: one good and two bad requests, then SIGTERM.
# Passes when valgrind reports no errors and 0 bytes definitely lost.
set -euo pipefail
cd "$(dirname "$0")/../.."
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 tools/phantom.py --out "$work" --count 1 --seed 5 2>/dev/null
img=$(ls "$work"/images/*.png)
head -c 300 "$img" > "$work/cut.png"
valgrind --tool=memcheck --leak-check=full --error-exitcode=99 --log-file="$work/vg.log" \
    build/lgmsd serve --port "$port" --workers 1 --warmup false --log-level warn &
pid=$!
for _ in $(seq 1 600); do
    if curl -fs "http://127.0.0.1:$port/healthz" >/dev/null; then break; fi
    sleep 0.5
done
curl -fsS -o /dev/null -w 'good: %{http_code}\n' -F "image=@$img" "http://127.0.0.1:$port/v1/segment"
curl -sS -o /dev/null -w 'truncated: %{http_code}\n' -F "image=@$work/cut.png" "http://127.0.0.1:$port/v1/segment"
curl -sS -o /dev/null -w 'bad option: %{http_code}\n' -F "image=@$img" "http://127.0.0.1:$port/v1/segment?alpha=7"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
grep -E "ERROR SUMMARY|definitely lost|indirectly lost|All heap blocks" "$work/vg.log"
if [ "$status" -ne 0 ] || ! grep -qE "definitely lost: 0 bytes|All heap blocks were freed" "$work/vg.log"; then
    echo "valgrind: FAILED (exit $status)"; tail -40 "$work/vg.log"; exit 1
fi
echo "valgrind: no errors, 0 bytes definitely lost"
