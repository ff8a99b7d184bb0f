"""Input matrices for SVD engine tests and benches: seeded random ones and named edge cases.

Plain numpy (no simulator, no Amaranth), so pytest, the cocotb testbench
(:mod:`rosvd.sim.svd_tb`) and benches share the same cases.
"""
from __future__ import annotations

import numpy as np

from rosvd.hw.svd.params import SVDParams


def random_matrices(params: SVDParams, count: int, seed: int) -> np.ndarray:
    """``count`` matrices, elements uniform over the full signed input range; (count, n, n) int64."""
    rng = np.random.default_rng(seed)
    return rng.integers(params.input_min, params.input_max, size=(count, params.n, params.n),
                        endpoint=True, dtype=np.int64)


def hadamard(n: int) -> np.ndarray:
    """Sylvester Hadamard matrix of order ``n`` (a power of two): entries +-1, orthogonal rows."""
    h = np.ones((1, 1), dtype=np.int64)
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    if h.shape[0] != n:
        raise ValueError(f"hadamard: n must be a power of two, not {n}")
    return h


def edge_cases(params: SVDParams) -> dict[str, np.ndarray]:
    """Named corner-case matrices, each (n, n) int64 within the input range."""
    n, hi, lo = params.n, params.input_max, params.input_min
    index = np.arange(n)
    eye = np.eye(n, dtype=np.int64)
    rank_one = np.outer(index + 1, n - index)                    # distinct rows and columns
    rank_one = rank_one * hi // rank_one.max()
    signs = np.where(index % 3 == 0, -1, 1)
    rank_two = rank_one * signs[:, None] // 2 + np.outer(signs, index - n // 2) * (hi // (2 * n))
    checker = np.where(np.add.outer(index, index) % 2 == 0, hi, lo)
    repeated_diag = np.diag(np.r_[np.full(n // 2, hi), np.full(n - n // 2, hi // 2)])
    reverse = eye[::-1] * (hi // 2)                             # scaled permutation: all sigma equal
    single = np.zeros((n, n), dtype=np.int64)
    single[n // 3, (2 * n) // 3] = lo
    small = np.random.default_rng(12345).integers(-2, 2, size=(n, n), endpoint=True)
    cases = {
        "zero": np.zeros((n, n), dtype=np.int64),
        "identity_max": eye * hi,
        "identity_min": eye * lo,
        "rank_one": rank_one,
        "rank_two": rank_two,
        "repeated_diag": repeated_diag,
        "scaled_reverse_permutation": reverse,
        "hadamard_max": hadamard(n) * hi,                        # orthogonal rows, all sigma equal
        "all_max": np.full((n, n), hi, dtype=np.int64),
        "all_min": np.full((n, n), lo, dtype=np.int64),
        "checkerboard_min_max": checker,
        "single_min_element": single,
        "small_values": small,
    }
    for name, matrix in cases.items():
        assert matrix.shape == (n, n) and matrix.min() >= lo and matrix.max() <= hi, name
        cases[name] = matrix.astype(np.int64)
    return cases


def low_rank_matrices(params: SVDParams, count: int, seed: int, rank: int = 3) -> np.ndarray:
    """``count`` image-like matrices: a seeded rank-``rank`` sum of outer products of smooth
    integer factors (random walks), weights halving per term, scaled to 7/8 of the input
    range, plus noise of up to 2 LSB; (count, n, n) int64, integer arithmetic throughout.

    Distinct, decaying singular values and a structured low-rank image, so the top-k
    vectors and the fingerprint of :mod:`rosvd.fingerprint` depend on every stage."""
    rng = np.random.default_rng(seed)
    n, hi = params.n, params.input_max
    out = np.empty((count, n, n), dtype=np.int64)
    for index in range(count):
        total = np.zeros((n, n), dtype=np.int64)
        for term in range(rank):
            left, right = (np.cumsum(rng.integers(-8, 9, size=n)) for _ in range(2))
            total += np.outer(left - left.sum() // n, right - right.sum() // n) << (2 * (rank - term))
        peak = max(int(np.abs(total).max()), 1)
        noise = rng.integers(-2, 3, size=(n, n))
        out[index] = np.clip(total * (7 * hi // 8) // peak + noise, params.input_min, hi)
    return out
