"""Issue 20's re-posting attacks, PDQ's dihedral baseline, the query variants (mirror) and the
candidate border trim: shapes, determinism, and the property each one exists for."""
import numpy as np
import pytest

from rosvd.bench.fingerprint import (
    ATTACKS,
    CLASSIC_ATTACKS,
    REPOST_ATTACKS,
    SUPPLEMENTARY_ATTACKS,
    attack,
    family_images,
    min_distances,
    pdq_bits,
    pdq_dihedral_bits,
    rosvd_variant_bits,
    trim_uniform_border,
)
from rosvd.fingerprint import (
    QUERY_VARIANTS,
    VARIANTS,
    fingerprint_images,
    fingerprint_images_fast,
    hamming_distance,
    query_distance,
    query_fingerprints,
    query_fingerprints_fast,
    transformed,
)
from rosvd.hw.svd.params import SVDParams
from rosvd.preprocess import preprocess

P = SVDParams()


@pytest.fixture(scope="module")
def images():
    """Two held-out-style scenes and a mosaic, of odd sizes (uint8 RGB)."""
    return family_images("scenes", 2) + family_images("mosaic", 1)


def test_the_attack_table_is_the_classic_six_then_issue_20s_six():
    assert tuple(ATTACKS) == CLASSIC_ATTACKS + REPOST_ATTACKS + SUPPLEMENTARY_ATTACKS
    with pytest.raises(ValueError, match="unknown attack 'sepia'"):
        attack("sepia", np.zeros((8, 8, 3), np.uint8), np.random.default_rng(0))


@pytest.mark.parametrize("name", REPOST_ATTACKS)
def test_each_attack_is_deterministic_and_returns_uint8_rgb(images, name):
    for image in images:
        first = attack(name, image, np.random.default_rng([7, 1]))
        again = attack(name, image, np.random.default_rng([7, 1]))
        assert np.array_equal(first, again)
        assert first.dtype == np.uint8 and first.ndim == 3 and first.shape[2] == 3
        assert first.flags["C_CONTIGUOUS"]
        if first.shape == image.shape:
            assert not np.array_equal(first, image)


def test_attack_shapes_and_contents(images):
    rng = np.random.default_rng(0)
    for image in images:
        height, width = image.shape[:2]
        assert np.array_equal(attack("mirror", image, rng), image[:, ::-1])

        boxed = attack("letterbox20", image, rng)
        bar = round(0.1 * height)
        assert boxed.shape == (height + 2 * bar, width, 3)
        assert not boxed[:bar].any() and not boxed[-bar:].any()
        assert np.array_equal(boxed[bar:bar + height], image)

        assert attack("rotate5", image, rng).shape == image.shape

        captioned = attack("caption14", image, rng)
        band = round(0.14 * height)
        assert captioned.shape == image.shape
        assert np.array_equal(captioned[:height - band], image[:height - band])
        strip = captioned[height - band:]
        assert (strip == 255).all(axis=-1).mean() > 0.7 and (strip < 128).all(axis=-1).any()   # text on white

        shot = attack("screenshot", image, rng)
        small = (round(0.6 * height), round(0.6 * width))
        assert shot.shape == (small[0] + 2 * round(0.05 * small[0]), small[1] + 2 * round(0.05 * small[1]), 3)
        assert abs(float(shot[0].mean()) - 128) < 4 and abs(float(shot[:, -1].mean()) - 128) < 4


def test_offcentre_crop_keeps_80_percent_in_a_corner_drawn_from_the_rng(images):
    image = images[0]
    height, width = image.shape[:2]
    rows, cols = round(0.8 * height), round(0.8 * width)
    corners = set()
    rng = np.random.default_rng(1)
    for _ in range(24):
        crop = attack("offcrop80", image, rng)
        assert crop.shape == (rows, cols, 3)
        for top in (0, height - rows):
            for left in (0, width - cols):
                if np.array_equal(crop, image[top:top + rows, left:left + cols]):
                    corners.add((top, left))
    assert len(corners) == 4


