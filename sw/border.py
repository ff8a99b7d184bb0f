"""Uniform borders around re-posted content (letterbox bars, a screenshot's frame).

Host code, used on the query side only: a query tries the content with such borders
trimmed as well as as given (:func:`rosvd.fingerprint.query_views`), so a letterboxed or
screenshotted copy meets the stored fingerprint of the original. What is stored and signed
(scheme 1) never goes through it.
"""
from __future__ import annotations

import numpy as np

_LUMA = np.array([0.299, 0.587, 0.114])
#: Tuned on the benchmark's tuning families (docs/fingerprint.md, section 4): a border line's
#: luma may differ from the outermost line's by TOLERANCE, in at least SHARE of its pixels;
#: its colour is neutral when its channels are within NEUTRAL of one another; at most
#: MAX_FRACTION of the height (width) is trimmed from each side.
TOLERANCE = 16
SHARE = 0.98
NEUTRAL = 24
MAX_FRACTION = 0.3


def border_widths(image: np.ndarray, tolerance: int = TOLERANCE, share: float = SHARE,
                  neutral: int = NEUTRAL, max_fraction: float = MAX_FRACTION) -> tuple[int, int, int, int]:
    """Rows (top, bottom) and columns (left, right) of uniform border around a uint8 RGB image.

    From each side inwards, a row (then, on what is left, a column) is border while at
    least ``share`` of its pixels have a luma within ``tolerance`` of the median luma of
    the outermost line on that side and every channel within ``3 tolerance`` of its median
    colour (looser, because JPEG blurs chroma into a frame), and that
    line's median colour is neutral (black, grey or white: channels within ``neutral`` of
    one another; a uniform blue sky is content); at most ``max_fraction`` of the height
    (width) goes from each side.
    """
    def run_length(lines: np.ndarray) -> int:
        # lines: (L, M, 3) from the outside inwards; most images stop at the first line
        limit = int(max_fraction * len(lines))
        colour = np.median(lines[0], axis=0)
        if float(colour.max() - colour.min()) > neutral:
            return 0
        level = float(colour @ _LUMA)
        for index in range(limit):
            line = lines[index].astype(np.float64)
            near = (np.abs(line @ _LUMA - level) <= tolerance) & (np.abs(line - colour).max(axis=-1)
                                                                  <= 3 * tolerance)
            if near.mean() < share:
                return index
        return limit

    top = run_length(image)
    bottom = run_length(image[::-1])
    columns = image[top:image.shape[0] - bottom].swapaxes(0, 1)
    return top, bottom, run_length(columns), run_length(columns[::-1])


def _cut(pixels: np.ndarray, widths: tuple[int, int, int, int]) -> np.ndarray:
    top, bottom, left, right = widths
    if not any(widths):
        return pixels
    return np.ascontiguousarray(pixels[top:pixels.shape[0] - bottom, left:pixels.shape[1] - right])


def trim_uniform_border(image: np.ndarray, **limits) -> np.ndarray:
    """A uint8 RGB image without its uniform border (:func:`border_widths`; ``limits`` are its
    keyword arguments); an image with no such border comes back unchanged (the same array)."""
    return _cut(image, border_widths(image, **limits))


def trim_content_border(pixels: np.ndarray) -> np.ndarray:
    """:func:`trim_uniform_border` for any content's pixels: 8-bit grey (H, W) or (H, W, 1),
    RGB or RGBA (the colour channels decide, every channel is cut). Other content (16-bit,
    floating point, two channels) comes back unchanged: the border tests are in 8-bit units."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] == 2):
        return pixels
    grey = pixels if pixels.ndim == 2 else pixels[:, :, 0] if pixels.shape[2] == 1 else None
    colour = np.repeat(grey[:, :, None], 3, axis=2) if grey is not None else pixels[:, :, :3]
    return _cut(pixels, border_widths(colour))
