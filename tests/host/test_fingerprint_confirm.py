"""The confirmation descriptor of the two-stage fingerprint match (rosvd.fingerprint_confirm):
interface, blob format, determinism, the mirror, and a related / unrelated pair on bench images."""
import numpy as np
import pytest

from rosvd import fingerprint_confirm as fc
from rosvd.bench.fingerprint import attack, family_images
from rosvd.fast_model import decompose
from rosvd.fingerprint import transformed
from rosvd.hw.svd.params import SVDParams
from rosvd.preprocess_fast import preprocess_fast

P = SVDParams()
#: Version 2's descriptor of the known-answer image: its first bytes and BLAKE2b-128 digest.
KNOWN_HEAD = "0201f10beb0637bfe9"
KNOWN_DIGEST = "fe88caaa899c9f557fe3a2feacbc6b10"


@pytest.fixture(scope="module")
def images():
    """Tuning-family originals of odd sizes (uint8 RGB)."""
    return family_images("blobs", 2) + family_images("shapes", 2) + family_images("clouds", 2)


@pytest.fixture(scope="module")
def matrices(images):
    return np.stack([preprocess_fast(P, image) for image in images])


def test_blobs_have_the_version_byte_the_size_and_fit_512_bytes(matrices):
    blobs = fc.descriptors(P, matrices)
    assert len(blobs) == len(matrices)
    sizes = {len(blob) for blob in blobs}
    assert len(sizes) == 1 and sizes.pop() <= 512
    assert all(isinstance(blob, bytes) and blob[0] == fc.DESCRIPTOR_VERSION for blob in blobs)
    assert 0 < fc.CANDIDATE_RADIUS_BITS <= 256
    assert isinstance(fc.CONFIRM_THRESHOLD, float)


def test_descriptors_are_deterministic_and_accept_a_decomposition(matrices):
    first = fc.descriptors(P, matrices)
    assert fc.descriptors(P, matrices.copy()) == first
    assert fc.descriptors(P, matrices, decompose(P, matrices)) == first
    assert [fc.descriptors(P, m)[0] for m in matrices] == first      # one (n, n) matrix at a time


def test_scores_are_float64_at_most_one_and_one_on_itself(matrices):
    blobs = fc.descriptors(P, matrices)
    for index, query in enumerate(blobs):
        scores = fc.confirmation_scores(blobs, query)
        assert scores.dtype == np.float64 and scores.shape == (len(blobs),)
        assert scores[index] == pytest.approx(1.0, abs=1e-9)
        assert np.all(np.delete(scores, index) < 0.99) and np.all(scores >= -1.0)
        for stored, score in zip(blobs, scores, strict=True):    # one at a time = the batch
            assert fc.confirmation_score(stored, query) == pytest.approx(score, abs=1e-12)
    assert fc.confirmation_scores([], blobs[0]).shape == (0,)


def test_the_mirror_of_x_is_the_mirrored_images_descriptor(images, matrices):
    for image, matrix in zip(images, matrices, strict=True):
        mirrored = preprocess_fast(P, np.ascontiguousarray(image[:, ::-1]))
        assert np.array_equal(mirrored, transformed("mirror", matrix))
        blob, = fc.descriptors(P, mirrored)
        assert blob == fc.descriptors(P, transformed("mirror", matrix))[0]
        assert fc.confirmation_score(blob, blob) == pytest.approx(1.0, abs=1e-12)
        # the stored descriptor and the mirrored copy's differ unless the image is symmetric
        assert blob != fc.descriptors(P, matrix)[0]


def test_malformed_blobs_are_refused(matrices):
    good, = fc.descriptors(P, matrices[:1])
    for bad, message in ((good[:-1], "bytes"), (good + b"\0", "bytes"),
                         (bytes([fc.DESCRIPTOR_VERSION + 1]) + good[1:], "version"), (b"", "bytes")):
        with pytest.raises(ValueError, match=message):
            fc.confirmation_score(bad, good)
        with pytest.raises(ValueError, match=message):
            fc.confirmation_scores([good, bad], good)
    with pytest.raises(ValueError):
        fc.confirmation_score(good, "not bytes")
    with pytest.raises(ValueError):
        fc.descriptors(P, np.zeros((2, 16, 16), dtype=np.int64))


def test_a_copy_confirms_and_unrelated_content_does_not(images, matrices):
    blobs = fc.descriptors(P, matrices)
    rng = np.random.default_rng(0)
    for name in ("jpeg50", "rotate2", "crop90"):
        copies = np.stack([preprocess_fast(P, attack(name, image, rng)) for image in images])
        for index, query in enumerate(fc.descriptors(P, copies)):
            scores = fc.confirmation_scores(blobs, query)
            assert scores[index] >= fc.CONFIRM_THRESHOLD, (name, index, scores)
            assert np.all(np.delete(scores, index) < fc.CONFIRM_THRESHOLD), (name, index, scores)


