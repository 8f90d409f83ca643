"""PNG files written byte by byte, for the sample formats cv2.imwrite cannot make
(palette with tRNS, grey + alpha, 1/2/4-bit grey) and for exact control of 16-bit bytes.

Every writer takes numpy arrays of the samples as they should be stored; 16-bit samples
are written big-endian, as the PNG format requires."""

import struct
import zlib

import numpy as np

COLOUR_TYPES = {"grey": 0, "rgb": 2, "palette": 3, "grey_alpha": 4, "rgba": 6}
CHANNELS = {"grey": 1, "rgb": 3, "palette": 1, "grey_alpha": 2, "rgba": 4}


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _rows(samples, depth):
    """Filter-0 scanlines of an h x w x c sample array at the given bit depth."""
    h = samples.shape[0]
    out = []
    for y in range(h):
        row = samples[y].reshape(-1)
        if depth == 16:
            data = row.astype(">u2").tobytes()
        elif depth == 8:
            data = row.astype(np.uint8).tobytes()
        else:  # 1, 2, 4: pack MSB first
            per = 8 // depth
            padded = np.zeros(((row.size + per - 1) // per) * per, np.uint8)
            padded[: row.size] = row
            packed = np.zeros(padded.size // per, np.uint8)
            for k in range(per):
                packed |= (padded[k::per] << (8 - depth * (k + 1))).astype(np.uint8)
            data = packed.tobytes()
        out.append(b"\0" + data)
    return b"".join(out)


def write_png(path, samples, depth, colour, palette=None, trns=None):
    """samples: h x w (x c) array; colour: a key of COLOUR_TYPES; palette: n x 3 (palette
    images); trns: the tRNS chunk payload (bytes) or None."""
    samples = np.asarray(samples)
    if samples.ndim == 2:
        samples = samples[:, :, None]
    h, w, c = samples.shape
    assert c == CHANNELS[colour], (c, colour)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, COLOUR_TYPES[colour], 0, 0, 0))
    if palette is not None:
        data += _chunk(b"PLTE", np.asarray(palette).astype(np.uint8).tobytes())
    if trns is not None:
        data += _chunk(b"tRNS", trns)
    data += _chunk(b"IDAT", zlib.compress(_rows(samples, depth)))
    data += _chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def palette_png(path, idx, palette, trns=None):
    """An 8-bit palette PNG (cv2 cannot write one)."""
    write_png(path, idx, 8, "palette", palette=palette, trns=trns)
