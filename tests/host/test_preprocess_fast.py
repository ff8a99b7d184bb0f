"""The compiled preprocessing equals the reference bit for bit on every dtype, channel count and size."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rosvd.hw.svd.params import SVDParams
from rosvd.preprocess import PreprocessError, preprocess
from rosvd.preprocess_fast import overlaps, preprocess_fast

PARAMS = SVDParams()


def make(rng, dtype, shape):
    if dtype == "uint8":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if dtype == "uint16":
        return rng.integers(0, 65536, shape, dtype=np.uint16)
    return rng.random(shape).astype(dtype)


@settings(max_examples=60, deadline=None)
@given(dtype=st.sampled_from(["uint8", "uint16", "float32", "float64"]),
       channels=st.sampled_from([0, 1, 3, 4]),
       height=st.integers(1, 90), width=st.integers(1, 90), seed=st.integers(0, 2**32 - 1))
def test_equals_reference(dtype, channels, height, width, seed):
    assume(max(height, width) <= 16 * min(height, width))
    shape = (height, width) if channels == 0 else (height, width, channels)
    image = make(np.random.default_rng(seed), dtype, shape)
    np.testing.assert_array_equal(preprocess_fast(PARAMS, image), preprocess(PARAMS, image))


@pytest.mark.parametrize("n", [8, 16, 32, 64])
def test_every_engine_size(n):
    params = SVDParams(n=n, units=n // 2)
    image = make(np.random.default_rng(n), "uint8", (300, 257, 3))
    np.testing.assert_array_equal(preprocess_fast(params, image), preprocess(params, image))


def test_extremes_and_flat_images():
    for image in (np.zeros((64, 64), np.uint8), np.full((33, 47, 3), 255, np.uint8),
                  np.eye(512, dtype=np.uint16) * 65535, np.ones((20, 20, 4))):
        np.testing.assert_array_equal(preprocess_fast(PARAMS, image), preprocess(PARAMS, image))


def test_overlap_table_rows_sum_to_the_cell_count():
    for cells, length in ((32, 512), (32, 7), (32, 33), (8, 1000)):
        start, cell, weight = overlaps(cells, length)
        per_source = np.add.reduceat(weight, start[:-1])
        assert (per_source == cells).all() and cell.max() < cells


def test_same_refusals():
    with pytest.raises(PreprocessError):
        preprocess_fast(PARAMS, np.zeros((4, 4, 2), np.uint8))


@pytest.mark.parametrize("shape", [(512, 512, 3), (64, 96, 4), (96, 64), (32, 32, 1), (40, 64, 3)])
def test_block_sum_path_for_widths_divisible_by_n(shape):
    image = make(np.random.default_rng(sum(shape)), "uint8", shape)
    np.testing.assert_array_equal(preprocess_fast(PARAMS, image), preprocess(PARAMS, image))
