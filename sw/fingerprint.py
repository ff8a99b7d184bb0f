"""Robust public fingerprint (256 bits) from the SVD engine's low-rank factors.

Inputs: the engine's input matrix ``X`` (``n x n``, from :mod:`rosvd.preprocess`) and its
outputs, the singular values ``sigma`` (descending) and the top-k right singular vectors
``v_1..v_k`` (integers, scale ``2**v_frac``). Everything below is integer arithmetic, so
anyone holding the content and the public bit-exact model recomputes the same bytes
(docs/fingerprint.md is the normative text).

1. ``y_i = rnd(X v_i / 2**v_frac)``: the left factors ``sigma_i u_i`` in input units.
2. Gap taper: ``g_i = sigma_i - sigma_{k+1}``;
   ``w_i = min(256, (256 * TAPER_DEN * g_i) // (TAPER_NUM * sigma_1))`` (0 if ``sigma_1 = 0``).
   A component whose singular value is about to trade places with the first one the
   engine does not return fades out continuously instead of flipping the fingerprint.
3. Tapered low-rank image ``A = rnd(sum_i w_i y_i v_i^T / 2**(v_frac + 8))``. ``A`` does
   not change when a vector changes sign (``y_i`` and ``v_i`` flip together and
   ``rnd`` is symmetric), nor, when singular values are (near) equal, under rotations
   inside their subspace (equal weights, ``sum v_i v_i^T`` is basis-free).
4. ``F = Q A Q^T`` with ``Q`` the ``8 x n`` integer DCT-II table
   ``Q[u, j] = rnd(4096 * c_u * sqrt(2/n) * cos(pi (2j+1) u / (2n)))``, ``c_0 = 1/sqrt 2``,
   ``c_u = 1`` otherwise (no entry is within 1e-6 of a rounding tie, so any correct
   libm gives the same table): the 64 lowest spatial frequencies of ``A``, in row-major
   order ``c = 8 u + v``.
5. Relative quantisation: ``M = max_c |F_c|``; ``q_c = rnd(256 F_c / M)``, i.e.
   ``sign(F_c) * ((512 |F_c| + M) // (2 M))`` (all ``q_c = 0`` when ``M = 0``). Coefficients
   that are numerically nil next to the largest one (a flat or rank-1 image) become
   exact ties instead of ranking by noise.
6. Rank code: ``rank_c`` is the position of ``q_c`` in the ascending order of the 64
   values, ties broken by the smaller ``c`` first; ``level_c = (5 rank_c) // 64``
   (0..4, about a fifth of the coefficients each); coefficient ``c`` contributes the four
   bits ``level_c >= 1, >= 2, >= 3, >= 4`` (a thermometer code, so the Hamming distance
   adds up ``|level_c - level'_c|``) at bit positions ``4c .. 4c+3``. The 256 bits are
   packed MSB first into 32 bytes.

``rnd`` rounds half away from zero: ``rnd(p / 2**s) = sign(p) * ((|p| + 2**(s-1)) >> s)``.
"""
from __future__ import annotations

import math

import numpy as np

from rosvd.hw.svd.model import Decomposition
from rosvd.hw.svd.params import SVDParams, clog2

#: Fingerprint length.
FINGERPRINT_BYTES = 32
#: DCT coefficients kept per axis (8 x 8 = 64 coefficients).
DCT_SIZE = 8
#: Coefficients are quantised to +-QUANT_STEPS relative to the largest magnitude.
QUANT_STEPS = 256
#: Rank levels per coefficient; LEVELS - 1 thermometer bits each (64 x 4 = 256 bits).
LEVELS = 5
#: Fraction bits of the DCT table.
DCT_FRAC = 12
#: Fraction bits of the taper weights.
WEIGHT_FRAC = 8
#: The taper reaches full weight when the gap to sigma_{k+1} is TAPER_NUM/TAPER_DEN of sigma_1.
TAPER_NUM = 1
TAPER_DEN = 16


def round_shift(values: np.ndarray, shift: int) -> np.ndarray:
    """``values / 2**shift`` rounded half away from zero (odd symmetric), int64."""
    if shift == 0:
        return values
    half = np.int64(1) << (shift - 1)
    magnitude = (np.abs(values) + half) >> shift
    return np.where(values < 0, -magnitude, magnitude)