def test_a_caption_band_and_a_rotation_are_recovered_by_their_views(images, matrices):
    """The bottom-masked view ignores a caption band, the clockwise views undo a 5 degree
    counter-clockwise rotation: each scores above the whole-image view and high (tuning images)."""
    blobs = fc.descriptors(P, matrices)
    rng = np.random.default_rng(0)
    assert len(fc.VIEW_NAMES) == fc.VIEWS
    for name, views in (("caption14", ("no bottom",)), ("rotate5", ("rotated -5", "rotated -2.5"))):
        columns = [fc.VIEW_NAMES.index(view) for view in views]
        copies = np.stack([preprocess_fast(P, attack(name, image, rng)) for image in images])
        for index, query in enumerate(fc.descriptors(P, copies)):
            scores = fc.view_scores([blobs[index]], query)[0]
            assert scores[columns].max() > scores[0] + 0.005, (name, index, scores)
            assert scores[columns].max() >= 0.9, (name, index, scores)
            assert fc.confirmation_score(blobs[index], query) == pytest.approx(min(1.0, scores.max()))


def test_the_bench_runs_on_a_few_images():
    import json
    import subprocess
    import sys
    completed = subprocess.run([sys.executable, "-m", "rosvd.bench.confirm", "--per-family", "3", "--json"],
                               capture_output=True, text=True, check=True, timeout=120)
    result = json.loads(completed.stdout)
    assert result["candidate_radius_bits"] == fc.CANDIDATE_RADIUS_BITS
    assert result["confirm_threshold"] == fc.CONFIRM_THRESHOLD
    assert result["descriptor"]["bytes"] == fc.DESCRIPTOR_BYTES <= 512
    from rosvd.bench.fingerprint import ATTACKS
    assert set(result["attacks"]) == set(ATTACKS)
    jpeg = result["attacks"]["jpeg50"]
    assert jpeg["tuning"]["tpr"] >= 0.9 and jpeg["held_out"]["tpr"] >= 0.9
    assert jpeg["tuning"]["tpr"] <= jpeg["tuning"]["candidate_tpr"]
    false = result["false_matches"]
    assert false["empirical"]["matches"] == 0
    assert false["empirical"]["pairs"] == 34 * 33 // 2
    assert {"score_bound", "conditional", "conditional_trend", "regions",
            "with_regions_log_scale"} <= set(false)
    # the region stage finds the corner crops the views cannot
    crop = result["attacks"]["offcrop80"]["held_out"]
    assert crop["tpr_with_regions"] == 1.0 > crop["tpr"]
    assert all(entry["held_out"]["tpr_with_regions"] >= entry["held_out"]["tpr"]
               for entry in result["attacks"].values())


def test_every_masked_view_of_a_descriptor_with_itself_scores_one(matrices):
    """Masked views compare the same region on both sides, so a descriptor against itself
    scores 1 in each (the stored side's energy within the mask is the query view's)."""
    blobs = fc.descriptors(P, matrices)
    for blob in blobs:
        scores = fc.view_scores([blob], blob)[0]
        assert scores[:5] == pytest.approx(np.ones(5), abs=1e-9)
        assert np.all(scores[5:] < 1.0)          # a warped view is another image


def test_the_mirror_negates_the_odd_horizontal_frequencies(matrices):
    """DCT-II parity: mirroring the columns multiplies coefficient (u, v) by (-1)^v, exactly
    (the integer table is odd-symmetric)."""
    for matrix in matrices:
        plain = np.frombuffer(fc.descriptors(P, matrix)[0][1:], np.int8).astype(int)
        mirrored = np.frombuffer(fc.descriptors(P, matrix[:, ::-1])[0][1:], np.int8).astype(int)
        signs = np.array([(-1) ** v for _, v in fc._FREQUENCIES])
        assert np.array_equal(mirrored, plain * signs)


def test_known_answer():
    """Descriptor bytes of the fingerprint spec's known-answer image (docs/fingerprint.md)."""
    import hashlib
    y, x = np.mgrid[0:48, 0:40]
    image = ((x * x + 3 * x * y + 7 * y) % 256).astype(np.uint8)
    blob, = fc.descriptors(P, preprocess_fast(P, image))
    assert blob[:9].hex() == KNOWN_HEAD
    assert hashlib.blake2b(blob, digest_size=16).hexdigest() == KNOWN_DIGEST


def test_masked_energies_are_those_of_the_images(matrices):
    """The stored side's energy within each mask, computed from the coefficients, is the
    energy of the descriptor's image there (brute force)."""
    values = fc._decode(fc.descriptors(P, matrices))
    images = values @ fc._BASIS
    brute = np.stack([(images * images * mask).sum(axis=1) for mask in fc._MASKS], axis=1)
    assert np.allclose(fc._masked_energy(values), brute, rtol=1e-9)
