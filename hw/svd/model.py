"""Bit-exact model of the SVD engine: the specification the RTL is checked against.

Algorithm (one-sided Hestenes Jacobi), for each matrix:

1. Load: column word ``a[slot=c][row=r] = x[r][c] << guard_bits``; ``v = I``.
2. For each sweep, for each of the n-1 rounds, for every pair ``(t, b)`` of the round
   (see :mod:`.schedule`):

   * ``alpha = sum a_t**2``, ``beta = sum a_b**2``, ``gamma = sum a_t*a_b`` (exact);
   * the pair is *skipped* (``c = 1, s = 0``) when ``gamma == 0`` or, with a threshold
     ``T``, when ``2*bl(|gamma|) + skip_margin(T) <= bl(alpha) + bl(beta)`` with
     ``skip_margin(T) = 2T + 2`` (``bl`` is the bit length), which guarantees
     ``|gamma| < 2**-T sqrt(alpha*beta)`` for every skipped pair, and skips every pair
     with ``gamma**2 * 2**(2T+3) <= alpha*beta`` (:func:`skip_rotation`);
   * otherwise ``(c, s) = cordic_cos_sin(alpha, beta, gamma)`` (CORDIC) with
     ``tan 2θ = 2γ/(β-α)``, ``|θ| <= π/4``;
   * ``a_t' = rnd(c*a_t - s*a_b)``, ``a_b' = rnd(s*a_t + c*a_b)``, likewise ``v``, where
     ``rnd(p) = sat((p + 2**(cs_frac-1)) >> cs_frac)`` (round half up, saturate);
   * the rotated columns move to their next slots.

   A sweep in which every pair was skipped ends the decomposition (further sweeps
   would repeat it exactly: a sweep returns every column to its slot).
3. ``sigma[slot] = isqrt(sum a**2)``; slots are ranked by sigma, descending, ties by
   slot number; output ``sigma`` in rank order then the ``v`` columns of the top k.

All arithmetic is integer; arrays carry a leading batch axis so many matrices run at
once with identical results to one at a time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .params import SVDParams
from .schedule import source_slot


@dataclass(frozen=True)
class CordicConstants:
    """Constants shared by the model and the RTL CORDIC."""

    atan_table: tuple[int, ...]   #: round(atan(2**-i) * 2**cordic_frac), i < iterations
    rotation_x0: int              #: round(2**cordic_frac / K), K the CORDIC gain
    input_bits: int               #: vectoring inputs are shifted to below 2**input_bits


def cordic_constants(params: SVDParams) -> CordicConstants:
    frac = params.cordic_frac
    table = tuple(round(math.atan(2.0 ** -i) * (1 << frac)) for i in range(params.cordic_iters))
    gain = math.prod(math.sqrt(1.0 + 2.0 ** (-2 * i)) for i in range(params.cordic_iters))
    return CordicConstants(table, round((1 << frac) / gain), params.cordic_width - 3)


def bit_length(values: np.ndarray) -> np.ndarray:
    """Element-wise ``int.bit_length`` of non-negative int64 values."""
    v = values.astype(np.int64, copy=True)
    length = np.zeros_like(v)
    for shift in (32, 16, 8, 4, 2, 1):
        big = v >= (np.int64(1) << shift)
        length += big * shift
        v = np.where(big, v >> shift, v)
    return length + (v > 0)


def isqrt(values: np.ndarray) -> np.ndarray:
    """Element-wise ``math.isqrt`` of non-negative int64 values (< 2**62)."""
    root = np.floor(np.sqrt(values.astype(np.float64))).astype(np.int64)
    for _ in range(2):
        root = np.where(root * root > values, root - 1, root)
        root = np.where((root + 1) * (root + 1) <= values, root + 1, root)
    return root


def saturate(values: np.ndarray, width: int) -> np.ndarray:
    limit = np.int64(1) << (width - 1)
    return np.clip(values, -limit, limit - 1)


def skip_margin(skip_shift: int) -> int:
    """Bits the skip rule adds to ``2 bl(|gamma|)`` before comparing with ``bl(alpha) + bl(beta)``.

    ``2T + 2`` is the smallest margin that is sound: ``|gamma| < 2**bl(|gamma|)`` and
    ``alpha*beta >= 2**(bl(alpha) + bl(beta) - 2)``, so a skipped pair has
    ``gamma**2 * 4**T < 2**(2 bl(|gamma|) + 2T) <= 2**(bl(alpha) + bl(beta) - 2) <= alpha*beta``.
    Conversely ``bl(alpha) + bl(beta) > log2(alpha*beta)`` and ``bl(|gamma|) <= log2|gamma| + 1``
    give: every pair with ``gamma**2 * 2**(2T+3) <= alpha*beta`` is skipped. The model,
    the RTL (:mod:`.cordic`) and the fast host model all take the margin from here.
    """
    return 2 * skip_shift + 2


def skip_rotation(params: SVDParams, alpha, beta, gamma) -> np.ndarray:
    """True where the pair is left unrotated (already orthogonal enough).

    ``gamma == 0``, or with ``T = params.skip_shift``:
    ``2 bl(|gamma|) + skip_margin(T) <= bl(alpha) + bl(beta)``. Guarantees (for inputs with
    ``gamma**2 <= alpha*beta``): a skipped pair has ``|gamma| < 2**-T sqrt(alpha*beta)``;
    a pair with ``gamma**2 * 2**(2T+3) <= alpha*beta`` is skipped (see :func:`skip_margin`).
    """
    skip = gamma == 0
    if params.skip_shift is not None:
        small = 2 * bit_length(np.abs(gamma)) + skip_margin(params.skip_shift) \
            <= bit_length(alpha) + bit_length(beta)
        skip = skip | small
    return skip


def cordic_cos_sin(params: SVDParams, alpha, beta, gamma):
    """Rotation ``(c, s)`` in Q2.cs_frac that orthogonalises a column pair.

    Vectoring mode on ``(beta-alpha, 2 gamma)`` yields ``2θ``: both are first shifted
    right so that ``max(alpha, beta)``, which bounds ``|beta-alpha|`` and ``|gamma|``,
    fits ``input_bits - 1`` bits, then folded into the right half plane. Rotation mode
    from ``(x0, 0)`` by ``θ = 2θ >> 1`` yields ``(cos θ, sin θ)``, rounded to ``cs_frac``.
    Inputs are dot products of two columns, so ``gamma**2 <= alpha*beta``.
    (Normalising by ``alpha | beta`` rather than by ``|x| | |y|`` keeps the hardware's
    wide operands to one subtraction and one bit-length encoder.)
    """
    const = cordic_constants(params)
    shift = np.maximum(bit_length(alpha | beta) + 1 - const.input_bits, 0)
    x = (beta - alpha) >> shift
    y = (2 * gamma) >> shift
    flip = x < 0
    x = np.where(flip, -x, x)
    y = np.where(flip, -y, y)
    z = np.zeros_like(x)
    for i, step in enumerate(const.atan_table):
        down = y >= 0
        x, y = np.where(down, x + (y >> i), x - (y >> i)), np.where(down, y - (x >> i), y + (x >> i))
        z = np.where(down, z + step, z - step)
    z = z >> 1
    x = np.full_like(z, const.rotation_x0)
    y = np.zeros_like(z)
    for i, step in enumerate(const.atan_table):
        up = z >= 0
        x, y = np.where(up, x - (y >> i), x + (y >> i)), np.where(up, y + (x >> i), y - (x >> i))
        z = np.where(up, z - step, z + step)
    drop = params.cordic_frac - params.cs_frac
    half = np.int64(1) << (drop - 1)
    return (x + half) >> drop, (y + half) >> drop


def rotate(params: SVDParams, top, bottom, c, s, width: int):
    """Apply ``(c, s)`` to two columns (rows on the last axis) with rounding to ``width``."""
    half = np.int64(1) << (params.cs_frac - 1)
    new_top = (c * top - s * bottom + half) >> params.cs_frac
    new_bottom = (s * top + c * bottom + half) >> params.cs_frac
    return saturate(new_top, width), saturate(new_bottom, width)


@dataclass
class Decomposition:
    """Model output for a batch of matrices (leading axis = batch)."""

    sigma: np.ndarray     #: (B, n) singular values, descending, col-word scale
    vectors: np.ndarray   #: (B, k, n) right singular vectors of the top-k sigmas
    sweeps_run: np.ndarray  #: (B,) sweeps executed (< params.sweeps on early exit)

    def words(self, index: int = 0) -> list[int]:
        """Output stream words of one matrix, in stream order."""
        return [int(v) for v in self.sigma[index]] + [int(v) for v in self.vectors[index].ravel()]


def check_input(params: SVDParams, matrices) -> np.ndarray:
    """Validate and return a (B, n, n) int64 array; raise ValueError with the reason."""
    array = np.asarray(matrices)
    if array.dtype.kind not in "iu":
        raise ValueError(f"SVD input must be an integer array, not {array.dtype}")
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[1:] != (params.n, params.n):
        raise ValueError(f"SVD input must have shape (n, n) or (B, n, n) with n={params.n},"
                         f" not {np.shape(matrices)}")
    if array.size and (array.min() < params.input_min or array.max() > params.input_max):
        raise ValueError(
            f"SVD input out of range: elements must be in [{params.input_min}, {params.input_max}]"
            f" (signed {params.data_width}-bit), found [{array.min()}, {array.max()}]")
    return array.astype(np.int64)


def decompose(params: SVDParams, matrices) -> Decomposition:
    """Run the engine's arithmetic on one (n, n) or a batch (B, n, n) of integer matrices."""
    x = check_input(params, matrices)
    batch, n, half = x.shape[0], params.n, params.half
    # slots on axis 1, rows on axis 2: slot c holds input column c
    a = np.ascontiguousarray(np.swapaxes(x, 1, 2)) << params.guard_bits
    v = np.broadcast_to(np.eye(n, dtype=np.int64) << params.v_frac, (batch, n, n)).copy()
    gather = np.array(source_slot(n))
    one = np.int64(1) << params.cs_frac
    sweeps_run = np.zeros(batch, dtype=np.int64)
    active = np.ones(batch, dtype=bool)
    for _ in range(params.sweeps):
        sweeps_run += active
        rotated_any = np.zeros(batch, dtype=bool)
        for _ in range(params.rounds_per_sweep):
            top, bottom = a[:, :half], a[:, half:]
            alpha = np.einsum("bpr,bpr->bp", top, top)
            beta = np.einsum("bpr,bpr->bp", bottom, bottom)
            gamma = np.einsum("bpr,bpr->bp", top, bottom)
            skip = skip_rotation(params, alpha, beta, gamma)
            c, s = cordic_cos_sin(params, alpha, beta, gamma)
            c = np.where(skip, one, c)[..., None]
            s = np.where(skip, 0, s)[..., None]
            rotated_any |= ~skip.all(axis=1)
            a = np.concatenate(rotate(params, top, bottom, c, s, params.col_width), axis=1)[:, gather]
            v_top, v_bottom = v[:, :half], v[:, half:]
            v = np.concatenate(rotate(params, v_top, v_bottom, c, s, params.v_width), axis=1)[:, gather]
        if params.skip_shift is not None:
            active &= rotated_any
            if not active.any():
                break
    sigma = isqrt(np.einsum("bsr,bsr->bs", a, a))
    order = np.argsort(-sigma, axis=1, kind="stable")
    sigma_sorted = np.take_along_axis(sigma, order, axis=1)
    vectors = np.take_along_axis(v, order[:, :params.k, None], axis=1)
    return Decomposition(sigma_sorted, vectors, sweeps_run)


def to_float(params: SVDParams, result: Decomposition):
    """Singular values in input units and unit-scale vectors, as float64."""
    return (result.sigma / float(1 << params.guard_bits),
            result.vectors / float(1 << params.v_frac))