def dct_table(n: int, size: int = DCT_SIZE, frac: int = DCT_FRAC) -> np.ndarray:
    """``(size, n)`` integer DCT-II rows (orthonormal scale times ``2**frac``)."""
    table = np.zeros((size, n), dtype=np.int64)
    for u in range(size):
        scale = math.sqrt((1.0 if u else 0.5) * 2.0 / n) * (1 << frac)
        for j in range(n):
            value = scale * math.cos(math.pi * (2 * j + 1) * u / (2 * n))
            table[u, j] = int(math.copysign(math.floor(abs(value) + 0.5), value))
    return table


def taper_weights(params: SVDParams, sigma: np.ndarray) -> np.ndarray:
    """``(B, k)`` integer weights ``w_i`` of step 2 for ``(B, n)`` descending sigmas."""
    sigma = np.asarray(sigma, dtype=np.int64)
    k = params.k
    next_sigma = sigma[:, k] if k < sigma.shape[1] else np.zeros(sigma.shape[0], dtype=np.int64)
    gap = sigma[:, :k] - next_sigma[:, None]
    full = np.int64(1) << WEIGHT_FRAC
    denominator = TAPER_NUM * sigma[:, :1]
    safe = np.where(denominator == 0, 1, denominator)
    weights = np.minimum(full, (full * TAPER_DEN * gap) // safe)
    return np.where(denominator == 0, 0, np.maximum(weights, 0))


def low_rank_image(params: SVDParams, matrices, sigma, vectors) -> np.ndarray:
    """Steps 1-3: the tapered rank-k image ``A`` (B, n, n) in input units."""
    x = np.asarray(matrices, dtype=np.int64)
    v = np.asarray(vectors, dtype=np.int64)
    left = round_shift(np.einsum("brc,bic->bri", x, v), params.v_frac)           # (B, n, k)
    weighted = left * taper_weights(params, sigma)[:, None, :]
    return round_shift(np.einsum("bri,bic->brc", weighted, v), params.v_frac + WEIGHT_FRAC)


def dct_coefficients(params: SVDParams, matrices, sigma, vectors) -> np.ndarray:
    """(B, 64) int64 coefficients ``F`` of step 4, row-major."""
    low_rank = low_rank_image(params, matrices, sigma, vectors)
    table = dct_table(params.n)
    return np.einsum("ur,brc,vc->buv", table, low_rank, table).reshape(len(low_rank), -1)


def quantise(coefficients: np.ndarray) -> np.ndarray:
    """Step 5: ``rnd(QUANT_STEPS * F / max |F|)`` per row, exact (Python integers)."""
    wide = coefficients.astype(object)
    peak = np.abs(wide).max(axis=1, keepdims=True)
    safe = np.where(peak == 0, 1, peak)
    magnitude = ((2 * QUANT_STEPS * np.abs(wide) + safe) // (2 * safe)).astype(np.int64)
    return np.where(coefficients < 0, -magnitude, magnitude)


def check_params(params: SVDParams) -> None:
    """Refuse parameters for which an intermediate could leave int64 (never the defaults).

    Bounds: ``|y_i|, |A| <= n 2**(data_width-1)`` (spectral norm), ``|v| <= 2**v_frac``,
    ``|Q[u, j]| <= 2**DCT_FRAC sqrt(2/n)``.
    """
    log_n = clog2(params.n)
    left = params.data_width - 1 + log_n
    products = left + WEIGHT_FRAC + params.v_frac + clog2(params.k)
    dct = 1 + log_n + 2 * DCT_FRAC + left
    if max(products, dct) > 62:
        raise ValueError(f"fingerprint: data_width={params.data_width}, n={params.n},"
                         f" v_width={params.v_width} need {max(products, dct)}-bit intermediates;"
                         " the fingerprint supports 62")


def fingerprint_bits(params: SVDParams, matrices, sigma, vectors) -> np.ndarray:
    """(B, 256) uint8 bits of steps 1-6."""
    coefficients = quantise(dct_coefficients(params, matrices, sigma, vectors))
    batch, count = coefficients.shape
    order = np.argsort(coefficients, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(count)[None, :].repeat(batch, axis=0), axis=1)
    level = (LEVELS * rank) // count
    steps = np.arange(1, LEVELS)
    return (level[:, :, None] >= steps).astype(np.uint8).reshape(batch, -1)


def _outputs(decomposition, index: int | None):
    """(sigma (B, n), vectors (B, k, n)) from a Decomposition or a (sigma, vectors) pair."""
    if isinstance(decomposition, Decomposition):
        sigma, vectors = decomposition.sigma, decomposition.vectors
    else:
        sigma, vectors = decomposition
    sigma, vectors = np.asarray(sigma, dtype=np.int64), np.asarray(vectors, dtype=np.int64)
    if sigma.ndim == 1:
        sigma, vectors = sigma[None], vectors[None]
    if index is not None:
        sigma, vectors = sigma[index:index + 1], vectors[index:index + 1]
    return sigma, vectors


def _check(params: SVDParams, matrices: np.ndarray, sigma: np.ndarray, vectors: np.ndarray) -> None:
    check_params(params)
    n, k, batch = params.n, params.k, len(matrices)
    if matrices.shape[1:] != (n, n):
        raise ValueError(f"matrices must be (B, {n}, {n}), not {matrices.shape}")
    if sigma.shape != (batch, n) or vectors.shape != (batch, k, n):
        raise ValueError(f"engine outputs must be sigma (B, {n}) and vectors (B, {k}, {n}) for B={batch},"
                         f" not {sigma.shape} and {vectors.shape}")


def robust_fingerprints(params: SVDParams, matrices, decomposition) -> list[bytes]:
    """Fingerprints of a batch: ``matrices`` (B, n, n) and the engine's outputs for them.

    ``decomposition`` is a :class:`~rosvd.hw.svd.model.Decomposition` (or any pair
    ``(sigma, vectors)`` with shapes (B, n) and (B, k, n)).
    """
    x = np.asarray(matrices, dtype=np.int64)
    if x.ndim == 2:
        x = x[None]
    sigma, vectors = _outputs(decomposition, None)
    _check(params, x, sigma, vectors)
    bits = fingerprint_bits(params, x, sigma, vectors)
    return [bytes(row) for row in np.packbits(bits, axis=1)]


def robust_fingerprint(params: SVDParams, matrix, decomposition, index: int = 0) -> bytes:
    """Fingerprint (32 bytes) of one ``(n, n)`` matrix.

    ``decomposition`` holds the engine's outputs: a Decomposition (item ``index`` is
    used, so a batch result can be passed with the item's position) or a pair
    ``(sigma, vectors)`` of shapes (n,) and (k, n), or (B, n) and (B, k, n) with ``index``.
    """
    x = np.asarray(matrix, dtype=np.int64)
    sigma, vectors = _outputs(decomposition, index)
    return robust_fingerprints(params, x[None], (sigma, vectors))[0]


def fingerprint_images(params: SVDParams, images, decompose=None) -> list[bytes]:
    """Preprocess images, run ``decompose`` (default: the bit-exact model) and fingerprint."""
    from rosvd.preprocess import preprocess_batch
    if decompose is None:
        from rosvd.hw.svd.model import decompose
    matrices = preprocess_batch(params, images)
    return robust_fingerprints(params, matrices, decompose(params, matrices))


def fingerprint_images_fast(params: SVDParams, images) -> list[bytes]:
    """:func:`fingerprint_images` through the compiled paths the appliance certifies with
    (``preprocess_fast`` and the fast bit-exact model): the same bits, in milliseconds
    instead of a second (both are pinned to the specification by their own tests)."""
    from rosvd.fast_model import decompose
    from rosvd.preprocess_fast import preprocess_fast
    images = list(images)
    if not images:
        return []
    matrices = np.stack([preprocess_fast(params, image) for image in images])
    return robust_fingerprints(params, matrices, decompose(params, matrices))


def hamming_distance(a: bytes, b: bytes) -> float:
    """Fraction of differing bits between two equal-length fingerprints (0.0 .. 1.0)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"fingerprints must be non-empty and of equal length, not {len(a)} and {len(b)}")
    differing = np.unpackbits(np.frombuffer(bytes(a), np.uint8) ^ np.frombuffer(bytes(b), np.uint8)).sum()
    return float(differing) / (8 * len(a))


# Query variants -------------------------------------------------------------------------
#: The eight symmetries of the square, as transforms of the engine's input matrix (or of an
#: ``(H, W, ...)`` image: preprocessing commutes with each of them exactly, every cell
#: boundary and the window being symmetric, so ``preprocess(t(image)) == t(preprocess(image))``;
#: tested). ``mirror`` is the horizontal mirror (columns reversed), ``flip`` the vertical one.
VARIANTS = {
    "identity": lambda x: x,
    "mirror": lambda x: x[:, ::-1],
    "flip": lambda x: x[::-1],
    "rot180": lambda x: x[::-1, ::-1],
    "transpose": lambda x: x.swapaxes(0, 1),
    "rot90": lambda x: x.swapaxes(0, 1)[::-1],        # counter-clockwise
    "rot270": lambda x: x.swapaxes(0, 1)[:, ::-1],    # clockwise
    "antitranspose": lambda x: x.swapaxes(0, 1)[::-1, ::-1],
}
#: What a query tries by default: the content as given and its horizontal mirror.
QUERY_VARIANTS = ("identity", "mirror")


def transformed(variant: str, data: np.ndarray) -> np.ndarray:
    """``data`` (an ``(n, n)`` matrix or an ``(H, W, ...)`` image) under one of :data:`VARIANTS`."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown query variant {variant!r}; known: {', '.join(VARIANTS)}")
    return np.ascontiguousarray(VARIANTS[variant](np.asarray(data)))


def variant_fingerprints(params: SVDParams, matrices, variants=QUERY_VARIANTS,
                         decompose=None) -> list[list[bytes]]:
    """For ``(B, n, n)`` engine inputs, ``[[fingerprint of variant v of item b for v in variants]
    for b]``: each variant's matrix goes through the engine (``decompose``, default the
    bit-exact model) and the scheme-1 fingerprint, exactly as the content so transformed would."""
    if decompose is None:
        from rosvd.hw.svd.model import decompose
    x = np.asarray(matrices, dtype=np.int64)
    if x.ndim == 2:
        x = x[None]
    variants = tuple(variants)
    if not variants:
        raise ValueError("at least one query variant is needed")
    stacked = np.stack([transformed(v, m) for v in variants for m in x])
    prints = robust_fingerprints(params, stacked, decompose(params, stacked))
    batch = len(x)
    return [[prints[i * batch + b] for i in range(len(variants))] for b in range(batch)]


def _query_variants(variants) -> tuple[str, ...]:
    variants = tuple(variants)
    if variants[:1] != ("identity",):
        raise ValueError(f"the first query variant must be 'identity' (the stored fingerprint),"
                         f" not {variants}")
    return variants


def query_fingerprints(params: SVDParams, image, variants=QUERY_VARIANTS, decompose=None) -> list[bytes]:
    """Fingerprints a query tries for ``image``: the first is :func:`fingerprint_images`'s
    (what a certificate stores and signs), then one per further variant (by default the
    horizontal mirror). The match distance to a stored fingerprint is the minimum over the
    list (:func:`query_distance`); the scheme-1 fingerprint itself is unchanged."""
    from rosvd.preprocess import preprocess
    variants = _query_variants(variants)
    return variant_fingerprints(params, preprocess(params, image), variants, decompose)[0]


def query_fingerprints_fast(params: SVDParams, image, variants=QUERY_VARIANTS) -> list[bytes]:
    """:func:`query_fingerprints` through the compiled bit-exact paths (same bytes)."""
    from rosvd.fast_model import decompose
    from rosvd.preprocess_fast import preprocess_fast
    variants = _query_variants(variants)
    return variant_fingerprints(params, preprocess_fast(params, image), variants, decompose)[0]


def query_distance(stored: bytes, queries) -> float:
    """Match distance of a query to a stored fingerprint: the least :func:`hamming_distance`
    over the query's fingerprints (thresholds for it are in docs/fingerprint.md: a minimum
    over several variants needs a lower threshold than one fingerprint for the same FPR)."""
    queries = list(queries)
    if not queries:
        raise ValueError("a query needs at least one fingerprint")
    return min(hamming_distance(stored, query) for query in queries)
