#!/usr/bin/env bash
# The Debian package: lintian reports no errors, dpkg installs it cleanly, the installed
# lgmsd (run as the package's user, directly: systemd does not run here) answers /readyz
# and one segmentation, and purge removes it and its user again.
set -euo pipefail
deb=$1
cd "$(dirname "$0")/../.."
if lintian --fail-on error "$deb" 2>&1 | grep -v 'root privileges' | grep '^E:'; then
    echo "lintian reported errors"; exit 1
fi
echo "lintian: no errors"
dpkg -i "$deb"
trap 'dpkg --purge lgmsd >/dev/null 2>&1 || true' EXIT
test -x /usr/bin/lgmsd
test -f /usr/share/lgmsd/models/lgmsnet-phantom.lgms
test -f /etc/lgmsd/lgmsd.ini
test -f /lib/systemd/system/lgmsd.service
getent passwd lgmsd >/dev/null
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
setpriv --reuid=lgmsd --regid=lgmsd --init-groups env LGMSD_CONFIG=/etc/lgmsd/lgmsd.ini \
    /usr/bin/lgmsd serve --port "$port" --workers 1 >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 150); do
    if curl -fs "http://127.0.0.1:$port/readyz" >/dev/null; then break; fi
    sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/readyz"; echo
img=$(mktemp --suffix=.png)
/usr/bin/python3 tools/phantom.py --out "${img%.png}.d" --count 1 --seed 77 2>/dev/null
cp "${img%.png}.d"/images/*.png "$img"
curl -fsS -F "image=@$img" "http://127.0.0.1:$port/v1/segment" | /usr/bin/python3 -c \
    'import json,sys; r=json.load(sys.stdin); assert r["width"]==256 and r["mask"]["base64"]; print("segmentation ok:", r["classes"])'
kill -TERM "$pid"
wait "$pid"
rm -rf "$img" "${img%.png}.d" "$log"
dpkg --purge lgmsd
trap - EXIT
if getent passwd lgmsd >/dev/null || test -e /usr/bin/lgmsd; then
    echo "purge left the user or the binary behind"; exit 1
fi
echo "deb: installs, serves, purges cleanly"
