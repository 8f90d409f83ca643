#!/usr/bin/env bash
# Real DICOM test files that may not be committed (GPL-3+): Debian's octave-dicom package,
# downloaded with apt-get and unpacked into build/testdata/octave-dicom/ once. Prints the
# folder that holds the .dcm files.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=build/testdata/octave-dicom
if [ ! -f "$dest/US-PAL-8-10x-echo.dcm" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && apt-get download octave-dicom >/dev/null)
    dpkg-deb -x "$tmp"/octave-dicom_*.deb "$tmp/x"
    mkdir -p "$dest"
    cp "$tmp"/x/usr/share/octave/packages/dicom-*/imdata/*.dcm "$dest/"
fi
echo "$dest"
