"""Content in: every accepted form decodes to the expected pixels, every bad input is refused by type."""
import io

import numpy as np
import pytest
from PIL import Image

from rosvd import ingest


def encode(array, fmt, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (24, 40, 3), dtype=np.uint8)
RGBA = RNG.integers(0, 256, (24, 40, 4), dtype=np.uint8)
GREY = RNG.integers(0, 256, (24, 40), dtype=np.uint8)
GREY16 = RNG.integers(0, 65536, (24, 40), dtype=np.uint16)


@pytest.mark.parametrize("array,fmt,options", [
    (RGB, "PNG", {}), (RGBA, "PNG", {}), (GREY, "PNG", {}), (GREY16, "PNG", {}),
    (RGB, "WEBP", {"lossless": True}), (RGB, "TIFF", {}), (GREY16, "TIFF", {}),
])
def test_lossless_formats_give_back_the_pixels(array, fmt, options):
    content = ingest.from_bytes(encode(array, fmt, **options), "x")
    assert content.kind == "image"
    np.testing.assert_array_equal(content.pixels, array)
    assert content.pixels.dtype == array.dtype


def test_jpeg_decodes_to_rgb_close_to_the_source():
    content = ingest.from_bytes(encode(RGB, "JPEG", quality=95), "x.jpg")
    assert content.kind == "image" and content.pixels.shape == RGB.shape


def test_palette_and_grey_alpha_become_rgb_or_rgba():
    palette = Image.fromarray(RGB).convert("P")
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG")
    content = ingest.from_bytes(buffer.getvalue(), "p.png")
    np.testing.assert_array_equal(content.pixels, np.asarray(palette.convert("RGB")))
    la = np.stack([GREY, GREY[::-1]], axis=-1)
    content = ingest.from_bytes(encode(la, "PNG"), "la.png")
    assert content.pixels.shape == (24, 40, 4)
    np.testing.assert_array_equal(content.pixels[..., 3], GREY[::-1])
    np.testing.assert_array_equal(content.pixels[..., 1], GREY)


def test_exact_bytes_are_the_file_bytes():
    data = encode(RGB, "PNG")
    content = ingest.from_bytes(data, "x.png")
    assert content.data == data
    import blake3
    assert content.blake3() == blake3.blake3(data).digest()


def test_other_files_are_certified_as_bytes_only():
    for data in (b"hello world", b"GIF89a" + bytes(20), bytes(range(256))):
        content = ingest.from_bytes(data, "f")
        assert content.kind == "file" and content.pixels is None and content.data == data


def test_array_bytes_are_canonical_and_distinguish_dtype_and_shape():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert ingest.array_bytes(a) == ingest.array_bytes(np.asfortranarray(a))
    assert ingest.array_bytes(a) != ingest.array_bytes(a.reshape(4, 3))
    assert ingest.array_bytes(a) != ingest.array_bytes(a.astype(np.uint16))
    big_endian = np.arange(12, dtype=">u2").reshape(3, 4)
    assert ingest.array_bytes(big_endian) == ingest.array_bytes(big_endian.astype("<u2"))
    content = ingest.from_array(a)
    assert content.kind == "array" and content.data == ingest.array_bytes(a)
    assert content.data.endswith(a.tobytes())


@pytest.mark.parametrize("data,error", [
    (b"", ingest.EmptyContent),
    (encode(RGB, "PNG")[:60], ingest.CorruptContent),
    (encode(RGB, "JPEG")[:300], ingest.CorruptContent),
    (b"\x89PNG\r\n\x1a\n" + bytes(40), ingest.CorruptContent),
    (encode(np.zeros((1, 40), np.uint8), "PNG"), ingest.BadAspectRatio),
])
def test_bad_files_are_refused_by_type(data, error):
    with pytest.raises(error):
        ingest.from_bytes(data, "bad")


def test_decompression_bomb_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(ingest, "MAX_PIXELS", 500)
    with pytest.raises(ingest.ContentTooLarge, match="exceeds the limit"):
        ingest.from_bytes(encode(RGB, "PNG"), "bomb.png")


def test_real_decompression_bomb_png():
    # 20000 x 20000 grey, all zero: a few hundred kB compressed, 400 M pixels decoded.
    image = Image.new("L", (20000, 20000))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=9)
    with pytest.raises(ingest.ContentTooLarge):
        ingest.from_bytes(buffer.getvalue(), "bomb.png")


@pytest.mark.parametrize("array,error", [
    (np.zeros((0, 5), np.uint8), ingest.EmptyContent),
    (np.zeros((4, 4, 2), np.uint8), ingest.UnsupportedContent),
    (np.zeros((4,), np.uint8), ingest.UnsupportedContent),
    (np.zeros((4, 4), np.int32), ingest.UnsupportedContent),
    (np.full((4, 4), np.nan), ingest.UnsupportedContent),
    (np.full((4, 4), 1.5), ingest.UnsupportedContent),
    (np.zeros((2, 100), np.uint8), ingest.BadAspectRatio),
])
def test_bad_arrays_are_refused_by_type(array, error):
    with pytest.raises(error):
        ingest.from_array(array)


def test_paths(tmp_path):
    with pytest.raises(ingest.ContentError, match="no such file"):
        ingest.from_path(tmp_path / "missing.png")
    with pytest.raises(ingest.ContentError, match="directory"):
        ingest.from_path(tmp_path)
    path = tmp_path / "a.png"
    path.write_bytes(encode(GREY, "PNG"))
    assert ingest.from_path(path).name == str(path)


def test_load_paths_keeps_order_and_hands_back_errors(tmp_path):
    paths = []
    for i in range(10):
        path = tmp_path / f"{i}.png"
        path.write_bytes(encode(np.full((8, 8), i, np.uint8), "PNG") if i != 4 else b"\x89PNG\r\n\x1a\n")
        paths.append(path)
    results = list(ingest.load_paths(paths, workers=2, lookahead=3))
    assert [path for path, _ in results] == paths
    assert isinstance(results[4][1], ingest.CorruptContent)
    assert [int(c.pixels[0, 0]) for i, (_, c) in enumerate(results) if i != 4] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
