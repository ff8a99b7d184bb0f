"""The fast host decomposition equals the bit-exact model, word for word, for any params."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rosvd import fast_model
from rosvd.hw.svd import model
from rosvd.hw.svd.params import SVDParams
from rosvd.sim.svd_cases import edge_cases, random_matrices

#: (params, random matrices) covering every n, early exit, narrow and wide formats.
PARAMS = [
    (SVDParams(n=8, units=4), 24),
    (SVDParams(n=8, units=4, k=8, sweeps=10, skip_shift=4), 24),
    (SVDParams(n=16, units=8, data_width=8, skip_shift=12), 16),
    (SVDParams(n=16, units=8, k=16, data_width=4, guard_bits=0, cs_frac=8, v_width=8,
               cordic_width=12, cordic_iters=6, sweeps=5), 16),
    (SVDParams(n=16, units=8, k=1, data_width=3, guard_bits=8, sweeps=3, skip_shift=1), 16),
    (SVDParams(n=32), 8),
    (SVDParams(n=32, skip_shift=12), 8),
    (SVDParams(n=32, k=32, data_width=20, guard_bits=0, cs_frac=24, v_width=30, cordic_width=42,
               cordic_iters=40, skip_shift=30), 4),
    (SVDParams(n=64, units=32, skip_shift=4), 2),
    (SVDParams(n=64, units=32, data_width=10, sweeps=3), 2),
]


def params_id(params: SVDParams) -> str:
    changed = {name: value for name, value in vars(params).items()
               if value != getattr(SVDParams(), name) and name != "units"}
    return ",".join(f"{name}={value}" for name, value in changed.items()) or "default"


def assert_same(expected: model.Decomposition, actual: model.Decomposition):
    for name in ("sigma", "vectors", "sweeps_run"):
        want, got = getattr(expected, name), getattr(actual, name)
        assert got.dtype == want.dtype == np.int64, name
        assert got.shape == want.shape, name
        mismatch = np.argwhere(got != want)
        assert mismatch.size == 0, f"{name} differs first at {mismatch[0].tolist()}: " \
                                   f"{got[tuple(mismatch[0])]} != {want[tuple(mismatch[0])]}"


def both(params: SVDParams, matrices):
    return model.decompose(params, matrices), fast_model.decompose(params, matrices)


@pytest.mark.parametrize("params, count", PARAMS, ids=[params_id(p) for p, _ in PARAMS])
def test_random_and_edge_cases_equal_the_model(params, count):
    """One mixed batch: early-exiting matrices share it with ones that run every sweep."""
    matrices = np.concatenate([random_matrices(params, count, seed=params.n + count),
                               np.stack(list(edge_cases(params).values()))])
    expected, actual = both(params, matrices)
    assert_same(expected, actual)
    if params.skip_shift is not None:
        assert expected.sweeps_run.min() < expected.sweeps_run.max(), "batch exercises no early exit"


def test_early_exit_in_mixed_batch_counts_sweeps_per_matrix():
    params = SVDParams(n=8, units=4, sweeps=8, skip_shift=12)
    diagonal = np.diag(np.arange(1, 9) * 1000)
    matrices = np.stack([diagonal, random_matrices(params, 1, seed=5)[0], diagonal.T[::-1]])
    expected, actual = both(params, matrices)
    assert_same(expected, actual)
    assert actual.sweeps_run[0] == 1 and actual.sweeps_run[1] > 1


def test_fixed_sweep_count_reported_when_converged_without_threshold():
    params = SVDParams(n=8, units=4, sweeps=7)
    expected, actual = both(params, np.stack([np.eye(8, dtype=np.int64) * 5,
                                              np.zeros((8, 8), dtype=np.int64)]))
    assert_same(expected, actual)
    assert actual.sweeps_run.tolist() == [7, 7]


def test_single_matrix_and_other_integer_dtypes():
    params = SVDParams(n=8, units=4, data_width=8)
    x = random_matrices(params, 1, seed=11)[0]
    for matrix in (x, x.astype(np.int8), x.astype(np.int32), x.tolist()):
        expected, actual = both(params, matrix)
        assert_same(expected, actual)
        assert actual.sigma.shape == (1, 8) and actual.words() == expected.words()
    unsigned = np.abs(x).astype(np.uint8)
    assert_same(*both(params, unsigned))


def test_empty_batch():
    for params in (SVDParams(n=8, units=4), SVDParams(n=8, units=4, skip_shift=3)):
        assert_same(*both(params, np.zeros((0, 8, 8), dtype=np.int64)))


@pytest.mark.parametrize("bad", [
    np.zeros((8, 8)),                                    # float
    np.zeros((8, 7), dtype=np.int64),
    np.zeros((2, 8, 8, 1), dtype=np.int64),
    np.full((8, 8), 32768, dtype=np.int64),
    np.full((1, 8, 8), -32769, dtype=np.int64),
    np.array([[["a"] * 8] * 8]),
], ids=["float", "shape", "ndim", "high", "low", "str"])
def test_rejects_bad_input_with_the_models_message(bad):
    params = SVDParams(n=8, units=4)
    with pytest.raises(ValueError) as expected:
        model.decompose(params, bad)
    with pytest.raises(ValueError) as actual:
        fast_model.decompose(params, bad)
    assert str(actual.value) == str(expected.value)


def test_integer_helpers_are_exact():
    roots = [0, 1, 2, 3, 1000, 2**20 + 7, 3037000499, 2**31 - 1, 2**31 - 3]
    values = sorted({max(0, r * r + d) for r in roots for d in (-1, 0, 1) if r * r + d < 2**62}
                    | {2**62 - 1, 2**61 + 12345, 2**53 + 1, 2**53 - 1})
    for value in values:
        assert fast_model._isqrt(value) == math.isqrt(value), value
        assert fast_model._bit_length(value) == value.bit_length(), value
    assert model.isqrt(np.array(values)).tolist() == [math.isqrt(v) for v in values]


@st.composite
def params_n8(draw):
    cs_frac = draw(st.integers(8, 24))
    cordic_width = draw(st.integers(cs_frac + 4, 42))
    return SVDParams(
        n=8, units=draw(st.sampled_from([1, 2, 4])), k=draw(st.integers(1, 8)),
        data_width=draw(st.integers(2, 16)), sweeps=draw(st.integers(1, 10)),
        skip_shift=draw(st.none() | st.integers(1, 30)), guard_bits=draw(st.integers(0, 8)),
        cs_frac=cs_frac, v_width=draw(st.integers(4, 30)), cordic_width=cordic_width,
        cordic_iters=draw(st.integers(4, cordic_width)))


@st.composite
def params_and_matrices(draw):
    params = draw(params_n8())
    element = st.integers(params.input_min, params.input_max)
    matrices = draw(arrays(np.int64, (draw(st.integers(1, 3)), 8, 8), elements=element))
    return params, matrices


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params_and_matrices())
def test_property_equal_to_model_at_n8(case):
    params, matrices = case
    assert_same(*both(params, matrices))
