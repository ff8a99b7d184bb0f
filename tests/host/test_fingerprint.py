"""Robust fingerprint: length, determinism, invariances, robustness on photos, the bench's keys."""
import io
import math

import numpy as np
import pytest
from PIL import Image

from rosvd.fingerprint import (
    FINGERPRINT_BYTES,
    dct_table,
    fingerprint_images,
    fingerprint_images_fast,
    hamming_distance,
    low_rank_image,
    robust_fingerprint,
    robust_fingerprints,
    taper_weights,
)
from rosvd.hw.svd.model import Decomposition, decompose
from rosvd.hw.svd.params import SVDParams
from rosvd.preprocess import preprocess, preprocess_batch

P = SVDParams()


def pattern(seed: int, shape=(96, 128)) -> np.ndarray:
    """A smooth random picture (sum of oriented waves), uint8 RGB."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]] / max(shape)
    out = np.zeros(shape + (3,))
    for _ in range(4):
        angle, freq, phase = rng.uniform(0, np.pi), rng.uniform(0.5, 4), rng.uniform(0, 6.3)
        out += np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)) + phase)[..., None] \
            * rng.uniform(10, 60, 3)
    return np.clip(out + 128, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def batch():
    matrices = preprocess_batch(P, [pattern(seed) for seed in range(6)])
    return matrices, decompose(P, matrices)


def test_length_determinism_and_batch_equals_single(batch):
    matrices, result = batch
    prints = robust_fingerprints(P, matrices, result)
    assert len(prints) == len(matrices)
    assert all(isinstance(p, bytes) and len(p) == FINGERPRINT_BYTES for p in prints)
    assert prints == robust_fingerprints(P, matrices.copy(), decompose(P, matrices))
    for index, matrix in enumerate(matrices):
        assert robust_fingerprint(P, matrix, result, index=index) == prints[index]
        one = (result.sigma[index], result.vectors[index])
        assert robust_fingerprint(P, matrix, one) == prints[index]
    assert len(set(prints)) == len(prints)


def test_every_fingerprint_has_126_ones(batch):
    # rank code: levels hold 13, 13, 13, 13, 12 coefficients -> 13*(1+2+3) + 12*4 ones
    for fingerprint in robust_fingerprints(P, *batch):
        assert np.unpackbits(np.frombuffer(fingerprint, np.uint8)).sum() == 126


def test_invariant_to_singular_vector_signs(batch):
    matrices, result = batch
    reference = robust_fingerprints(P, matrices, result)
    rng = np.random.default_rng(0)
    signs = rng.choice([-1, 1], size=(len(matrices), P.k, 1))
    signs[0] = -1
    flipped = Decomposition(result.sigma, result.vectors * signs, result.sweeps_run)
    assert robust_fingerprints(P, matrices, flipped) == reference
    np.testing.assert_array_equal(low_rank_image(P, matrices, result.sigma, flipped.vectors),
                                  low_rank_image(P, matrices, result.sigma, result.vectors))


def test_depends_on_the_vectors(batch):
    """The invariance above is not vacuous: other vectors give another fingerprint."""
    matrices, result = batch
    rng = np.random.default_rng(1)
    basis = np.stack([np.linalg.qr(rng.standard_normal((P.n, P.k)))[0].T for _ in matrices])
    other = np.rint(basis * (1 << P.v_frac)).astype(np.int64)
    before, after = robust_fingerprints(P, matrices, result), robust_fingerprints(P, matrices,
                                                                                  (result.sigma, other))
    assert all(hamming_distance(a, b) > 0.15 for a, b in zip(before, after, strict=True))


def test_invariant_to_order_of_equal_singular_values(batch):
    matrices, result = batch
    sigma = result.sigma.copy()
    sigma[:, 1] = sigma[:, 0]           # pretend sigma_1 == sigma_2: the pair's order is arbitrary
    swapped = result.vectors[:, [1, 0, 2, 3]]
    assert robust_fingerprints(P, matrices, (sigma, swapped)) == robust_fingerprints(P, matrices,
                                                                                    (sigma, result.vectors))


def test_taper_fades_a_component_tied_with_the_next():
    sigma = np.array([[1000, 800, 600, 400, 100] + [0] * 27,
                      [1000, 800, 600, 400, 400] + [0] * 27,
                      [1000, 800, 600, 400, 380] + [0] * 27,
                      [0] * 32])
    np.testing.assert_array_equal(taper_weights(P, sigma), [
        [256, 256, 256, 256],
        [256, 256, 256, 0],
        [256, 256, 256, 256 * 16 * 20 // 1000],
        [0, 0, 0, 0]])


def test_dct_table_matches_float_and_has_no_near_ties():
    table = dct_table(32)
    assert table.shape == (8, 32) and table[0, 0] == 724 and table[1, 0] == 1023
    j = np.arange(32)
    for u in range(8):
        scale = np.sqrt((0.5 if u == 0 else 1.0) * 2 / 32) * 4096
        exact = scale * np.cos(np.pi * (2 * j + 1) * u / 64)
        assert np.abs(table[u] - exact).max() <= 0.5
        assert np.abs(np.abs(exact - np.trunc(exact)) - 0.5).min() > 1e-6


# An independent scalar re-implementation written from docs/fingerprint.md (Python ints only).
def _rnd_shift(value: int, shift: int) -> int:
    magnitude = (abs(value) + (1 << (shift - 1))) >> shift
    return -magnitude if value < 0 else magnitude


def _overlap(a0, a1, b0, b1):
    return max(0, min(a1, b1) - max(a0, b0))


def reference_preprocess(image: np.ndarray, n: int, limit: int) -> list[list[int]]:
    height, width = image.shape[:2]
    pixels = image.reshape(height, width, -1)

    def sample(value):
        if image.dtype == np.uint8:
            return int(value) * 257
        if image.dtype == np.uint16:
            return int(value)
        return math.floor(float(value) * 65535 + 0.5)

    luma = [[0] * width for _ in range(height)]
    for r in range(height):
        for c in range(width):
            s = [sample(v) for v in pixels[r, c]]
            if len(s) == 4:
                s = [(x * s[3] + 32767) // 65535 for x in s[:3]]
            luma[r][c] = s[0] if len(s) == 1 else (19595 * s[0] + 38470 * s[1] + 7471 * s[2] + 32768) >> 16
    sums = [[sum(_overlap(i * height, (i + 1) * height, r * n, (r + 1) * n)
                 * _overlap(j * width, (j + 1) * width, c * n, (c + 1) * n) * luma[r][c]
                 for r in range(height) for c in range(width)) for j in range(n)] for i in range(n)]
    total = sum(map(sum, sums))
    weight = [min(2 * j + 1, 2 * n - 2 * j - 1, n // 2) for j in range(n)]
    deviation = [[(n * n * s - total) * weight[i] * weight[j] for j, s in enumerate(row)]
                 for i, row in enumerate(sums)]
    peak = max(abs(d) for row in deviation for d in row)
    if peak == 0:
        return [[0] * n for _ in range(n)]
    return [[(1 if d > 0 else -1) * ((2 * abs(d) * limit + peak) // (2 * peak)) for d in row]
            for row in deviation]


def reference_fingerprint(x, sigma, vectors, n=32, k=4, v_frac=16) -> bytes:
    x = [[int(e) for e in row] for row in x]
    sigma, vectors = [int(s) for s in sigma], [[int(e) for e in v] for v in vectors]
    y = [[_rnd_shift(sum(x[r][c] * vectors[i][c] for c in range(n)), v_frac) for r in range(n)]
         for i in range(k)]
    gap_next = sigma[k] if k < n else 0
    w = [0 if sigma[0] == 0 else max(0, min(256, (256 * 16 * (sigma[i] - gap_next)) // sigma[0]))
         for i in range(k)]
    a = [[_rnd_shift(sum(w[i] * y[i][r] * vectors[i][c] for i in range(k)), v_frac + 8) for c in range(n)]
         for r in range(n)]
    q = []
    for u in range(8):
        scale = math.sqrt((0.5 if u == 0 else 1.0) * 2 / n) * 4096
        q.append([int(math.copysign(math.floor(abs(scale * math.cos(math.pi * (2 * j + 1) * u / (2 * n)))
                                                + 0.5), math.cos(math.pi * (2 * j + 1) * u / (2 * n))))
                  for j in range(n)])
    qa = [[sum(q[u][r] * a[r][c] for r in range(n)) for c in range(n)] for u in range(8)]
    f = [sum(qa[u][c] * q[v][c] for c in range(n)) for u in range(8) for v in range(8)]
    peak = max(abs(e) for e in f)
    quant = [0] * 64 if peak == 0 else [(1 if e > 0 else -1) * ((512 * abs(e) + peak) // (2 * peak))
                                        for e in f]
    rank = {c: position for position, c in enumerate(sorted(range(64), key=lambda c: (quant[c], c)))}
    bits = "".join("".join("1" if (5 * rank[c]) // 64 >= t else "0" for t in (1, 2, 3, 4)) for c in range(64))
    return int(bits, 2).to_bytes(32, "big")


def _reference_images():
    rng = np.random.default_rng(11)
    rgba = rng.integers(0, 256, (9, 14, 4), dtype=np.uint8)
    grey16 = rng.integers(0, 65536, (40, 23), dtype=np.uint16)
    floats = rng.random((17, 33, 3)).astype(np.float32)
    return [pattern(3, (36, 30)), rgba, grey16, floats]


@pytest.mark.parametrize("index", range(4))
def test_scalar_reimplementation_from_the_spec_agrees(index):
    image = _reference_images()[index]
    matrix = preprocess(P, image)
    assert matrix.tolist() == reference_preprocess(image, P.n, P.input_max)
    result = decompose(P, matrix)
    assert robust_fingerprint(P, matrix, result) == reference_fingerprint(matrix, result.sigma[0],
                                                                          result.vectors[0])


@pytest.mark.parametrize("n", [8, 16])
def test_scalar_reimplementation_agrees_for_other_sizes(n):
    params = SVDParams(n=n, units=n // 2)
    image = _reference_images()[0]
    matrix = preprocess(params, image)
    assert matrix.tolist() == reference_preprocess(image, n, params.input_max)
    result = decompose(params, matrix)
    assert robust_fingerprint(params, matrix, result) == reference_fingerprint(
        matrix, result.sigma[0], result.vectors[0], n=n)


def test_flat_image_ranks_by_coefficient_index():
    fingerprint = fingerprint_images(P, [np.full((20, 20), 9, np.uint8)])[0]
    levels = [(5 * c) // 64 for c in range(64)]
    expected = "".join("".join("1" if level >= t else "0" for t in (1, 2, 3, 4)) for level in levels)
    assert fingerprint == int(expected, 2).to_bytes(32, "big")


def kat_image() -> np.ndarray:
    """The known-answer image of docs/fingerprint.md: ``(x*x + 3xy + 7y) mod 256``, 48 x 40."""
    y, x = np.mgrid[0:48, 0:40]
    return ((x * x + 3 * x * y + 7 * y) % 256).astype(np.uint8)


def test_known_answers():
    """Pins the specification: docs/fingerprint.md quotes these vectors."""
    grey = kat_image()
    matrix = preprocess(P, grey)
    assert matrix[0, :8].tolist() == [-177, -517, -819, -1059, -1181, -1205, -1091, -813]
    assert matrix[16, 12:20].tolist() == [19420, -9500, 18690, 4278, 5447, -6628, -11448, 15915]
    result = decompose(P, matrix)
    assert result.sigma[0, :5].tolist() == [455702, 378309, 353692, 344525, 316520]
    assert taper_weights(P, result.sigma).tolist() == [[256, 256, 256, 251]]
    assert robust_fingerprint(P, matrix, result).hex() == \
        "fe8c08f8ee888eecc0cfce880fc0f80fc0eeef0ce8cf8ce80fc0f00fe0efc08c"
    rgb = np.stack([grey, 255 - grey, grey // 2], axis=-1)
    assert fingerprint_images(P, [rgb])[0].hex() == \
        "08e8fe0e88cee88ccfc0c8eef0cf0ef0cf8880fc8ec0ec0ef0cf0ff08e80cfec"
    assert fingerprint_images_fast(P, [rgb])[0].hex() == \
        "08e8fe0e88cee88ccfc0c8eef0cf0ef0cf8880fc8ec0ec0ef0cf0ff08e80cfec"


def test_fast_fingerprint_path_gives_the_specification_bits():
    """The path the query service fingerprints uploads with (compiled preprocessing and
    model) against the specification path, on pictures of several shapes and channels."""
    images = [pattern(seed, shape) for seed, shape in enumerate([(96, 128), (512, 512), (40, 600), (32, 32)])]
    images += [images[0][..., 0], images[1].astype(np.uint16) * 257]
    assert fingerprint_images_fast(P, images) == fingerprint_images(P, images)
    assert fingerprint_images_fast(P, []) == []


def test_hamming_distance():
    a = bytes(range(32))
    assert hamming_distance(a, a) == 0.0
    assert hamming_distance(a, bytes(255 - b for b in a)) == 1.0
    assert hamming_distance(bytes(32), b"\x01" + bytes(31)) == 1 / 256
    with pytest.raises(ValueError):
        hamming_distance(a, a[:31])
    with pytest.raises(ValueError):
        hamming_distance(b"", b"")


def test_bad_shapes_are_refused(batch):
    matrices, result = batch
    with pytest.raises(ValueError, match="engine outputs"):
        robust_fingerprints(P, matrices[:3], result)
    with pytest.raises(ValueError, match="matrices"):
        robust_fingerprints(P, matrices[:, :16, :16], result)


def _jpeg(image, quality):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def test_jpeg_copies_are_much_closer_than_unrelated_photos():
    import skimage.data
    photos = [skimage.data.camera(), skimage.data.astronaut(), skimage.data.coffee(), skimage.data.coins(),
              skimage.data.rocket()]
    photos = [np.stack([p] * 3, axis=-1) if p.ndim == 2 else p for p in photos]
    prints = fingerprint_images(P, photos + [_jpeg(p, 50) for p in photos])
    originals, copies = prints[:len(photos)], prints[len(photos):]
    same = [hamming_distance(a, b) for a, b in zip(originals, copies, strict=True)]
    different = [hamming_distance(originals[i], originals[j])
                 for i in range(len(photos)) for j in range(i + 1, len(photos))]
    assert max(same) < 0.08, same
    assert min(different) > 0.25, different


def test_preprocess_then_fingerprint_is_what_fingerprint_images_does():
    image = pattern(5)
    matrix = preprocess(P, image)
    assert robust_fingerprint(P, matrix, decompose(P, matrix)) == fingerprint_images(P, [image])[0]


def test_quick_bench_has_the_documented_keys():
    from rosvd.bench.fingerprint import ATTACKS, METHODS, REPOST_ATTACKS, run
    result = run(quick=True)
    assert set(result) >= {"engine", "params", "images", "pairs", "attacks", "methods", "rosvd_at_least_pdq",
                           "tpr_table", "reaches_issue20_goal", "seconds"}
    assert set(result["methods"]) == set(METHODS) >= {"rosvd", "rosvd_mirror", "pdq", "pdq_dihedral", "phash"}
    for entry in result["methods"].values():
        assert set(entry["thresholds"]) == {"0.001", "0.0001"}
        for part in ("tuning", "photos", "held_out"):
            assert set(entry[part]) == set(ATTACKS)
            for row in entry[part].values():
                assert {"same", "tpr@0.001", "tpr@0.0001"} <= set(row)
                assert 0.0 <= row["tpr@0.001"] <= 1.0
        assert entry["different_tuning"]["count"] == result["pairs"]["different_tuning"]
        assert set(entry["realised_fpr_attacked_queries"]) == set(ATTACKS)
        for row in entry["realised_fpr_attacked_queries"].values():
            assert set(row) == {"tuning", "held_out"} and set(row["tuning"]) == {"0.001", "0.0001"}
    methods = result["methods"]
    assert methods["rosvd"]["bits"] == 256 and methods["phash"]["bits"] == 64
    assert methods["rosvd_mirror"]["query_variants"] == ["rosvd:identity", "rosvd:mirror"]
    assert len(methods["pdq_dihedral"]["query_variants"]) == 8
    for f in ("0.001", "0.0001"):
        assert set(result["tpr_table"][f]) == {"tuning", "photos", "held_out"}
        assert result["tpr_table"][f]["held_out"]["mirror"]["rosvd_mirror"] == methods["rosvd_mirror"][
            "held_out"]["mirror"][f"tpr@{f}"]
    for method, parts in result["reaches_issue20_goal"].items():
        assert method.startswith("rosvd") and set(parts) == {"tuning", "held_out"}
        assert set(parts["held_out"]) == set(REPOST_ATTACKS)
    # A query that tries variants is matched as the minimum over them, on the different-content
    # pairs (thresholds) as on the copies: unrelated pairs come closer, never farther.
    for wider, narrower in (("rosvd_mirror", "rosvd"), ("rosvd_dihedral", "rosvd_mirror"),
                            ("pdq_dihedral", "pdq")):
        assert methods[wider]["different_tuning"]["mean"] < methods[narrower]["different_tuning"]["mean"]
        assert methods[wider]["thresholds"]["0.001"] <= methods[narrower]["thresholds"]["0.001"]
    assert methods["rosvd"]["held_out"]["mirror"]["same"]["mean"] > 0.15
    assert methods["rosvd_mirror"]["held_out"]["mirror"]["same"]["max"] == 0.0
    from rosvd.bench.fingerprint import markdown
    tables = markdown(result)
    assert all(f"| {name} | held out |" in tables for name in ATTACKS)
