"""Content in: files, images and arrays become :class:`Content` or a typed error.

Three kinds of content are certified:

* ``image``: PNG, JPEG, WebP or TIFF decoded by Pillow (8/16-bit grey, RGB, RGBA,
  palette, grey+alpha; the first frame of a multi-frame file). Plain 8-bit PNGs take
  :mod:`.png_fast`, which gives Pillow's pixels faster. The exact bytes are the
  file's bytes; the pixels feed the robust fingerprint.
* ``array``: a numpy array handed over by an accelerator pipeline (uint8, uint16 or
  float in 0..1; shapes (H, W) or (H, W, 1|3|4)). Its exact bytes are
  :func:`array_bytes`, a canonical serialisation, so the same tensor always hashes alike.
* ``file``: anything else; certified by its exact bytes only (no fingerprint).

Every refusal is a :class:`ContentError` subclass raised before anything is written.
"""
from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import blake3
import numpy as np
from PIL import Image, UnidentifiedImageError

#: Image formats whose pixels are fingerprinted; other files are certified as bytes.
IMAGE_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "TIFF"})
#: Decompression-bomb guard: more pixels than this is refused (8K x 8K is 67 M).
MAX_PIXELS = 80_000_000
#: Largest input accepted at all (bytes), to bound memory per item.
MAX_FILE_BYTES = 1 << 30
#: Leading bytes of image formats we decode: a file starting with one of these that does
#: not decode is corrupt, not "some other file".
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")
ARRAY_MAGIC = b"ROSVD-ARRAY\x00"


class ContentError(ValueError):
    """Content that cannot be certified; the message says why."""


class EmptyContent(ContentError):
    """Zero bytes, or an image or array with no pixels."""


class CorruptContent(ContentError):
    """Truncated or undecodable data in a format we decode."""


class ContentTooLarge(ContentError):
    """More pixels or bytes than the configured limits (decompression bombs included)."""


class UnsupportedContent(ContentError):
    """A pixel mode, dtype or shape we do not fingerprint."""


class BadAspectRatio(ContentError):
    """An image far too thin to fingerprint meaningfully."""


#: Typed error for each kind of problem :func:`rosvd.preprocess.find_problem` reports.
PROBLEM_ERRORS = {"type": UnsupportedContent, "dtype": UnsupportedContent, "shape": UnsupportedContent,
                  "channels": UnsupportedContent, "values": UnsupportedContent, "empty": EmptyContent,
                  "size": ContentTooLarge, "aspect": BadAspectRatio}


@dataclass(frozen=True)
class Content:
    """One item to certify."""

    kind: str                      #: "image", "array" or "file"
    parts: tuple                   #: buffers whose concatenation is the exact bytes hashed
    pixels: np.ndarray | None      #: (H, W) or (H, W, C) for images and arrays
    name: str                      #: file path or caller-given label

    @property
    def data(self) -> bytes:
        """The exact bytes (a copy; hashing uses :meth:`blake3` without one)."""
        return b"".join(bytes(part) for part in self.parts)

    def blake3(self) -> bytes:
        hasher = blake3.blake3()
        for part in self.parts:
            hasher.update(part)
        return hasher.digest()


def array_parts(array: np.ndarray) -> tuple:
    """Canonical bytes of an array, as buffers: magic, dtype name, ndim, shape (u64 LE),
    then the data little-endian in C order (a view, not a copy, where it already is)."""
    data = np.ascontiguousarray(array, dtype=np.dtype(array.dtype).newbyteorder("<"))
    name = data.dtype.name.encode()
    header = ARRAY_MAGIC + struct.pack("<B", len(name)) + name + struct.pack("<B", array.ndim)
    header += struct.pack(f"<{array.ndim}Q", *array.shape)
    return header, memoryview(data).cast("B")


def array_bytes(array: np.ndarray) -> bytes:
    """The canonical bytes of :func:`array_parts`, joined."""
    return b"".join(bytes(part) for part in array_parts(array))


def check_pixels(pixels, name: str = "array") -> np.ndarray:
    """Validate an image-like array (the preprocessing's rules, plus this module's pixel
    limit) with typed errors; return it C-contiguous."""
    from .preprocess import find_problem
    pixels = np.asarray(pixels)
    problem = find_problem(pixels)
    if problem is not None:
        kind, message = problem
        raise PROBLEM_ERRORS[kind](f"{name}: {message}")
    height, width = pixels.shape[:2]
    if height * width > MAX_PIXELS:
        raise ContentTooLarge(f"{name}: {height * width} pixels exceeds the limit of {MAX_PIXELS}")
    return np.ascontiguousarray(pixels)


def from_array(array, name: str = "array") -> Content:
    """Content for an in-memory array (the accelerator hand-off)."""
    pixels = check_pixels(array, name)
    return Content("array", array_parts(pixels), pixels, name)


