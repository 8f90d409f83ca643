#!/usr/bin/env bash
# Build the lgmsd container image where no registry and no Docker engine are reachable:
# a Debian 12 base made with debootstrap from the machine's apt mirror is imported as
# debian:bookworm-slim, then buildah builds the Dockerfile (vfs storage, chroot isolation).
# Usage: docker/build-image.sh [TAG]   (default lgmsd:<version>)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-lgmsd:$(awk -F' := ' '/^VERSION :=/ {print $2}' Makefile)}
store=(--storage-driver vfs)
base=docker.io/library/debian:bookworm-slim
mirror=${DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}

if ! podman "${store[@]}" image exists "$base"; then
    rootfs=$PWD/build/image-rootfs # absolute: debootstrap changes directory before it uses it
    if [ ! -x "$rootfs/usr/bin/apt-get" ]; then
        rm -rf "$rootfs"
        mkdir -p "$rootfs"
        debootstrap --variant=minbase bookworm "$rootfs" "$mirror"
    fi
    rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
    tar -C "$rootfs" -c . | podman "${store[@]}" import --change 'CMD ["/bin/bash"]' - "$base"
fi
buildah "${store[@]}" bud --pull=never --isolation chroot --network host --layers=false -t "$tag" .
echo "built $tag"
