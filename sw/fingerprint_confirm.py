"""Confirmation descriptor for the two-stage fingerprint match (host code).

Stage 1: the fingerprint index returns certificates whose scheme-1 fingerprint lies within
:data:`CANDIDATE_RADIUS_BITS` of one of the query's fingerprints (its variants: identity,
mirror and both after the uniform-border trim). Stage 2: each candidate's stored descriptor
is scored against the descriptor of the query variant that found it, and the candidate is
confirmed when the score is at least :data:`CONFIRM_THRESHOLD`. docs/fingerprint-confirm.md
gives the reasons and the measured rates.

**Descriptor** (version 2, :data:`DESCRIPTOR_BYTES` bytes): the version byte, then the
``int8`` values of the *whitened* low-frequency DCT-II coefficients of the engine input
``X``: every ``(u, v)`` with ``0 < u^2 + v^2 < RADIUS^2`` in row-major order, each multiplied
by the integer weight ``rnd(256 (u^2 + v^2)^(BETA / 2))`` (a ramp that flattens the
population's falling spectrum, so that the mid frequencies where unrelated look-alikes part
count as much as the low ones they share), then scaled so the largest magnitude is 127 and
rounded half away from zero. Integer arithmetic throughout (the integer DCT table of
scheme 1, ``rnd(4096 ...)``), so every host produces the same bytes.

**Score** (float64 in ``[-1, 1]``, higher = more alike): both descriptors are turned back
into ``n x n`` images (the whitened, band-limited ``X``), and the score is the largest, over
a fixed set of *views*, of their cosine similarity after the component along the
(whitened) preprocessing window is removed (a change of the image's mean brightness, such
as a caption band or black rotation corners, adds a multiple of that window to ``X``).
The views: the whole image; the whole image without its ``MASK_LINES`` outermost rows or
columns on one side (four views: a caption band or a banner over one edge is ignored);
the query rotated by each of :data:`ANGLES` degrees about the centre and scaled by each of
:data:`SCALES` (bilinear, on the square grid; these views leave out the outer
:data:`WARP_RING` cells). The views are what a copy may have undergone; each one a false
match may also use, which the false-match estimate includes (it is measured with the same
maximum). :func:`view_scores` gives every view's cosine.
"""
from __future__ import annotations

import math

import numpy as np

from rosvd.fingerprint import dct_table, round_shift
from rosvd.hw.svd.params import SVDParams

#: First byte of every descriptor blob.
DESCRIPTOR_VERSION = 2
#: Coefficients kept: ``0 < u^2 + v^2 < RADIUS^2``.
RADIUS = 17
#: Whitening exponent: coefficient ``(u, v)`` is weighted by ``|(u, v)|^BETA``.
BETA = 0.5
#: Rows (columns) a one-sided masked view leaves out.
MASK_LINES = 6
#: Rotations of the query tried (degrees, counter-clockwise).
ANGLES = (-5.0, -2.5, 2.5, 5.0)
#: Scales of the query tried (a centre crop keeping 90% of each side is undone by 0.9).
SCALES = (0.9,)
#: The warped views leave out this many outer rows and columns (where a warp samples
#: beyond the grid, or a copy's rotated corners lie).
WARP_RING = 2
#: Stage-1 radius (bits of 256) and stage-2 threshold (score >= it confirms).
CANDIDATE_RADIUS_BITS = 32
CONFIRM_THRESHOLD = 0.95

_N = 32
_FREQUENCIES = tuple((u, v) for u in range(RADIUS) for v in range(RADIUS)
                     if 0 < u * u + v * v < RADIUS * RADIUS)
COEFFICIENTS = len(_FREQUENCIES)
DESCRIPTOR_BYTES = 1 + COEFFICIENTS
_U = np.array([u for u, _ in _FREQUENCIES])
_V = np.array([v for _, v in _FREQUENCIES])
#: Integer whitening weights, ``rnd(256 |(u, v)|^BETA)``.
WEIGHTS = np.array([int(math.floor(256.0 * (u * u + v * v) ** (BETA / 2) + 0.5)) for u, v in _FREQUENCIES],
                   dtype=np.int64)


def _check_params(params: SVDParams) -> None:
    if params.n != _N:
        raise ValueError(f"the confirmation descriptor is defined for n = {_N}, not {params.n}")


def descriptors(params: SVDParams, matrices, decomposition=None) -> list[bytes]:
    """Descriptor blobs of ``(B, n, n)`` engine inputs (one ``(n, n)`` matrix is a batch of one).
    ``decomposition`` (the engine outputs) is accepted for the interface and not needed."""
    _check_params(params)
    x = np.asarray(matrices)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1:] != (params.n, params.n):
        raise ValueError(f"expected (B, {params.n}, {params.n}) matrices, got shape {x.shape}")
    if x.dtype.kind not in "iu":
        raise ValueError(f"engine inputs are integers, not {x.dtype}")
    x = x.astype(np.int64)
    if x.size and int(np.abs(x).max()) > params.input_max:
        raise ValueError(f"engine inputs exceed +-{params.input_max}")
    table = dct_table(params.n, RADIUS)                       # (RADIUS, n), scale 2**12
    rows = round_shift(np.einsum("ur,brc->buc", table, x), 12)                # |.| <= 32 * 32767
    full = np.einsum("buc,vc->buv", rows, table)                              # scale 2**12
    coefficients = round_shift(full[:, _U, _V], 6) * WEIGHTS                  # < 2**40
    peak = np.abs(coefficients).max(axis=1, keepdims=True)
    safe = np.where(peak == 0, 1, peak)
    magnitude = (2 * 127 * np.abs(coefficients) + safe) // (2 * safe)
    quantised = np.where(coefficients < 0, -magnitude, magnitude).astype(np.int8)
    head = bytes([DESCRIPTOR_VERSION])
    return [head + row.tobytes() for row in quantised]