def grey_alpha_as_rgba(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 2) grey and alpha as (H, W, 4) RGBA: the fingerprint reads RGB(A)."""
    return np.stack([pixels[..., 0]] * 3 + [pixels[..., 1]], axis=-1)


def _image_pixels(image: Image.Image, name: str) -> np.ndarray:
    """Pixels of a decoded image as uint8/uint16, grey or RGB(A)."""
    mode = image.mode
    if mode in ("1", "L", "RGB", "RGBA"):
        out = np.asarray(image.convert("L") if mode == "1" else image)
    elif mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        out = np.asarray(image.convert("RGBA" if has_alpha else "RGB"))
    elif mode == "LA":
        out = grey_alpha_as_rgba(np.asarray(image))
    elif mode in ("I;16", "I;16B", "I;16L", "I"):
        out = np.asarray(image)
        if mode == "I" and (out.min() < 0 or out.max() > 0xFFFF):
            raise UnsupportedContent(f"{name}: 32-bit integer pixels outside 0..65535")
        out = out.astype(np.uint16)
    elif mode in ("CMYK", "YCbCr"):
        out = np.asarray(image.convert("RGB"))
    else:
        raise UnsupportedContent(f"{name}: pixel mode {mode} is not supported")
    return out


def decode_image(data: bytes, name: str) -> tuple[np.ndarray, str] | None:
    """Decode an image we fingerprint; ``None`` if the bytes are not such an image."""
    from . import png_fast
    fast = png_fast.decode(data, MAX_PIXELS)   # the common PNGs; None leaves the file to Pillow
    if fast is not None:
        return check_pixels(grey_alpha_as_rgba(fast) if fast.ndim == 3 and fast.shape[2] == 2 else fast,
                            name), "PNG"
    looks_like_image = data.startswith(IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            fmt = image.format
            if fmt not in IMAGE_FORMATS:
                return None
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ContentTooLarge(f"{name}: {width * height} pixels exceeds the limit of {MAX_PIXELS}")
            if width == 0 or height == 0:
                raise EmptyContent(f"{name}: image has no pixels")
            image.load()
            pixels = _image_pixels(image, name)
    except ContentError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ContentTooLarge(f"{name}: decompression bomb refused ({exc})") from exc
    except UnidentifiedImageError as exc:
        if looks_like_image:
            raise CorruptContent(f"{name}: image header not recognised ({exc})") from exc
        return None
    except (OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
        raise CorruptContent(f"{name}: corrupt or truncated image ({exc})") from exc
    return check_pixels(pixels, name), fmt


def from_bytes(data: bytes, name: str = "bytes") -> Content:
    """Content for raw bytes: an image if it decodes as one we fingerprint, else a file."""
    if not data:
        raise EmptyContent(f"{name}: zero bytes")
    if len(data) > MAX_FILE_BYTES:
        raise ContentTooLarge(f"{name}: {len(data)} bytes exceeds the limit of {MAX_FILE_BYTES}")
    decoded = decode_image(data, name)
    if decoded is None:
        return Content("file", (data,), None, name)
    return Content("image", (data,), decoded[0], name)


def from_path(path) -> Content:
    """Content for a file on disk."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ContentTooLarge(f"{path}: {size} bytes exceeds the limit of {MAX_FILE_BYTES}")
        data = path.read_bytes()
    except IsADirectoryError as exc:
        raise ContentError(f"{path}: is a directory (--recursive certifies the files in it)") from exc
    except FileNotFoundError as exc:
        raise ContentError(f"{path}: no such file") from exc
    except PermissionError as exc:
        raise ContentError(f"{path}: permission denied") from exc
    return from_bytes(data, str(path))


def expand_paths(arguments, recursive: bool = False, stdin=None) -> list[str]:
    """The files named by command-line ``arguments``: ``-`` reads one path per line from
    ``stdin``; a directory is walked (sorted, symlinked directories not followed) only when
    ``recursive``, and is otherwise left for :func:`from_path` to refuse by name."""
    import os
    import sys
    expanded = []
    for argument in arguments:
        if argument == "-":
            expanded += [line.rstrip("\r\n") for line in (stdin or sys.stdin) if line.strip()]
        elif recursive and Path(argument).is_dir():
            for root, directories, files in os.walk(argument):
                directories.sort()
                expanded += [os.path.join(root, name) for name in sorted(files)]
        else:
            expanded.append(argument)
    return expanded


def load_paths(paths, workers: int = 2, lookahead: int = 64):
    """Yield ``(path, Content or ContentError)`` for each path, in order, decoding up to
    ``lookahead`` files ahead in ``workers`` threads (Pillow and file reads release the GIL)."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    def load(path):
        try:
            return from_path(path)
        except ContentError as error:
            return error

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rosvd-ingest") as pool:
        pending = deque()
        for path in paths:
            pending.append((path, pool.submit(load, path)))
            if len(pending) >= lookahead:
                path_done, future = pending.popleft()
                yield path_done, future.result()
        while pending:
            path_done, future = pending.popleft()
            yield path_done, future.result()
