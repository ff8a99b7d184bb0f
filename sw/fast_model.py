"""Fast host implementation of the SVD engine's arithmetic, bit-exact with the model.

:func:`decompose` returns exactly what :func:`rosvd.hw.svd.model.decompose` returns
(same :class:`~rosvd.hw.svd.model.Decomposition`, same int64 values, shapes and
``sweeps_run``, same ``ValueError`` on bad input) for every valid
:class:`~rosvd.hw.svd.params.SVDParams`; the model stays the specification and the tests
compare the two. One numba kernel decomposes each matrix with every pair of a round
fused: dot product, skip test, CORDIC vectoring and rotation (vectorised across the
round's pairs), rotation of ``a`` and ``v`` with rounding and saturation, and the column
norms of the next round computed while rotating.

Why it equals the model, where the code differs from it:

* Columns are not moved: a slot -> storage table follows the model's slot permutation.
* ``alpha``/``beta`` are the norms kept per column, recomputed exactly (int64, the
  params bound every sum below 2**62) whenever a column is rotated.
* A skipped pair is not touched (nor given a CORDIC lane): ``c = 1, s = 0`` maps every
  in-range word to itself.
* Early exit per matrix: in the model a matrix whose sweep rotated nothing is at a
  fixed point (the sweep returned every column to its slot unchanged) and only its
  ``sweeps_run`` stops counting, so stopping it alone gives the same words. With
  ``skip_shift=None`` the same fixed point is left early too, reporting ``params.sweeps``.
* ``isqrt`` is exact on integers; ranking is a stable count (descending sigma, ties by slot).

Threads: ``prange`` over the batch on every numba thread (``numba.set_num_threads`` to
use fewer), handed out :data:`CHUNK` matrices at a time; a batch of at most ``CHUNK``
matrices runs on the calling thread alone. This venv's numba picks the
``omp`` threading layer (GNU OpenMP), which is not fork-safe: a process that has run the
kernel must start its workers with ``spawn``, not ``fork``.

JIT cost: the first call in a fresh environment compiles the kernel (numba
``cache=True``; about 4 s cold on this 2-core machine, the cache lives in
``__pycache__`` beside this file and follows edits of it), later processes load it in
well under a second (~0.3-0.7 s including the thread pool start). The kernel takes the
params as plain integers, so one compilation serves every n and every width.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from rosvd.hw.svd.model import Decomposition, check_input, cordic_constants, skip_margin
from rosvd.hw.svd.params import SVDParams
from rosvd.hw.svd.schedule import source_slot

#: Matrices per scheduling chunk: threads take chunks as they finish, so a batch mixing
#: early-exiting and full-length matrices, or a core shared with other work, does not
#: leave one thread idle while the other finishes a fixed half of the batch.
CHUNK = 4


@njit(cache=True, inline="always")
def _bit_length(value):
    """``int.bit_length`` of a non-negative int64."""
    length = np.int64(0)
    for shift in (32, 16, 8, 4, 2, 1):
        step = np.int64(value >= (np.int64(1) << shift)) * shift     # branch-free: data-dependent
        length += step
        value >>= step
    return length + np.int64(value > 0)


@njit(cache=True, inline="always")
def _isqrt(value):
    """Exact ``math.isqrt`` of a non-negative int64 below 2**62."""
    root = np.int64(math.sqrt(np.float64(value)))
    while root * root > value:
        root -= 1
    while (root + 1) * (root + 1) <= value:
        root += 1
    return root


@njit(cache=True)
def _decompose_one(x, gather, atan_table, n, guard_bits, v_frac, sweeps, skip_bits,
                   col_width, v_width, cs_frac, input_bits, rotation_x0, drop, k,
                   sigma_out, vectors_out):
    """Decompose one (n, n) matrix into ``sigma_out`` (n,), ``vectors_out`` (k, n); return sweeps run.

    ``skip_bits`` is :func:`~rosvd.hw.svd.model.skip_margin` of the threshold; ``skip_bits < 0``
    means no threshold (the model's ``skip_shift=None``).
    """
    half = n // 2
    a = np.empty((n, n), dtype=np.int64)        # storage column, rows
    v = np.zeros((n, n), dtype=np.int64)
    norm = np.empty(n, dtype=np.int64)          # sum of squares of each storage column
    slot = np.arange(n)                         # slot -> storage column
    moved = np.empty(n, dtype=np.int64)
    lane_pair = np.empty(half, dtype=np.int64)  # CORDIC lane -> pair, rotated pairs only
    cx = np.empty(half, dtype=np.int64)
    cy = np.empty(half, dtype=np.int64)
    cz = np.empty(half, dtype=np.int64)
    for c in range(n):
        total = np.int64(0)
        for r in range(n):
            word = x[r, c] << guard_bits
            a[c, r] = word
            total += word * word
        norm[c] = total
        v[c, c] = np.int64(1) << v_frac
    round_half = np.int64(1) << (cs_frac - 1)
    col_hi = (np.int64(1) << (col_width - 1)) - 1
    col_lo = -(np.int64(1) << (col_width - 1))
    v_hi = (np.int64(1) << (v_width - 1)) - 1
    v_lo = -(np.int64(1) << (v_width - 1))
    cs_half = np.int64(1) << (drop - 1)
    iters = atan_table.shape[0]
    sweeps_run = 0
    for _ in range(sweeps):
        sweeps_run += 1
        rotated_any = False
        for _ in range(n - 1):
            # dot products and skip test; the pairs to rotate get CORDIC lanes 0..lanes-1
            lanes = 0
            for p in range(half):
                t = slot[p]
                b = slot[half + p]
                g = np.int64(0)
                for r in range(n):
                    g += a[t, r] * a[b, r]
                if g == 0:
                    continue
                alpha = norm[t]
                beta = norm[b]
                if skip_bits >= 0 and 2 * _bit_length(abs(g)) + skip_bits \
                        <= _bit_length(alpha) + _bit_length(beta):
                    continue
                shift = max(_bit_length(alpha | beta) + 1 - input_bits, 0)
                xx = (beta - alpha) >> shift
                yy = (2 * g) >> shift
                if xx < 0:
                    xx = -xx
                    yy = -yy
                lane_pair[lanes] = p
                cx[lanes] = xx
                cy[lanes] = yy
                cz[lanes] = 0
                lanes += 1
            if lanes:
                rotated_any = True
            # CORDIC vectoring: every rotated pair of the round at once (independent lanes)
            for i in range(iters):
                step = atan_table[i]
                for p in range(lanes):
                    xx = cx[p]
                    yy = cy[p]
                    sign = yy >> 63                      # 0 rotates down (y >= 0), -1 up
                    cx[p] = xx + (((yy >> i) ^ sign) - sign)
                    cy[p] = yy - (((xx >> i) ^ sign) - sign)
                    cz[p] += (step ^ sign) - sign
            for p in range(lanes):
                cz[p] = cz[p] >> 1
                cx[p] = rotation_x0
                cy[p] = 0
            # CORDIC rotation by theta from (x0, 0)
            for i in range(iters):
                step = atan_table[i]
                for p in range(lanes):
                    xx = cx[p]
                    yy = cy[p]
                    zz = cz[p]
                    sign = zz >> 63                      # 0 rotates up (z >= 0), -1 down
                    cx[p] = xx - (((yy >> i) ^ sign) - sign)
                    cy[p] = yy + (((xx >> i) ^ sign) - sign)
                    cz[p] = zz - ((step ^ sign) - sign)
            # rotate the columns of a (keeping their norms) and v, in one pass over the rows
            for lane in range(lanes):
                c = (cx[lane] + cs_half) >> drop
                s = (cy[lane] + cs_half) >> drop
                t = slot[lane_pair[lane]]
                b = slot[half + lane_pair[lane]]
                norm_top = np.int64(0)
                norm_bottom = np.int64(0)
                for r in range(n):
                    at = a[t, r]
                    ab = a[b, r]
                    nt = min(max((c * at - s * ab + round_half) >> cs_frac, col_lo), col_hi)
                    nb = min(max((s * at + c * ab + round_half) >> cs_frac, col_lo), col_hi)
                    a[t, r] = nt
                    a[b, r] = nb
                    vt = v[t, r]
                    vb = v[b, r]
                    v[t, r] = min(max((c * vt - s * vb + round_half) >> cs_frac, v_lo), v_hi)
                    v[b, r] = min(max((s * vt + c * vb + round_half) >> cs_frac, v_lo), v_hi)
                    norm_top += nt * nt
                    norm_bottom += nb * nb
                norm[t] = norm_top
                norm[b] = norm_bottom
            for d in range(n):
                moved[d] = slot[gather[d]]
            for d in range(n):
                slot[d] = moved[d]
        if not rotated_any:
            # A sweep that rotated nothing returned every column unchanged: a fixed point.
            if skip_bits < 0:
                sweeps_run = sweeps
            break
    # sigma per slot, ranked descending, ties by slot number (a stable sort)
    sigma = np.empty(n, dtype=np.int64)
    for d in range(n):
        sigma[d] = _isqrt(norm[slot[d]])
    for d in range(n):
        rank = 0
        for e in range(n):
            if sigma[e] > sigma[d] or (sigma[e] == sigma[d] and e < d):
                rank += 1
        sigma_out[rank] = sigma[d]
        if rank < k:
            for r in range(n):
                vectors_out[rank, r] = v[slot[d], r]
    return sweeps_run


@njit(cache=True, parallel=True)
def _decompose_batch(x, gather, atan_table, n, guard_bits, v_frac, sweeps, skip_bits,
                     col_width, v_width, cs_frac, input_bits, rotation_x0, drop, k,
                     sigma, vectors, sweeps_run):
    for index in prange(x.shape[0]):
        sweeps_run[index] = _decompose_one(
            x[index], gather, atan_table, n, guard_bits, v_frac, sweeps, skip_bits,
            col_width, v_width, cs_frac, input_bits, rotation_x0, drop, k,
            sigma[index], vectors[index])


def decompose(params: SVDParams, matrices) -> Decomposition:
    """Same contract and results as :func:`rosvd.hw.svd.model.decompose`, computed by numba."""
    x = np.ascontiguousarray(check_input(params, matrices))
    batch, n = x.shape[0], params.n
    const = cordic_constants(params)
    sigma = np.empty((batch, n), dtype=np.int64)
    vectors = np.empty((batch, params.k, n), dtype=np.int64)
    sweeps_run = np.empty(batch, dtype=np.int64)
    threads = numba.get_num_threads()
    # Waking an idle thread costs up to a scheduler time slice when its core is busy (~10 ms
    # measured here), more than a few matrices take: small batches stay on this thread.
    numba.set_num_threads(max(1, min(threads, -(-batch // CHUNK))))
    try:
        with numba.parallel_chunksize(CHUNK):
            _decompose_batch(
                x, np.array(source_slot(n), dtype=np.int64), np.array(const.atan_table, dtype=np.int64),
                n, params.guard_bits, params.v_frac, params.sweeps,
                -1 if params.skip_shift is None else skip_margin(params.skip_shift),
                params.col_width, params.v_width, params.cs_frac, const.input_bits, const.rotation_x0,
                params.cordic_frac - params.cs_frac, params.k, sigma, vectors, sweeps_run)
    finally:
        numba.set_num_threads(threads)
    return Decomposition(sigma, vectors, sweeps_run)
