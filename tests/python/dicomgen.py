"""Small DICOM objects written with pydicom, for tests and the fuzzing seeds: every pixel
arrangement the DICOM input path has a branch for (8/16/32-bit, signed, rescaled, stored
window, VOI LUT, MONOCHROME1, RGB, YBR, planar, palette, multi-frame, big endian, RLE),
plus objects it must refuse (no pixels, a SEG). The content is made up here."""

import io
import struct
import zlib

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import decode_data_sequence, encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless,
                         generate_uid)

SC = "1.2.840.10008.5.1.4.1.1.7"
US_MULTI = "1.2.840.10008.5.1.4.1.1.3.1"
SEG = "1.2.840.10008.5.1.4.1.1.66.4"


def dataset(arr, photometric="MONOCHROME2", signed=False, bits_stored=None, sop_class=SC, frames=None, **attrs):
    """A dataset holding arr ((frames,) rows, columns(, 3)) and the attributes given."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "Doe^Jane", "ID0001", "OT"
    colour = arr.ndim == (4 if frames else 3)
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = photometric
    if colour:
        ds.PlanarConfiguration = 0
    if frames:
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = arr.shape[1 if frames else 0], arr.shape[2 if frames else 1]
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = bits_stored or ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if signed else 0
    for k, v in attrs.items():
        setattr(ds, k, v)
    ds.PixelData = arr.tobytes()
    return ds


def part10(ds, syntax=ExplicitVRLittleEndian):
    """The Part 10 bytes of ds in the transfer syntax given (RLE: compressed here)."""
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if syntax is None:  # as it is (already compressed)
        pass
    elif syntax == RLELossless:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.compress(RLELossless, encoding_plugin="pydicom")
    else:
        ds.file_meta.TransferSyntaxUID = syntax
        ds.is_little_endian = syntax != ExplicitVRBigEndian
        ds.is_implicit_VR = syntax == ImplicitVRLittleEndian
        if syntax == ExplicitVRBigEndian:
            ds.PixelData = ds.pixel_array.astype(ds.pixel_array.dtype.newbyteorder(">")).tobytes()
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, write_like_original=False)
    return buf.getvalue()


def variants(rng=None):
    """name -> Part 10 bytes."""
    rng = rng or np.random.default_rng(0)
    g8 = (rng.random((9, 13)) * 255).astype(np.uint8)
    ct = (rng.random((9, 13)) * 3000 - 1000).astype(np.int16)
    rgb = (rng.random((7, 11, 3)) * 255).astype(np.uint8)
    out = {
        "mono8": part10(dataset(g8)),
        "mono8-implicit": part10(dataset(g8), ImplicitVRLittleEndian),
        "mono1": part10(dataset(g8, "MONOCHROME1")),
        "ct-window": part10(dataset(ct, signed=True, bits_stored=12, Modality="CT", RescaleSlope="1",
                                    RescaleIntercept="-1024", WindowCenter="40", WindowWidth="400")),
        "ct-minmax": part10(dataset(ct, signed=True, RescaleSlope="0.5", RescaleIntercept="10")),
        "ct-sigmoid": part10(dataset(ct, signed=True, WindowCenter="40", WindowWidth="400", VOILUTFunction="SIGMOID")),
        "rgb": part10(dataset(rgb, "RGB")),
        "ybr": part10(dataset(rgb, "YBR_FULL")),
        "rle16": part10(dataset(ct.astype(np.uint16), bits_stored=16), RLELossless),
        "rle-rgb": part10(dataset(rgb, "RGB"), RLELossless),
        "u32-big-endian": part10(dataset((rng.random((5, 6)) * 2e6).astype(np.uint32)), ExplicitVRBigEndian),
        "cine": part10(dataset((rng.random((3, 8, 10)) * 255).astype(np.uint8), frames=3, sop_class=US_MULTI,
                               Modality="US")),
    }
    lut = Dataset()
    lut.LUTDescriptor, lut.LUTData = [256, 0, 16], np.arange(0, 65536, 256, dtype="<u2").tobytes()
    out["voi-lut"] = part10(dataset(ct.astype(np.uint16) & 0xFF, bits_stored=16, VOILUTSequence=Sequence([lut])))
    pal = dataset(g8 & 3, "PALETTE COLOR")
    for c, name in enumerate(("Red", "Green", "Blue")):
        setattr(pal, name + "PaletteColorLookupTableDescriptor", [4, 0, 8])
        setattr(pal, name + "PaletteColorLookupTableData", bytes((rng.random(4) * 255).astype(np.uint8)))
    out["palette"] = part10(pal)
    planar = dataset(rgb, "RGB")
    planar.PlanarConfiguration, planar.PixelData = 1, np.moveaxis(rgb, 2, 0).tobytes()
    out["rgb-planar"] = part10(planar)
    nopixels = dataset(g8)
    del nopixels.PixelData
    out["no-pixels"] = part10(nopixels)
    out["seg"] = part10(dataset(g8 & 1, sop_class=SEG, Modality="SEG"))
    return out


def _explicit(group, element, vr, value=b"", length=None):
    """One explicit VR little endian element (length: as declared, default the value's)."""
    n = len(value) if length is None else length
    head = struct.pack("<HH2s", group, element, vr.encode())
    wide = vr in ("OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV")
    return head + (struct.pack("<HI", 0, n) if wide else struct.pack("<H", n)) + value


def _with_meta(dataset_bytes, syntax=ExplicitVRLittleEndian):
    uid = lambda s: s.encode() + (b"\0" if len(s) % 2 else b"")  # noqa: E731
    body = (_explicit(2, 1, "OB", b"\0\1") + _explicit(2, 2, "UI", uid(SC)) + _explicit(2, 3, "UI", uid("1.2.3.4")) +
            _explicit(2, 0x10, "UI", uid(syntax)))
    return b"\0" * 128 + b"DICM" + _explicit(2, 0, "UL", struct.pack("<I", len(body))) + body + dataset_bytes


def hostile():
    """name -> (Part 10 bytes, the status lgmsd answers, a word its detail holds): uploads of
    a few KB that, unchecked, make DCMTK allocate gigabytes or recurse without end."""
    image = part10(dataset(np.zeros((8, 8), np.uint8)))
    meta_end = 132 + 12 + struct.unpack_from("<I", image, 140)[0]
    huge_meta = bytearray(image)
    struct.pack_into("<I", huge_meta, 132 + 12 + 8, 0xFDFFFF01)  # (0002,0001) OB declares 4 GB
    huge_element = image[:meta_end] + _explicit(0x0008, 0x0008, "UT", b"ORIGINAL", 0xCE000000) + image[meta_end:]
    deep = b""
    for _ in range(2000):  # sequences in items in sequences ..., all of undefined length
        deep += _explicit(0x0008, 0x1115, "SQ", length=0xFFFFFFFF) + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    for _ in range(2000):
        deep += struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    item_overflow = (_explicit(0x0008, 0x1115, "SQ", length=0xFFFFFFFF) +
                     struct.pack("<HHI", 0xFFFE, 0xE000, 0x7FFFFFF0) + b"\0" * 16)
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    inflated = _explicit(0x0008, 0x0008, "UT", length=1 << 28) + b"\0" * (1 << 28)  # 256 MiB of nothing
    deflated = bomb.compress(inflated) + bomb.flush()
    rle = dataset(np.arange(64, dtype=np.uint16).reshape(8, 8), bits_stored=16)
    part10(rle, RLELossless)
    frame = bytearray(decode_data_sequence(rle.PixelData)[0])
    struct.pack_into("<I", frame, 8, 0x200000C2)  # segment 2 starts 512 MB into a 200-byte fragment
    rle.PixelData = encapsulate([bytes(frame)])
    return {
        "rle-segment-outside": (part10(rle, None), 422, "outside"),
        "huge-meta-element": (bytes(huge_meta), 422, "File Meta"),
        "huge-element": (huge_element, 422, "(0008,0008) declares"),
        "deep-sequences": (_with_meta(deep), 422, "nest deeper"),
        "item-overflow": (_with_meta(item_overflow), 422, "item declares"),
        "deflate-bomb": (_with_meta(deflated, "1.2.840.10008.1.2.1.99"), 413, "max_body_bytes"),
    }