def _decode(blobs) -> np.ndarray:
    """(K, COEFFICIENTS) float64 from blobs, refusing malformed ones."""
    for blob in blobs:
        if not isinstance(blob, (bytes, bytearray, memoryview)):
            raise ValueError(f"a descriptor is bytes, not {type(blob).__name__}")
        if len(blob) != DESCRIPTOR_BYTES:
            raise ValueError(f"a descriptor of {len(blob)} bytes; version {DESCRIPTOR_VERSION} has"
                             f" {DESCRIPTOR_BYTES}")
        if blob[0] != DESCRIPTOR_VERSION:
            raise ValueError(f"descriptor version {blob[0]}; this code reads version {DESCRIPTOR_VERSION}")
    if not blobs:
        return np.zeros((0, COEFFICIENTS))
    raw = np.frombuffer(b"".join(bytes(b) for b in blobs), dtype=np.int8).reshape(len(blobs), -1)
    return raw[:, 1:].astype(np.float64)


#: (RADIUS, n) orthonormal DCT-II rows, float64.
_COSINES = np.array([[math.sqrt((1.0 if u else 0.5) * 2.0 / _N)
                      * math.cos(math.pi * (2 * j + 1) * u / (2 * _N)) for j in range(_N)]
                     for u in range(RADIUS)])
#: (COEFFICIENTS, n*n): the orthonormal basis image of each kept coefficient, so that
#: ``values @ _BASIS`` is the whitened, band-limited image a descriptor stands for.
_BASIS = (_COSINES[_U][:, :, None] * _COSINES[_V][:, None, :]).reshape(COEFFICIENTS, -1)


