"""Image array -> the SVD engine's ``n x n`` signed input matrix, in exact integer arithmetic.

Every step is specified on integers (docs/fingerprint.md repeats it for re-implementers),
so two implementations agree bit for bit. For ``p = SVDParams()`` (``n = 32``,
``data_width = 16``):

1. **Intensity** ``I`` in 0..65535 per sample: ``uint8 v -> 257 v``; ``uint16 v -> v``;
   ``float v`` (0..1, float32 widened exactly to float64) ``-> floor(v * 65535 + 0.5)``
   computed in IEEE-754 double precision.
2. **Alpha** (4 channels): each colour sample becomes ``(c * a + 32767) // 65535``
   (the image composited over black); the alpha channel is then dropped.
3. **Luma** (3 or 4 channels): ``Y = (19595 R + 38470 G + 7471 B + 32768) >> 16``
   (ITU-R BT.601 weights scaled to sum to 65536). One channel: ``Y = I``.
4. **Exact area average** onto an ``n x n`` grid: cell ``i`` covers source rows
   ``[i H / n, (i+1) H / n)`` (columns likewise). With all coordinates multiplied by
   ``n`` these are integers: ``R[i, r] = overlap([i H, (i+1) H), [r n, (r+1) n))``
   (each row of ``R`` sums to ``H``), ``C[j, c]`` likewise with ``W``, and the cell sum
   ``S = R Y C^T`` is an integer (the mean is ``S / (H W)``, never formed).
5. **Centre**: ``D = n^2 S - sum(S)`` (``n^2`` times the deviation from the mean).
6. **Window**: ``E[i][j] = D[i][j] * a_i * a_j`` with the integer trapezoid
   ``a_j = min(2j + 1, 2n - 2j - 1, n / 2)`` (a linear ramp over the outer ``n/4`` cells
   of each side, flat inside). Borders, where crops and rotations change the picture
   most, weigh less.
7. **Scale**: ``M = max |E|``; ``x = sign(E) * ((2 |E| input_max + M) // (2 M))``,
   i.e. ``E * input_max / M`` rounded half away from zero, so the largest magnitude maps
   to ``+-input_max``. A flat image (``M = 0``) gives the zero matrix.

The result is invariant to the image's brightness offset and contrast gain (up to the
rounding of step 7) and depends on nothing but the array.
"""
from __future__ import annotations

import numpy as np

from rosvd.hw.svd.params import SVDParams

#: Longest side over shortest side beyond which an array is refused (as in ``ingest``).
MAX_ASPECT_RATIO = 16
#: Most pixels accepted (above ``ingest``'s limit); with ``n <= 64`` every intermediate of
#: steps 4 and 5 stays below 2**56, well inside int64.
MAX_PIXELS = 1 << 27
#: Integer BT.601 luma weights (R, G, B), summing to 2**16.
LUMA_WEIGHTS = (19595, 38470, 7471)
LUMA_SHIFT = 16
#: Full scale of the intermediate intensity.
FULL_SCALE = 65535
#: Accepted sample types.
DTYPES = ("uint8", "uint16", "float32", "float64")


class PreprocessError(ValueError):
    """An array that cannot be turned into an engine matrix; the message says why."""


def find_problem(image) -> tuple[str, str] | None:
    """The first reason ``image`` cannot be preprocessed, as ``(kind, message)``, or None.

    Kinds: ``type``, ``dtype``, ``shape``, ``channels``, ``empty``, ``size``, ``aspect``,
    ``values`` (``rosvd.ingest`` maps them to its typed errors).
    """
    if not isinstance(image, np.ndarray):
        return "type", f"image must be a numpy array, not {type(image).__name__}"
    if image.dtype.name not in DTYPES:
        return "dtype", f"image dtype {image.dtype} is not one of {DTYPES}"
    if image.ndim not in (2, 3):
        return "shape", f"image shape {image.shape}: expected (H, W) or (H, W, C)"
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        return "channels", f"image has {image.shape[2]} channels: expected 1, 3 or 4"
    height, width = image.shape[:2]
    if height == 0 or width == 0:
        return "empty", f"image has no pixels (shape {image.shape})"
    if height * width > MAX_PIXELS:
        return "size", f"image has {height * width} pixels, more than the limit {MAX_PIXELS}"
    if max(height, width) > MAX_ASPECT_RATIO * min(height, width):
        return "aspect", f"image {width}x{height} is more elongated than {MAX_ASPECT_RATIO}:1"
    if image.dtype.kind == "f":
        if not np.isfinite(image).all():
            return "values", "float image contains NaN or infinity"
        if image.min() < 0.0 or image.max() > 1.0:
            return "values", f"float image must lie in [0, 1], found [{image.min()}, {image.max()}]"
    return None


