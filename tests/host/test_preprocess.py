"""Preprocessing: exact integers on hand-computed cases, every dtype and mode alike, typed refusals."""
import numpy as np
import pytest

from rosvd.hw.svd.params import SVDParams
from rosvd.preprocess import (
    MAX_ASPECT_RATIO,
    PreprocessError,
    area_sums,
    luma,
    overlap_matrix,
    preprocess,
    preprocess_batch,
    window,
)

P8 = SVDParams(n=8, units=4)
P32 = SVDParams()

# A 2 x 3 grey image onto 8 x 8 cells. Cell rows 0-3 see source row 0, rows 4-7 row 1.
# Cell column j covers [3j, 3j+3) against source column c's [8c, 8c+8): columns 0, 1 see c0;
# 2 sees c0 twice and c1 once; 3, 4 see c1; 5 sees c1 once and c2 twice; 6, 7 see c2.
# Means in units of 65535/3: row 0 -> [0,0,1,3,3,1,0,0], row 1 -> [3,3,2,0,0,2,3,3];
# grand mean 1.5, so deviations (doubled) are b = [-3,-3,-1,3,3,-1,-3,-3] on top, -b below.
# Window for n = 8: a = min(2j+1, 15-2j, 4) = [1,3,4,4,4,4,3,1]; E = +-b_j a_i a_j, max 3*4*4 = 48.
# x = rnd(E * 32767 / 48): 3 -> 2047.9 -> 2048, 4 -> 2730.6 -> 2731, 9 -> 6143.8 -> 6144,
# 12 -> 8191.75 -> 8192, 16 -> 10922.3 -> 10922, 27 -> 18431.4 -> 18431, 36 -> 24575.25 -> 24575.
TINY = np.array([[0, 255, 0], [255, 0, 255]], dtype=np.uint8)
ROW_A1 = [-2048, -6144, -2731, 8192, 8192, -2731, -6144, -2048]
ROW_A3 = [-6144, -18431, -8192, 24575, 24575, -8192, -18431, -6144]
ROW_A4 = [-8192, -24575, -10922, 32767, 32767, -10922, -24575, -8192]
TINY_EXPECTED = np.array([ROW_A1, ROW_A3, ROW_A4, ROW_A4] + [[-v for v in row] for row in
                                                            (ROW_A4, ROW_A4, ROW_A3, ROW_A1)], dtype=np.int64)


def test_tiny_hand_computed_case():
    out = preprocess(P8, TINY)
    assert out.dtype == np.int64 and out.shape == (8, 8)
    np.testing.assert_array_equal(out, TINY_EXPECTED)


@pytest.mark.parametrize("image", [
    TINY,
    TINY[..., None],
    np.stack([TINY] * 3, axis=-1),
    np.concatenate([np.stack([TINY] * 3, axis=-1), np.full((2, 3, 1), 255, np.uint8)], axis=-1),
    TINY.astype(np.uint16) * 257,
    np.stack([TINY.astype(np.uint16) * 257] * 3, axis=-1),
    (TINY / 255.0).astype(np.float64),
    (TINY / 255.0).astype(np.float32),
    np.stack([(TINY / 255.0).astype(np.float32)] * 3 + [np.ones((2, 3), np.float32)], axis=-1),
], ids=["u8-grey", "u8-1ch", "u8-rgb", "u8-rgba-opaque", "u16-grey", "u16-rgb", "f64", "f32", "f32-rgba"])
def test_every_dtype_and_mode_gives_the_same_integers(image):
    np.testing.assert_array_equal(preprocess(P8, image), TINY_EXPECTED)


def test_luma_uses_the_integer_bt601_weights():
    pixels = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], dtype=np.uint8)
    # (w * 65535 + 32768) >> 16 = w + ((32768 - w) >> 16): w for w <= 32768, else w - 1; mixed by hand:
    # (50359150 + 197735800 + 57601410 + 32768) >> 16 = 305729128 >> 16 = 4665
    np.testing.assert_array_equal(luma(pixels), [[19595, 38469, 7471, 4665]])


def test_alpha_composites_over_black():
    pixels = np.array([[[65535, 65535, 65535, 32768], [1000, 1000, 1000, 0]]], dtype=np.uint16)
    # (65535 * 32768 + 32767) // 65535 = 32768; alpha 0 -> black
    np.testing.assert_array_equal(luma(pixels), [[32768, 0]])
    transparent = np.zeros((4, 4, 4), np.uint8)
    transparent[..., :3] = np.arange(16, dtype=np.uint8).reshape(4, 4, 1) * 10
    assert not preprocess(P8, transparent).any()