def _window() -> np.ndarray:
    """The preprocessing window (step 6) as a descriptor sees it: whitened and band-limited."""
    j = np.arange(_N)
    a = np.minimum(np.minimum(2 * j + 1, 2 * _N - 2 * j - 1), _N // 2).astype(np.float64)
    return ((_BASIS @ np.outer(a, a).reshape(-1)) * WEIGHTS) @ _BASIS


def _masks() -> np.ndarray:
    """(6, n*n): the whole grid; without its first / last rows, first / last columns; without
    its outer ring (the warped views')."""
    masks = np.ones((6, _N, _N), dtype=bool)
    masks[1, :MASK_LINES] = masks[2, -MASK_LINES:] = False
    masks[3, :, :MASK_LINES] = masks[4, :, -MASK_LINES:] = False
    masks[5, :WARP_RING] = masks[5, -WARP_RING:] = masks[5, :, :WARP_RING] = masks[5, :, -WARP_RING:] = False
    return masks.reshape(6, -1)


def _warp(degrees: float, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear resampling ``out[p] = sum_c weights[p, c] image[sources[p, c]]`` rotating an
    ``n x n`` image by ``degrees`` about the centre on the square grid and scaling it by
    ``scale`` (beyond the edge the edge cells repeat)."""
    t = math.radians(degrees)
    centre = np.arange(_N) + 0.5 - _N / 2
    y, x = np.meshgrid(centre, centre, indexing="ij")
    xs = (math.cos(t) * x - math.sin(t) * y) / scale + _N / 2 - 0.5
    ys = (math.sin(t) * x + math.cos(t) * y) / scale + _N / 2 - 0.5
    x0 = np.clip(np.floor(xs).astype(int), 0, _N - 2)
    y0 = np.clip(np.floor(ys).astype(int), 0, _N - 2)
    fx, fy = np.clip(xs - x0, 0.0, 1.0), np.clip(ys - y0, 0.0, 1.0)
    sources = np.stack([y0 * _N + x0, y0 * _N + x0 + 1, (y0 + 1) * _N + x0, (y0 + 1) * _N + x0 + 1], axis=-1)
    weights = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], axis=-1)
    return sources.reshape(-1, 4), weights.reshape(-1, 4)


def _view_operators():
    """Per view (the five masks, then the warps of the whole image): ``forward`` (V, C, C)
    taking a query's coefficients to the coefficients of its view's image (masked or warped,
    the window's component there removed), ``quadratic`` (V, C, C) with ``q^T Q q`` that
    image's squared norm, and each view's unit window in coefficients (V, C)."""
    image_of = _BASIS.T                                       # (n*n, C): coefficients -> image
    views = [(mask, None) for mask in _MASKS[:5]]
    views += [(_MASKS[5], _warp(angle)) for angle in ANGLES]
    views += [(_MASKS[5], _warp(0.0, scale)) for scale in SCALES]
    forward, quadratic, windows = [], [], []
    for mask, warp in views:
        image = image_of if warp is None else np.einsum("pc,pcq->pq", warp[1], image_of[warp[0]])
        window = np.where(mask, _WINDOW, 0.0)
        window = window / np.linalg.norm(window)
        kept = np.where(mask[:, None], image, 0.0)
        kept = kept - np.outer(window, window @ kept)
        forward.append(_BASIS @ kept)
        quadratic.append(kept.T @ kept)
        windows.append(_BASIS @ window)
    return np.array(forward), np.array(quadratic), np.array(windows)


_WINDOW = _window()
_MASKS = _masks()
_FORWARD, _QUADRATIC, _VIEW_WINDOWS = _view_operators()
#: Views scored: five masks, then one per angle and per scale.
VIEWS = len(_FORWARD)
# stacked 2-D for one matrix-vector product per query
_FORWARD = np.ascontiguousarray(_FORWARD.reshape(VIEWS * COEFFICIENTS, COEFFICIENTS))
_QUADRATIC = np.ascontiguousarray(_QUADRATIC.reshape(VIEWS * COEFFICIENTS, COEFFICIENTS))
#: The rows (columns) the one-sided masks leave out, as (MASK_LINES, RADIUS) DCT rows.
_EDGES = (_COSINES[:, :MASK_LINES].T, _COSINES[:, -MASK_LINES:].T)
_RING = (_COSINES[:, :WARP_RING].T, _COSINES[:, -WARP_RING:].T)


def _masked_energy(values: np.ndarray) -> np.ndarray:
    """(K, 6): each stored image's energy within each of :data:`_MASKS`, from its coefficients
    (the basis is orthonormal and separable, so a band of rows holds the energy of
    ``rows @ grid``, and a corner block that of ``rows @ grid @ columns^T``)."""
    grid = np.zeros((len(values), RADIUS, RADIUS))
    grid[:, _U, _V] = values
    total = (values * values).sum(axis=1)

    # stacks of small products (numpy loops over them; no BLAS threads to wake)
    def rows(edge):
        return edge @ grid

    def columns(edge):
        return grid @ edge.T

    def energy(part):
        return np.square(part).sum(axis=(1, 2))

    top, bottom = (energy(rows(edge)) for edge in _EDGES)
    left, right = (energy(columns(edge)) for edge in _EDGES)
    # the outer ring: its four sides, then the four corners (counted twice) added back once
    ring_rows = [rows(edge) for edge in _RING]
    sides = sum(energy(part) for part in ring_rows) + sum(energy(columns(edge)) for edge in _RING)
    corners = sum(energy(part @ edge.T) for part in ring_rows for edge in _RING)
    ring = total - sides + corners
    return np.stack([total, total - top, total - bottom, total - left, total - right, ring], axis=1)


#: Names of the views, in the order of :func:`view_scores`' columns.
VIEW_NAMES = (("whole", "no top", "no bottom", "no left", "no right")
              + tuple(f"rotated {angle:g}" for angle in ANGLES)
              + tuple(f"scaled {scale:g}" for scale in SCALES))


def view_scores(stored, query: bytes) -> np.ndarray:
    """(K, VIEWS) float64: each stored descriptor's cosine with each view of the query (the
    window's component removed within the view), columns as :data:`VIEW_NAMES`."""
    values = _decode(list(stored))
    q = _decode([query])[0]
    # np.einsum and stacked matrix-vector products, not one BLAS product: waking BLAS
    # threads on a busy machine costs more (up to a scheduler slice) than these take
    views = np.einsum("ij,j->i", _FORWARD, q).reshape(VIEWS, COEFFICIENTS)   # the query's views
    sizes = np.sqrt(np.maximum(np.einsum("vc,c->v", np.einsum("ij,j->i", _QUADRATIC, q).reshape(
        VIEWS, COEFFICIENTS), q), 0.0))
    products = (values[:, None, :] @ np.concatenate([views, _VIEW_WINDOWS]).T)[:, 0]
    dots, along = products[:, :VIEWS], products[:, VIEWS:]
    energy = _masked_energy(values)
    energy = np.concatenate([energy[:, :5], np.repeat(energy[:, 5:], VIEWS - 5, axis=1)], axis=1)
    norms = np.sqrt(np.maximum(energy - along * along, 0.0)) * sizes
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)


def confirmation_scores(stored, query: bytes) -> np.ndarray:
    """Scores (float64, higher = more alike, at most 1) of each stored descriptor against the
    query's: the best view's cosine with the window's component removed (module docstring)."""
    stored = list(stored)
    if not stored:
        _decode([query])
        return np.zeros(0)
    return np.minimum(view_scores(stored, query).max(axis=1), 1.0)


def confirmation_score(stored: bytes, query: bytes) -> float:
    """:func:`confirmation_scores` of one stored descriptor."""
    return float(confirmation_scores([stored], query)[0])
