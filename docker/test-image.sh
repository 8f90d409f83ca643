#!/usr/bin/env bash
# Run the built image and check /readyz and one segmentation. Tries `podman run` first;
# where containers cannot run (no user namespaces or cgroups in the sandbox), runs the
# image's root filesystem under chroot as the image's user instead, and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-lgmsd:$(awk -F' := ' '/^VERSION :=/ {print $2}' Makefile)}
store=(--storage-driver vfs)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
img=$(mktemp -d)
/usr/bin/python3 tools/phantom.py --out "$img" --count 1 --seed 78 2>/dev/null
png=$(ls "$img"/images/*.png)
mode=none cid="" ctr="" pid=""
cleanup() {
    case $mode in
    podman)
        podman "${store[@]}" stop -t 40 "$cid" >/dev/null || true
        podman "${store[@]}" rm "$cid" >/dev/null || true
        ;;
    chroot)
        if kill -TERM "$pid" 2>/dev/null; then wait "$pid" || true; fi
        buildah "${store[@]}" umount "$ctr" >/dev/null || true
        buildah "${store[@]}" rm "$ctr" >/dev/null || true
        ;;
    esac
}
trap cleanup EXIT

if cid=$(podman "${store[@]}" run -d --network host -e LGMSD_PORT="$port" -e LGMSD_WORKERS=1 "$tag" 2>"$img/run.err"); then
    echo "running the container with podman ($cid)"
    mode=podman
else
    echo "podman run failed here: $(tr '\n' ' ' < "$img/run.err")"
    echo "running the image's root filesystem under chroot instead"
    ctr=$(buildah "${store[@]}" from "$tag")
    mnt=$(buildah "${store[@]}" mount "$ctr")
    chroot --userspec=10001:10001 "$mnt" env -i LGMSD_CONFIG=/etc/lgmsd/lgmsd.ini LGMSD_HOST=0.0.0.0 \
        LGMSD_PORT="$port" LGMSD_WORKERS=1 /usr/bin/lgmsd serve >"$img/serve.log" 2>&1 &
    pid=$!
    mode=chroot
fi
for _ in $(seq 1 150); do
    if curl -fs "http://127.0.0.1:$port/readyz" >/dev/null; then break; fi
    sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/readyz"; echo
curl -fsS -F "image=@$png" "http://127.0.0.1:$port/v1/segment" | /usr/bin/python3 -c \
    'import json,sys; r=json.load(sys.stdin); assert r["width"]==256 and r["mask"]["base64"]; print("image serves a segmentation:", r["classes"])'
rm -rf "$img"