def test_pdq_dihedral_query_finds_a_mirror_that_plain_pdq_misses(images):
    mirrored = [attack("mirror", image, None) for image in images]
    stored = pdq_bits(images)
    dihedral = pdq_dihedral_bits(mirrored)
    assert dihedral.shape == (8, len(images), 256)
    assert np.array_equal(dihedral[0], pdq_bits(mirrored))      # the first is the plain hash
    best = min_distances(stored, list(dihedral))
    plain = min_distances(stored, [dihedral[0]])
    # PDQ's dihedral hashes are sign patterns of one image's DCT, so a mirror matches exactly
    # where the downsampling grid is symmetric and nearly elsewhere (well under its 0.28).
    assert (best < 0.125).all() and (best == 0).sum() >= 2, best
    assert (plain > 0.3).all(), plain


def test_variant_names_say_what_they_do():
    x = np.arange(12).reshape(3, 4)
    expected = {"identity": x, "mirror": np.fliplr(x), "flip": np.flipud(x), "rot180": np.rot90(x, 2),
                "transpose": x.T, "rot90": np.rot90(x), "rot270": np.rot90(x, -1),
                "antitranspose": np.rot90(x, 2).T}
    assert set(VARIANTS) == set(expected)
    for name, value in expected.items():
        assert np.array_equal(transformed(name, x), value), name


def test_preprocessing_commutes_with_every_query_variant(images):
    for image in images:
        matrix = preprocess(P, image)
        for variant in VARIANTS:
            expected = transformed(variant, matrix)
            assert np.array_equal(preprocess(P, transformed(variant, image)), expected), variant


def test_query_fingerprints_hold_the_stored_fingerprint_and_the_mirrors(images):
    assert QUERY_VARIANTS == ("identity", "mirror")
    for image in images[:2]:
        queries = query_fingerprints(P, image)
        assert len(queries) == 2 and all(len(q) == 32 for q in queries)
        assert queries[0] == fingerprint_images(P, [image])[0]
        assert fingerprint_images(P, [image[:, ::-1]])[0] in queries
        assert queries[1] == fingerprint_images(P, [image[:, ::-1]])[0]
        assert query_fingerprints_fast(P, image) == queries
        # A mirrored copy is found at distance 0 by the stored fingerprint of the original.
        assert query_distance(queries[0], query_fingerprints(P, image[:, ::-1])) == 0.0
        assert hamming_distance(queries[0], fingerprint_images(P, [image[:, ::-1]])[0]) > 0.15


def test_every_variant_is_the_fingerprint_of_the_content_so_transformed(images):
    image = images[2]
    queries = query_fingerprints_fast(P, image, tuple(VARIANTS))
    expected = fingerprint_images_fast(P, [transformed(v, image) for v in VARIANTS])
    assert queries == expected
    bits = rosvd_variant_bits(P, [image], tuple(VARIANTS))       # the bench's path agrees
    assert [bytes(np.packbits(bits[v][0])) for v in VARIANTS] == expected


def test_query_refusals():
    image = family_images("scenes", 1)[0]
    with pytest.raises(ValueError, match="first query variant must be 'identity'"):
        query_fingerprints(P, image, ("mirror",))
    with pytest.raises(ValueError, match="unknown query variant 'shear'"):
        query_fingerprints_fast(P, image, ("identity", "shear"))
    with pytest.raises(ValueError, match="at least one fingerprint"):
        query_distance(bytes(32), [])


