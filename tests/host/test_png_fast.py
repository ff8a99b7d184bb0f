"""The fast PNG path gives exactly Pillow's pixels on every file it accepts, and leaves
every other file to Pillow (so users see Pillow's result or its refusal)."""
import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from rosvd import ingest, png_fast

MODES = {0: "L", 2: "RGB", 4: "LA", 6: "RGBA"}


def chunk(kind: bytes, payload: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + payload) if crc is None else crc
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filtered_rows(pixels: np.ndarray, filters) -> bytes:
    """Independent encoder: each row filtered with the given type (PNG spec, section 9)."""
    height = pixels.shape[0]
    rows = pixels.reshape(height, -1).astype(np.int64)
    bpp = 1 if pixels.ndim == 2 else pixels.shape[2]
    out = bytearray()
    for y in range(height):
        kind = filters[y % len(filters)]
        above = rows[y - 1] if y else np.zeros_like(rows[0])
        line = []
        for x, value in enumerate(rows[y]):
            left = rows[y][x - bpp] if x >= bpp else 0
            up_left = above[x - bpp] if x >= bpp else 0
            predictor = [0, left, above[x], (left + above[x]) // 2, paeth(left, above[x], up_left)][kind]
            line.append((value - predictor) % 256)
        out += bytes([kind]) + bytes(line)
    return bytes(out)


def encode(pixels: np.ndarray, colour: int, filters=(0, 1, 2, 3, 4), idat_parts: int = 1,
           extra: bytes = b"", header_crc: int | None = None, rows: bytes | None = None) -> bytes:
    height, width = pixels.shape[:2]
    stream = zlib.compress(filtered_rows(pixels, filters) if rows is None else rows, 6)
    cuts = np.linspace(0, len(stream), idat_parts + 1).astype(int)
    idats = b"".join(chunk(b"IDAT", stream[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True))
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (png_fast.PNG_SIGNATURE + chunk(b"IHDR", header, header_crc) + extra + idats
            + chunk(b"tEXt", b"Comment\0rosvd") + chunk(b"IEND", b""))


def pillow_pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return np.asarray(image)


def random_pixels(rng, height, width, colour):
    channels = png_fast.CHANNELS[colour]
    shape = (height, width) if channels == 1 else (height, width, channels)
    return rng.integers(0, 256, shape, dtype=np.uint8)


@settings(max_examples=60, deadline=None)
@given(colour=st.sampled_from(sorted(MODES)), height=st.integers(1, 9), width=st.integers(1, 9),
       filters=st.lists(st.integers(0, 4), min_size=1, max_size=5), parts=st.integers(1, 3),
       seed=st.integers(0, 2**32 - 1))
def test_every_filter_and_colour_type_decodes_as_pillow_does(colour, height, width, filters, parts, seed):
    pixels = random_pixels(np.random.default_rng(seed), height, width, colour)
    data = encode(pixels, colour, filters, parts)
    fast = png_fast.decode(data, ingest.MAX_PIXELS)
    assert fast is not None
    assert fast.dtype == np.uint8 and np.array_equal(fast, pillow_pixels(data))
    assert np.array_equal(fast, pixels)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_pillow_written_files_take_the_fast_path_with_the_same_pixels(mode, level):
    rng = np.random.default_rng(level)
    image = Image.fromarray(rng.integers(0, 256, (37, 53, len(mode)), dtype=np.uint8).squeeze(), mode)
    smooth = image.resize((101, 67))                    # smooth content: Pillow picks other filters
    for picture in (image, smooth):
        buffer = io.BytesIO()
        picture.save(buffer, "PNG", compress_level=level)
        data = buffer.getvalue()
        fast = png_fast.decode(data, ingest.MAX_PIXELS)
        assert fast is not None and np.array_equal(fast, pillow_pixels(data))
        # ingest gives the same content either way (grey+alpha as RGBA included).
        with_fast = ingest.from_bytes(data, "x").pixels
        assert np.array_equal(with_fast, ingest._image_pixels(Image.open(io.BytesIO(data)), "x"))


def test_unusual_files_are_left_to_pillow():
    rng = np.random.default_rng(1)
    rgb = random_pixels(rng, 4, 5, 2)
    plain = encode(rgb, 2)
    assert png_fast.decode(plain, ingest.MAX_PIXELS) is not None
    header = struct.pack(">IIBBBBB", 5, 4, 8, 2, 0, 0, 0)
    refused = {
        "bad header checksum": encode(rgb, 2, header_crc=zlib.crc32(b"IHDR" + header) ^ 1),
        "transparency": encode(rgb, 2, extra=chunk(b"tRNS", b"\0\0\0\0\0\0")),
        "animation": encode(rgb, 2, extra=chunk(b"acTL", b"\0\0\0\1\0\0\0\0")),
        "truncated": plain[:-30],
        "no IEND": plain[:-12],
        "not a PNG": b"GIF89a" + plain[6:],
        "too many pixels": plain,
        "unknown filter": encode(rgb, 2, rows=b"\x05" + filtered_rows(rgb, (0,))[1:]),
        "short stream": encode(rgb, 2, rows=filtered_rows(rgb, (0,))[:-1]),
        "long stream": encode(rgb, 2, rows=filtered_rows(rgb, (0,)) + b"\0"),
        "corrupt stream": plain.replace(chunk(b"IDAT", zlib.compress(filtered_rows(rgb, (0, 1, 2, 3, 4)), 6)),
                                        chunk(b"IDAT", b"\x78\x9c not deflate at all")),
        "16-bit": plain.replace(chunk(b"IHDR", header),
                                chunk(b"IHDR", struct.pack(">IIBBBBB", 5, 4, 16, 2, 0, 0, 0))),
        "interlaced": plain.replace(chunk(b"IHDR", header),
                                    chunk(b"IHDR", struct.pack(">IIBBBBB", 5, 4, 8, 2, 0, 0, 1))),
    }
    assert refused["corrupt stream"] != plain
    for why, data in refused.items():
        limit = 19 if why == "too many pixels" else ingest.MAX_PIXELS
        assert png_fast.decode(data, limit) is None, why


def test_refusals_are_pillows_own():
    """A file the fast path leaves alone gets Pillow's verdict: corrupt stays corrupt."""
    rgb = random_pixels(np.random.default_rng(2), 6, 6, 2)
    data = encode(rgb, 2)
    truncated = data[:len(data) // 2]                  # inside the IDAT stream
    assert png_fast.decode(truncated, ingest.MAX_PIXELS) is None
    with pytest.raises(ingest.CorruptContent):
        ingest.from_bytes(truncated, "cut.png")