def test_float_rounding_is_floor_of_scaled_plus_half():
    values = np.array([[0.0, 0.5, 1.0, 1 / 3]], dtype=np.float64)
    # 0.5 * 65535 + 0.5 = 32768.0 exactly; 65535/3 + 0.5 = 21845.5 -> 21845
    np.testing.assert_array_equal(luma(values), [[0, 32768, 65535, 21845]])


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (32, 32), (33, 31), (100, 17), (257, 300)])
def test_prefix_sum_area_average_equals_the_overlap_matrices(shape):
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    values = rng.integers(0, 65536, shape)
    expected = overlap_matrix(32, shape[0]) @ values @ overlap_matrix(32, shape[1]).T
    np.testing.assert_array_equal(area_sums(values, 32), expected)
    # every source pixel is spread over cells with total weight n * n
    assert area_sums(values, 32).sum() == 32 * 32 * values.sum()


def test_output_range_scale_and_determinism():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (97, 131, 3), dtype=np.uint8)
    first = preprocess(P32, image)
    assert first.shape == (32, 32) and first.dtype == np.int64
    assert np.abs(first).max() == P32.input_max
    assert P32.input_min <= first.min() and first.max() <= P32.input_max
    np.testing.assert_array_equal(first, preprocess(P32, image.copy()))
    # a non-contiguous view of the same pixels gives the same matrix
    view = np.asfortranarray(image)
    np.testing.assert_array_equal(first, preprocess(P32, view))
    np.testing.assert_array_equal(preprocess_batch(P32, [image, image]), np.stack([first, first]))


def test_brightness_and_contrast_do_not_matter_and_flat_is_zero():
    base = np.kron(np.array([[0, 100], [50, 25]], np.uint8), np.ones((8, 8), np.uint8))
    np.testing.assert_array_equal(preprocess(P8, base), preprocess(P8, base * 2 + 20))
    assert not preprocess(P8, np.full((5, 9), 77, np.uint8)).any()


def test_upsampling_small_images_is_allowed():
    out = preprocess(P32, np.array([[0, 255]], dtype=np.uint8))
    assert (out[:, :16] < 0).all() and (out[:, 16:] > 0).all()
    np.testing.assert_array_equal(out[:, :16], -out[:, ::-1][:, :16])
    # corner weight 1 * 1 against 16 * 16 inside: rnd(32767 / 256) = rnd(127.996) = 128
    assert np.abs(out).max() == 32767 and out[16, 15] == -32767 and out[0, 0] == -128


def test_window_is_the_integer_trapezoid():
    np.testing.assert_array_equal(window(8), [1, 3, 4, 4, 4, 4, 3, 1])
    expected = [1, 3, 5, 7, 9, 11, 13, 15] + [16] * 16 + [15, 13, 11, 9, 7, 5, 3, 1]
    np.testing.assert_array_equal(window(32), expected)


@pytest.mark.parametrize("image,message", [
    (np.zeros(10, np.uint8), "shape"),
    (np.zeros((2, 2, 2, 2), np.uint8), "shape"),
    (np.zeros((4, 4, 2), np.uint8), "channels"),
    (np.zeros((0, 4), np.uint8), "no pixels"),
    (np.zeros((4, 0, 3), np.uint8), "no pixels"),
    (np.array([[0.0, np.nan]]), "NaN"),
    (np.array([[0.0, np.inf]]), "NaN"),
    (np.array([[0.0, 1.5]]), r"\[0, 1\]"),
    (np.array([[-0.1, 0.5]], np.float32), r"\[0, 1\]"),
    (np.zeros((4, 4), np.int32), "dtype"),
    (np.zeros((4, 4), bool), "dtype"),
    (np.zeros((4, 4), np.float16), "dtype"),
    (np.zeros((1, MAX_ASPECT_RATIO + 1), np.uint8), "elongated"),
    ([[0, 1], [2, 3]], "numpy array"),
])
def test_bad_arrays_raise_preprocess_error(image, message):
    with pytest.raises(PreprocessError, match=message):
        preprocess(P32, image)
    assert issubclass(PreprocessError, ValueError)


def test_aspect_ratio_limit_is_inclusive():
    image = np.zeros((2, 2 * MAX_ASPECT_RATIO), np.uint8)
    image[:, ::2] = 255
    assert preprocess(P32, image).shape == (32, 32)