def check_image(image) -> np.ndarray:
    """Validate shape, dtype, size, aspect ratio and float range; return the array."""
    problem = find_problem(image)
    if problem is not None:
        raise PreprocessError(problem[1])
    return image


def intensity(image: np.ndarray) -> np.ndarray:
    """Step 1: samples as int64 in 0..65535."""
    if image.dtype == np.uint8:
        return image.astype(np.int64) * 257
    if image.dtype == np.uint16:
        return image.astype(np.int64)
    return np.floor(image.astype(np.float64) * FULL_SCALE + 0.5).astype(np.int64)


def luma(image) -> np.ndarray:
    """Steps 1-3: validated image -> (H, W) int64 luma in 0..65535."""
    samples = intensity(check_image(image))
    if samples.ndim == 2:
        return samples
    if samples.shape[2] == 1:
        return samples[..., 0]
    colour = samples[..., :3]
    if samples.shape[2] == 4:
        colour = (colour * samples[..., 3:4] + FULL_SCALE // 2) // FULL_SCALE
    red, green, blue = (colour[..., c] for c in range(3))
    wr, wg, wb = LUMA_WEIGHTS
    return (wr * red + wg * green + wb * blue + (1 << (LUMA_SHIFT - 1))) >> LUMA_SHIFT


def overlap_matrix(cells: int, length: int) -> np.ndarray:
    """``(cells, length)`` integer overlaps of ``[i L, (i+1) L)`` with ``[r n, (r+1) n)``."""
    starts = np.arange(cells, dtype=np.int64)[:, None] * length
    sources = np.arange(length, dtype=np.int64)[None, :] * cells
    low = np.maximum(starts, sources)
    high = np.minimum(starts + length, sources + cells)
    return np.maximum(high - low, 0)


def _block_sums(values: np.ndarray, cells: int) -> np.ndarray:
    """``R Y`` along axis 0 via prefix sums over the ``n``-fold subdivided rows.

    With ``P(t)`` the sum of the first ``t`` sub-rows (source row ``r`` split into ``n``
    equal sub-rows), ``P(t) = n * cumsum(Y)[t // n] + (t % n) * Y[t // n]`` and cell ``i``
    is ``P((i+1) H) - P(i H)``: exact integers in ``O(H W)``.
    """
    length = values.shape[0]
    prefix = np.zeros((length + 1,) + values.shape[1:], dtype=np.int64)
    np.cumsum(values, axis=0, out=prefix[1:])
    bounds = np.arange(cells + 1, dtype=np.int64) * length
    whole, part = bounds // cells, bounds % cells
    partial = values[np.minimum(whole, length - 1)] * part.reshape((-1,) + (1,) * (values.ndim - 1))
    cumulative = cells * prefix[whole] + partial
    return cumulative[1:] - cumulative[:-1]


def area_sums(values: np.ndarray, cells: int) -> np.ndarray:
    """Step 4: ``S = R Y C^T`` as exact int64."""
    return _block_sums(_block_sums(values, cells).T, cells).T


def window(cells: int) -> np.ndarray:
    """Step 6: integer trapezoid weights ``min(2j + 1, 2n - 2j - 1, n / 2)``."""
    j = np.arange(cells, dtype=np.int64)
    return np.minimum(np.minimum(2 * j + 1, 2 * cells - 2 * j - 1), cells // 2)


def centre_and_scale(sums: np.ndarray, limit: int) -> np.ndarray:
    """Steps 5-7: windowed deviations from the mean, scaled so the largest magnitude is ``limit``."""
    cells = sums.shape[0]
    # Python integers: D * a_i * a_j and 2 |E| limit can exceed 2**63.
    deviation = (sums * sums.size - int(sums.sum())).astype(object)
    weights = window(cells).astype(object)
    windowed = deviation * np.multiply.outer(weights, weights)
    peak = int(np.abs(windowed).max())
    if peak == 0:
        return np.zeros(sums.shape, dtype=np.int64)
    magnitude = ((2 * limit * np.abs(windowed) + peak) // (2 * peak)).astype(np.int64)
    return np.where(windowed < 0, -magnitude, magnitude)


def preprocess(params: SVDParams, image) -> np.ndarray:
    """Image array (H, W) or (H, W, 1|3|4), uint8/uint16/float 0..1 -> (n, n) int64 matrix.

    The values lie in ``[-input_max, input_max]`` (within the engine's input range).
    Raises :class:`PreprocessError` for anything else.
    """
    return centre_and_scale(area_sums(luma(image), params.n), params.input_max)


def preprocess_batch(params: SVDParams, images) -> np.ndarray:
    """:func:`preprocess` of each image, stacked to (B, n, n)."""
    images = list(images)
    if not images:
        return np.zeros((0, params.n, params.n), dtype=np.int64)
    return np.stack([preprocess(params, image) for image in images])
