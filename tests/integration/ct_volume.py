"""A real CT volume for the volume tests: Debian's invesalius-examples ships a head CT
(Cranium.inv3: a tar.gz holding main.plist and matrix.dat, int16, 108 x 256 x 256 at
0.957 x 0.957 x 1.5 mm). write_nifti() turns it into a NIfTI-1 .nii.gz (written here,
field by field, so the tests need nothing beyond the standard library and numpy)."""

import gzip
import os
import plistlib
import struct
import tarfile

import numpy as np

INV3 = "/usr/share/doc/invesalius-examples/examples/Cranium.inv3"


def load_cranium(path=INV3):
    """(int16 array z, y, x; spacing (x, y, z) in mm)."""
    with tarfile.open(path, "r:gz") as tar:
        names = {os.path.basename(m.name): m for m in tar.getmembers()}
        main = plistlib.loads(tar.extractfile(names["main.plist"]).read())
        mat = main["matrix"]
        raw = tar.extractfile(names[mat["filename"]]).read()
    vol = np.frombuffer(raw, dtype=np.dtype(mat["dtype"])).reshape(mat["shape"])
    return vol, tuple(float(v) for v in main["spacing"])


def nifti1_bytes(vol, spacing, affine):
    """A NIfTI-1 single file: 348-byte header, 4 bytes of extension flags, int16 data (x fastest)."""
    nz, ny, nx = vol.shape
    hdr = bytearray(348)
    struct.pack_into("<i", hdr, 0, 348)
    struct.pack_into("<8h", hdr, 40, 3, nx, ny, nz, 1, 1, 1, 1)
    struct.pack_into("<hh", hdr, 70, 4, 16)  # datatype int16, bitpix
    struct.pack_into("<8f", hdr, 76, 1.0, *spacing, 0, 0, 0, 0)
    struct.pack_into("<f", hdr, 108, 352.0)  # vox_offset
    struct.pack_into("<ff", hdr, 112, 1.0, 0.0)  # scl_slope, scl_inter
    struct.pack_into("<hh", hdr, 252, 1, 1)  # qform_code, sform_code
    struct.pack_into("<6f", hdr, 256, 0, 0, 0, affine[0][3], affine[1][3], affine[2][3])  # quatern, qoffset
    struct.pack_into("<f", hdr, 76, 1.0)  # pixdim[0] = qfac
    for r in range(3):
        struct.pack_into("<4f", hdr, 280 + 16 * r, *affine[r])
    hdr[344:348] = b"n+1\0"
    struct.pack_into("<b", hdr, 123, 10)  # xyzt_units: mm, s
    return bytes(hdr) + b"\0\0\0\0" + vol.astype("<i2").tobytes()


def write_nifti(path, vol=None, spacing=None):
    if vol is None:
        vol, spacing = load_cranium()
    sx, sy, sz = spacing
    affine = [[sx, 0, 0, -120.0], [0, sy, 0, -110.0], [0, 0, sz, -40.0]]
    with gzip.open(path, "wb") as f:
        f.write(nifti1_bytes(vol, spacing, affine))
    return vol.shape, spacing, affine


def nifti1_header_only(dims, spacing, data, qform=0, sform=0):
    """A NIfTI-1 uint8 volume with no transform unless asked (pixdim as given)."""
    hdr = bytearray(348)
    struct.pack_into("<i", hdr, 0, 348)
    struct.pack_into("<8h", hdr, 40, 3, *dims, 1, 1, 1, 1)
    struct.pack_into("<hh", hdr, 70, 2, 8)  # uint8
    struct.pack_into("<8f", hdr, 76, 1.0, *spacing, 0, 0, 0, 0)
    struct.pack_into("<f", hdr, 108, 352.0)
    struct.pack_into("<ff", hdr, 112, 1.0, 0.0)
    struct.pack_into("<hh", hdr, 252, qform, sform)
    hdr[344:348] = b"n+1\0"
    return bytes(hdr) + b"\0\0\0\0" + data


def nifti2_bytes(dims, spacing, data):
    """A NIfTI-2 uint8 volume; dims may be anything a 64-bit field holds."""
    hdr = bytearray(540)
    struct.pack_into("<i", hdr, 0, 540)
    hdr[4:12] = b"n+2\0\r\n\x1a\n"
    struct.pack_into("<hh", hdr, 12, 2, 8)
    struct.pack_into("<8q", hdr, 16, 3, *dims, 1, 1, 1, 1)
    struct.pack_into("<8d", hdr, 104, 1.0, *spacing, 0, 0, 0, 0)
    struct.pack_into("<q", hdr, 168, 544)
    struct.pack_into("<dd", hdr, 176, 1.0, 0.0)
    return bytes(hdr) + b"\0\0\0\0" + data


def hostile_volumes():
    """name -> (bytes, what the daemon must answer): uploads of a few KB that once crashed
    or starved it (hardening issue #15)."""
    return {
        # pixdim 1e30, no qform/sform: the resampled size became INT_MIN
        "spacing-1e30.nii": (nifti1_header_only((16, 16, 8), (1e30, 1e30, 1e30), bytes(16 * 16 * 8)), 422),
        "spacing-zero.nii": (nifti1_header_only((16, 16, 8), (1.0, 0.0, 1.0), bytes(16 * 16 * 8)), 422),
        "spacing-negative.nii": (nifti1_header_only((16, 16, 8), (1.0, 1.0, -2.0), bytes(16 * 16 * 8)), 422),
        # 12648448 x 65537 x 22253377 = 2^64 + 2^16 voxels: the count wrapped to 65536
        "dims-wrap.nii": (nifti2_bytes((193 << 16, 65537, 22253377), (1.5, 1.5, 2.0), bytes(65536)), 413),
        "dims-too-long.nii": (nifti2_bytes(((1 << 32) + 1, 1, 1), (1.0, 1.0, 1.0), bytes(64)), 422),
        # 64^3 at 7.5 mm: 610 bytes gzipped, a 320 x 320 x 240 grid at the fixture's spacing
        "coarse-7.5mm.nii.gz": (gzip.compress(nifti1_header_only((64, 64, 64), (7.5, 7.5, 7.5), bytes(64 ** 3)), mtime=0), 413),
    }
