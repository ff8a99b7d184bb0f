"""The bit-exact model: input checks, batch behaviour, and accuracy against LAPACK."""
import numpy as np
import pytest

from rosvd.hw.svd.model import bit_length, decompose, isqrt, to_float
from rosvd.hw.svd.params import SVDParams
from rosvd.hw.svd.schedule import destination_slot, source_slot
from rosvd.sim.svd_cases import random_matrices

SMALL = SVDParams(n=8, units=4, sweeps=6)


@pytest.mark.parametrize("n", [4, 8, 16, 32, 64])
def test_circle_schedule_meets_every_pair_once_per_sweep(n):
    slots = list(range(n))
    met = []
    for _ in range(n - 1):
        met += [frozenset((slots[p], slots[n // 2 + p])) for p in range(n // 2)]
        moved = [None] * n
        for slot, column in enumerate(slots):
            moved[destination_slot(n, slot)] = column
        slots = moved
    assert len(met) == len(set(met)) == n * (n - 1) // 2
    assert slots == list(range(n))
    assert sorted(source_slot(n)) == list(range(n))


def test_params_reject_bad_values_with_reasons():
    with pytest.raises(ValueError, match="n must be one of"):
        SVDParams(n=12)
    with pytest.raises(ValueError, match="units must divide n/2=16"):
        SVDParams(units=3)
    with pytest.raises(ValueError, match="k must be in 1..n=32"):
        SVDParams(k=0)
    with pytest.raises(ValueError, match="exceeds 62 bits"):
        SVDParams(data_width=24, guard_bits=8)


def test_input_checks_name_the_problem():
    with pytest.raises(ValueError, match="integer array"):
        decompose(SMALL, np.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"shape \(n, n\) or \(B, n, n\) with n=8"):
        decompose(SMALL, np.zeros((8, 7), dtype=int))
    bad = np.zeros((8, 8), dtype=np.int64)
    bad[3, 4] = 32768
    with pytest.raises(ValueError, match=r"out of range.*\[-32768, 32767\].*found \[0, 32768\]"):
        decompose(SMALL, bad)


def test_batch_equals_one_at_a_time():
    x = random_matrices(SMALL, 5, seed=3)
    batch = decompose(SMALL, x)
    for i in range(5):
        single = decompose(SMALL, x[i])
        assert np.array_equal(single.sigma[0], batch.sigma[i])
        assert np.array_equal(single.vectors[0], batch.vectors[i])
        assert single.words() == batch.words(i)


def test_helpers_match_python_integers():
    values = np.array([0, 1, 2, 3, 4, 255, 256, 2**40 - 1, 2**61 + 12345, 2**62 - 1], dtype=np.int64)
    assert bit_length(values).tolist() == [int(v).bit_length() for v in values]
    import math
    assert isqrt(values).tolist() == [math.isqrt(int(v)) for v in values]


def test_zero_matrix_gives_zero_sigma_and_identity_vectors():
    result = decompose(SMALL, np.zeros((8, 8), dtype=np.int64))
    assert not result.sigma.any()
    assert np.array_equal(result.vectors[0], np.eye(8, dtype=np.int64)[:SMALL.k] << SMALL.v_frac)


@pytest.mark.parametrize("params", [SVDParams(n=8, units=4, sweeps=8, k=8),
                                    SVDParams(n=32, sweeps=6),
                                    SVDParams(n=32, sweeps=8, skip_shift=12)])
def test_singular_values_and_vectors_close_to_lapack(params):
    x = random_matrices(params, 20, seed=7)
    sigma, vectors = to_float(params, decompose(params, x))
    _, ref_sigma, ref_vt = np.linalg.svd(x.astype(np.float64))
    assert np.all(np.diff(sigma, axis=1) <= 0), "singular values must come out descending"
    normwise = np.abs(sigma - ref_sigma) / ref_sigma[:, :1]
    assert normwise.max() < 1e-3
    # V is orthogonal to the precision of its format (a few LSB per sweep of rounding).
    gram = np.einsum("bkn,bjn->bkj", vectors, vectors)
    assert np.abs(gram - np.eye(params.k)).max() < 2e-3
    # Each returned vector is a right singular vector: ||x v|| equals its sigma.
    xv = np.linalg.norm(np.einsum("brc,bkc->bkr", x.astype(np.float64), vectors), axis=2)
    assert np.abs(xv - sigma[:, :params.k]).max() / ref_sigma[:, 0].min() < 2e-3


def test_early_exit_on_orthogonal_columns():
    params = SVDParams(n=8, units=4, sweeps=8, skip_shift=12)
    diagonal = np.diag(np.arange(1, 9) * 1000)
    result = decompose(params, diagonal)
    assert result.sweeps_run.tolist() == [1]
    assert (result.sigma[0] >> params.guard_bits).tolist() == list(range(8000, 0, -1000))
    fixed = decompose(SVDParams(n=8, units=4, sweeps=8), diagonal)
    assert fixed.sweeps_run.tolist() == [8]
    assert fixed.words() == result.words()