def test_trim_removes_letterbox_and_screenshot_borders_and_leaves_others_alone(images):
    rng = np.random.default_rng(0)
    for image in images:
        assert trim_uniform_border(image) is image      # no neutral uniform edge line
        boxed = attack("letterbox20", image, rng)
        assert np.array_equal(trim_uniform_border(boxed), image)
        shot = attack("screenshot", image, rng)
        trimmed = trim_uniform_border(shot)
        small = (round(0.6 * image.shape[0]), round(0.6 * image.shape[1]))
        # JPEG ringing may leave a line or two of the frame; never more, never content.
        assert 0 <= trimmed.shape[0] - small[0] <= 4 and 0 <= trimmed.shape[1] - small[1] <= 4
    flat = np.full((40, 60, 3), 200, np.uint8)
    assert trim_uniform_border(flat).shape == (40 - 2 * 12, 60 - 2 * 18, 3)     # at most 30% a side
    # Uniform rows of a colour are content (a sky), not a frame: only neutral colours are trimmed.
    image = images[2]
    sky = np.concatenate([np.full((20,) + image.shape[1:], (90, 140, 220), np.uint8), image])
    assert trim_uniform_border(sky) is sky
    grey = np.concatenate([np.full((20,) + image.shape[1:], (130, 128, 126), np.uint8), image])
    assert np.array_equal(trim_uniform_border(grey), image)


def test_fingerprint_command_lists_the_query_fingerprints(tmp_path, capsys):
    import json

    from PIL import Image

    from rosvd.cli import main
    image = family_images("scenes", 1)[0]
    Image.fromarray(image).save(tmp_path / "a.png")
    Image.fromarray(np.ascontiguousarray(image[:, ::-1])).save(tmp_path / "mirrored.png")
    bar = np.zeros((20,) + image.shape[1:], np.uint8)
    Image.fromarray(np.concatenate([bar, image, bar])).save(tmp_path / "boxed.png")
    (tmp_path / "t.txt").write_text("hello")
    code = main(["fingerprint", "--json", str(tmp_path / "a.png"), str(tmp_path / "mirrored.png"),
                 str(tmp_path / "t.txt"), str(tmp_path / "boxed.png")])
    records = json.loads(capsys.readouterr().out)
    assert code == 0
    original, mirrored, text, letterboxed = records
    stored = fingerprint_images(P, [image])[0].hex()
    assert original["query_fingerprints"][0] == original["fingerprint"] == stored
    assert original["query_variants"] == ["identity", "mirror"]
    assert mirrored["fingerprint"] in original["query_fingerprints"]
    assert query_distance(bytes.fromhex(original["fingerprint"]),
                          [bytes.fromhex(q) for q in mirrored["query_fingerprints"]]) == 0.0
    assert text["fingerprint"] is None and text["query_fingerprints"] is None
    # a letterboxed copy: the trimmed view is the original's stored fingerprint exactly
    assert letterboxed["query_variants"] == ["identity", "mirror", "trimmed", "trimmed+mirror"]
    assert letterboxed["query_fingerprints"][2] == stored != letterboxed["fingerprint"]
    assert len(letterboxed["query_descriptors"]) == 4
    assert letterboxed["query_descriptors"][2] == original["query_descriptors"][0]
    # the stored side's region, and the 27 windows a query tries against it
    from rosvd.fingerprint_regions import region_fingerprints
    assert original["region_fingerprint"] == region_fingerprints(P, image)[0].hex()
    assert len(original["query_windows"]) == len(original["window_fingerprints"]) == 27
    assert len(original["window_descriptors"]) == 27 and text["query_windows"] is None


def test_the_docs_attack_table_is_generated_from_attacks():
    from pathlib import Path

    from rosvd.bench.fingerprint import attack_table
    docs = (Path(__file__).parents[2] / "docs" / "fingerprint.md").read_text()
    assert attack_table() in docs


def test_known_answer_of_the_mirror_query():
    """docs/fingerprint.md quotes it: the spec's known-answer image G and its mirror."""
    y, x = np.mgrid[0:48, 0:40]
    grey = ((x * x + 3 * x * y + 7 * y) % 256).astype(np.uint8)
    assert [q.hex() for q in query_fingerprints(P, grey)] == [
        "fe8c08f8ee888eecc0cfce880fc0f80fc0eeef0ce8cf8ce80fc0f00fe0efc08c",
        "f88c0ffee88e88eccfc8c88e00cffe00cfe8e00ceec08cee00cfff00cfe08f8c"]
