"""A fast path for the PNG files the appliance sees most: 8-bit, non-interlaced grey, grey
with alpha, RGB or RGBA.

Decoding is most of a PNG file's certification time, and most of that is inflating its
zlib stream. Here ISA-L's inflate (``isal``, about twice zlib's speed) and a numba kernel
that undoes the row filters (releasing the GIL, so the ingest threads run in parallel)
replace Pillow for those files. Anything else, or anything unusual about the file (a bad
header checksum, transparency or animation chunks, a stream of the wrong length, an
unknown filter), returns ``None`` and the caller decodes with Pillow, whose result and
errors are then the ones users get. So on every file it accepts this path returns exactly
Pillow's pixels (``tests/host/test_png_fast.py`` compares the two on every filter, colour
type, odd size and chunk layout), and it never accepts a file Pillow would refuse.
"""
from __future__ import annotations

import struct
import zlib

import numba
import numpy as np
from isal import isal_zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Channels per PNG colour type this path decodes (8 bits each): grey, RGB, grey+alpha, RGBA.
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}
#: Chunks after which Pillow's pixels are not the plain samples (transparency turns on a
#: mode conversion in :mod:`rosvd.ingest`; an animation's first frame needs its control).
PILLOW_CHUNKS = frozenset({b"tRNS", b"acTL", b"fcTL", b"fdAT", b"PLTE"})
_CHUNK_HEAD = struct.Struct(">I4s")
_IHDR = struct.Struct(">IIBBBBB")

FILTER_NONE, FILTER_SUB, FILTER_UP, FILTER_AVERAGE, FILTER_PAETH = range(5)


@numba.njit(cache=True, nogil=True)
def _paeth(left: int, up: int, up_left: int) -> int:
    estimate = left + up - up_left
    distance_left, distance_up = abs(estimate - left), abs(estimate - up)
    distance_up_left = abs(estimate - up_left)
    if distance_left <= distance_up and distance_left <= distance_up_left:
        return left
    if distance_up <= distance_up_left:
        return up
    return up_left


@numba.njit(cache=True, nogil=True)
def unfilter(raw: np.ndarray, height: int, stride: int, bpp: int, out: np.ndarray) -> bool:
    """Undo the per-row filters of ``raw`` (``height`` rows of a filter byte then ``stride``
    bytes) into ``out`` (height x stride); False on an unknown filter type. One loop per
    filter type, so the inner loops carry no branch on it. The row above the first is zero."""
    zero = np.zeros(stride, dtype=np.uint8)
    for row in range(height):
        base = row * (stride + 1) + 1
        kind = raw[base - 1]
        line = out[row]
        above = out[row - 1] if row > 0 else zero
        if kind == FILTER_NONE:
            for col in range(stride):
                line[col] = raw[base + col]
        elif kind == FILTER_SUB:
            for col in range(min(bpp, stride)):
                line[col] = raw[base + col]
            for col in range(bpp, stride):
                line[col] = (raw[base + col] + line[col - bpp]) & 0xFF
        elif kind == FILTER_UP:
            for col in range(stride):
                line[col] = (raw[base + col] + above[col]) & 0xFF
        elif kind == FILTER_AVERAGE:
            for col in range(min(bpp, stride)):
                line[col] = (raw[base + col] + (above[col] >> 1)) & 0xFF
            for col in range(bpp, stride):
                line[col] = (raw[base + col] + ((np.int32(line[col - bpp]) + above[col]) >> 1)) & 0xFF
        elif kind == FILTER_PAETH:
            for col in range(min(bpp, stride)):
                line[col] = (raw[base + col] + above[col]) & 0xFF      # Paeth(0, up, 0) = up
            for col in range(bpp, stride):
                predicted = _paeth(np.int32(line[col - bpp]), np.int32(above[col]),
                                   np.int32(above[col - bpp]))
                line[col] = (raw[base + col] + predicted) & 0xFF
        else:
            return False
    return True


def _chunks(data: bytes):
    """``(type, start, end)`` of each chunk's payload; None where the layout is not plain."""
    pos, size = len(PNG_SIGNATURE), len(data)
    while pos + 12 <= size:
        length, kind = _CHUNK_HEAD.unpack_from(data, pos)
        start, end = pos + 8, pos + 8 + length
        if end + 4 > size:
            return
        yield kind, start, end
        if kind == b"IEND":
            return
        pos = end + 4


def _crc_ok(data: bytes, kind: bytes, start: int, end: int) -> bool:
    (stored,) = struct.unpack_from(">I", data, end)
    return zlib.crc32(memoryview(data)[start:end], zlib.crc32(kind)) == stored


def decode(data: bytes, max_pixels: int) -> np.ndarray | None:
    """Pixels of a plain 8-bit PNG as Pillow gives them ((H, W) grey, else (H, W, C)), or
    ``None`` to leave the file to Pillow. Images over ``max_pixels`` are left to Pillow too,
    so its size checks refuse them before anything is inflated."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    header, idat, ended, after_idat = None, [], False, False
    for kind, start, end in _chunks(data):
        if kind == b"IDAT":
            if after_idat:                       # IDAT chunks must be consecutive
                return None
            idat.append(memoryview(data)[start:end])  # Pillow skips IDAT checksums too
            continue
        if idat:
            after_idat = True
        if not _crc_ok(data, kind, start, end) or kind in PILLOW_CHUNKS:
            return None
        if header is None:
            if kind != b"IHDR" or end - start != _IHDR.size:
                return None
            header = _IHDR.unpack_from(data, start)
        elif kind == b"IHDR":
            return None
        ended = kind == b"IEND"
    if header is None or not idat or not ended:
        return None
    width, height, depth, colour, compression, filtering, interlace = header
    channels = CHANNELS.get(colour)
    if channels is None or depth != 8 or compression or filtering or interlace:
        return None
    if not 0 < width * height <= max_pixels:
        return None
    stride = width * channels
    try:
        raw = isal_zlib.decompress(b"".join(idat))
    except isal_zlib.error:
        return None
    if len(raw) != height * (stride + 1):
        return None
    out = np.empty((height, stride), dtype=np.uint8)
    if not unfilter(np.frombuffer(raw, dtype=np.uint8), height, stride, channels, out):
        return None
    return out.reshape(height, width) if channels == 1 else out.reshape(height, width, channels)
