"""rosvd.match: the query's views and the two-stage match rule."""
import numpy as np
import pytest

from rosvd import match
from rosvd.border import trim_content_border
from rosvd.fingerprint import fingerprint_images, transformed
from rosvd.fingerprint_confirm import DESCRIPTOR_VERSION, descriptors
from rosvd.hw.svd.params import SVDParams
from rosvd.match import (
    CONFIRM_THRESHOLD,
    DISTANCE_THRESHOLD,
    Judgement,
    QueryViews,
    accepted,
    judge,
    query_views,
    view_matrices,
)
from rosvd.preprocess import preprocess

P = SVDParams()


def picture(seed: int, side: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 6, 3)).astype(np.uint8)
    return np.kron(small, np.ones((side // 6, side // 6, 1), np.uint8))


def boxed(image: np.ndarray, bar: int = 8) -> np.ndarray:
    black = np.zeros((bar,) + image.shape[1:], np.uint8)
    return np.concatenate([black, image, black])


def test_views_are_the_content_its_mirror_and_with_a_border_both_trimmed():
    image = picture(1)
    names, matrices = view_matrices(P, image)
    assert names == ("identity", "mirror")
    assert np.array_equal(matrices[0], preprocess(P, image))
    assert np.array_equal(matrices[1], transformed("mirror", matrices[0]))
    names, matrices = view_matrices(P, boxed(image))
    assert names == ("identity", "mirror", "trimmed", "trimmed+mirror")
    assert np.array_equal(matrices[2], preprocess(P, image))       # the bars are gone exactly
    assert np.array_equal(matrices[3], transformed("mirror", preprocess(P, image)))


def test_grey_and_alpha_content_is_trimmed_and_16_bit_content_is_not():
    image = boxed(picture(2))
    grey = image[:, :, 0]
    assert trim_content_border(grey).shape == grey[8:-8].shape
    rgba = np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], axis=2)
    assert trim_content_border(rgba).shape == (image.shape[0] - 16, image.shape[1], 4)
    deep = image.astype(np.uint16) * 257
    assert trim_content_border(deep) is deep


def test_the_first_view_is_what_a_certificate_stores_and_fast_equals_reference():
    image = boxed(picture(3))
    fast = query_views(P, image)
    assert fast.fingerprints[0] == fingerprint_images(P, [image])[0]
    reference = query_views(P, image, fast=False)
    assert reference == fast
    assert fast.descriptors == tuple(descriptors(P, view_matrices(P, image)[1]))


def views(*fingerprints, descriptors=None):
    return QueryViews(tuple(f"v{i}" for i in range(len(fingerprints))), tuple(fingerprints), descriptors)


def test_views_need_a_name_and_a_descriptor_per_fingerprint():
    with pytest.raises(ValueError, match="at least one"):
        QueryViews((), (), None)
    with pytest.raises(ValueError, match="1 descriptors for 2 views"):
        views(bytes(32), bytes(32), descriptors=(b"x",))


def descriptor_of(seed: int) -> bytes:
    return descriptors(P, preprocess(P, picture(seed))[None])[0]


def test_confirmation_uses_only_views_within_the_radius():
    own, other = descriptor_of(4), descriptor_of(5)
    query = views(bytes(32), bytes(32), descriptors=(other, own))
    # the view carrying the right descriptor is within the radius: confirmed
    (near,) = judge(query, np.array([[0.0, 0.1]]), [own], radius=0.125)
    assert near.confirmed is True and near.confirmation >= CONFIRM_THRESHOLD and near.view == "v0"
    # the same view beyond the radius does not count: only the unrelated descriptor remains
    (far,) = judge(query, np.array([[0.0, 0.2]]), [own], radius=0.125)
    assert far.confirmed is False and far.confirmation < CONFIRM_THRESHOLD


def test_no_descriptor_or_another_version_falls_back_to_the_distance_threshold():
    query = views(bytes(32), descriptors=(descriptor_of(6),))
    (missing,) = judge(query, np.array([[0.05]]), [None], radius=0.125)
    assert missing.confirmed is None and missing.confirmation is None
    assert accepted(missing, "confirmed", 0.125)
    beyond = Judgement(DISTANCE_THRESHOLD + 1 / 256, "v0", None, None)
    assert not accepted(beyond, "confirmed", 0.25) and accepted(beyond, "distance", 0.25)
    assert accepted(Judgement(DISTANCE_THRESHOLD, "v0", None, None), "confirmed", 0.25)
    stale = bytes([DESCRIPTOR_VERSION + 1]) + descriptor_of(6)[1:]
    assert match._current(stale) is None and match._current(descriptor_of(6)) is not None
    with pytest.raises(ValueError, match="unknown match rule"):
        accepted(missing, "nearest", 0.125)


class FakeSearch:
    def __init__(self, stored: dict[int, bytes]):
        self.stored = stored
        self.limits, self.radii = [], []

    def search(self, fingerprint, max_distance, limit):
        self.limits.append(limit)
        self.radii.append(max_distance)
        query = views(fingerprint)
        found = [(s, float(match.distances(query, [f])[0, 0])) for s, f in self.stored.items()]
        found = sorted([item for item in found if item[1] <= max_distance], key=lambda x: (x[1], x[0]))
        return found[:limit]


class FakeStore:
    def __init__(self, kept: dict[int, bytes], regions: dict[int, bytes] | None = None):
        self.kept, self.regions = kept, regions or {}
        self.asked = []

    def match_descriptors(self, sequences, regions=False):
        self.asked.append((list(sequences), regions))
        kept = self.regions if regions else self.kept
        return {s: kept[s] for s in sequences if s in kept}


def flipped(code: bytes, bits: int) -> bytes:
    value = int.from_bytes(code, "big") ^ ((1 << bits) - 1)
    return value.to_bytes(len(code), "big")


def test_find_confirms_ranks_excludes_and_limits():
    base = fingerprint_images(P, [picture(7)])[0]
    own, other = descriptor_of(7), descriptor_of(8)
    stored = {1: flipped(base, 3), 2: base, 3: flipped(base, 9), 4: flipped(base, 60), 5: flipped(base, 5)}
    kept = {1: own, 2: other, 3: own}                       # 5 has none: the distance rule decides
    search, store = FakeSearch(stored), FakeStore(kept)
    query = views(base, flipped(base, 1), descriptors=(own, own))
    found = match.find(store, search, query, "confirmed", 32 / 256, limit=10)
    assert [s for s, _ in found] == [1, 5, 3]             # 2 refused by its descriptor, 4 too far
    assert [j.confirmed for _, j in found] == [True, None, True]
    assert found[0][1].distance == 2 / 256 and found[0][1].view == "v1"
    assert match.find(store, search, query, "confirmed", 32 / 256, limit=2, exclude={1})[0][0] == 5
    assert [s for s, _ in match.find(store, search, query, "confirmed", 32 / 256, 1)] == [1]
    asked = len(store.asked)
    assert [s for s, _ in match.find(store, search, query, "distance", 32 / 256, 10)] == [2, 1, 5, 3]
    assert len(store.asked) == asked                       # the distance rule reads no descriptor
    assert set(search.limits) == {match.MAX_CANDIDATES, match.MAX_CANDIDATES + 1}
    with pytest.raises(ValueError, match="unknown match rule"):
        match.find(store, search, query, "nearest", 0.1, 10)


def test_find_through_region_windows_adds_the_penalty_and_its_own_threshold():
    base = fingerprint_images(P, [picture(9)])[0]
    region_code = fingerprint_images(P, [picture(10)])[0]
    own, other = descriptor_of(9), descriptor_of(11)
    content = FakeSearch({1: flipped(base, 100), 2: flipped(base, 100), 3: flipped(base, 4),
                          5: flipped(base, 6)})
    regions = FakeSearch({1: region_code, 2: flipped(region_code, 6), 3: flipped(region_code, 2),
                          5: region_code})
    store = FakeStore({3: own, 5: other}, regions={1: own, 2: other, 5: own})   # 3: no region descriptor
    windows = views(flipped(region_code, 2), region_code, descriptors=(own, own))
    query = QueryViews(("identity",), (base,), (own,), windows)
    found = dict(match.find(store, content, query, "confirmed", 32 / 256, 10, region_search=regions))
    # 1: its region, exact on window 1, confirmed; 2: its region's descriptor refuses it
    assert found[1].region and found[1].confirmed and found[1].view == "v1"
    assert found[1].distance == match.REGION_PENALTY
    assert 2 not in found
    # 3: content 4 bits (confirmed) beats its region's 0 + penalty 12
    assert not found[3].region and found[3].distance == 4 / 256 and found[3].confirmed
    # 5: its content descriptor refuses, its region's confirms: a match, at the content's distance
    assert found[5].confirmed is True and found[5].distance == 6 / 256 and not found[5].region
    # windows search within the radius less the penalty, at most the region stage's own
    assert set(regions.radii) == {min(20 / 256, match.REGION_RADIUS)} and set(content.radii) == {32 / 256}
    regions.radii.clear()
    match.find(store, content, query, "confirmed", 20 / 256, 10, region_search=regions)
    assert set(regions.radii) == {8 / 256}
    narrow = dict(match.find(store, content, query, "confirmed", 12 / 256, 10, region_search=regions))
    assert 1 in narrow and narrow[1].distance == 12 / 256
    too_narrow = match.find(store, content, query, "confirmed", 11 / 256, 10, region_search=regions)
    assert [s for s, _ in too_narrow] == [3]
    # no region index: the windows are not searched
    assert dict(match.find(store, content, query, "confirmed", 32 / 256, 10)).keys() == {3}


def test_the_unconfirmable_threshold_is_lower_when_windows_were_searched():
    j = Judgement(match.DISTANCE_THRESHOLD_WITH_WINDOWS + 2 / 256, "v0", None, None)
    assert accepted(j, "confirmed", 0.25) and not accepted(j, "confirmed", 0.25,
                                                           match.DISTANCE_THRESHOLD_WITH_WINDOWS)
    unconfirmed = {4: flipped(fingerprint_images(P, [picture(12)])[0], 34)}   # 34 bits, no descriptor
    query = QueryViews(("identity",), (fingerprint_images(P, [picture(12)])[0],), None,
                       views(bytes(32)))
    store, content = FakeStore({}), FakeSearch(unconfirmed)
    assert [s for s, _ in match.find(store, content, query, "confirmed", 0.25, 10)] == [4]
    assert match.find(store, content, query, "confirmed", 0.25, 10, region_search=FakeSearch({})) == []


def test_combine_takes_the_nearer_stage_the_content_on_a_tie_and_the_best_score():
    content = Judgement(0.05, "identity", 0.80, False)
    region = Judgement(0.05, "3/4@0,0", 0.98, True, region=True)
    tie = match.combine(content, region)
    assert (tie.view, tie.region, tie.distance) == ("identity", False, 0.05)
    assert tie.confirmation == 0.98 and tie.confirmed is True
    nearer = match.combine(content, Judgement(0.04, "3/4@0,0", None, None, region=True))
    assert (nearer.view, nearer.region) == ("3/4@0,0", True)
    assert (nearer.confirmation, nearer.confirmed) == (0.80, False)
    assert match.combine(None, Judgement(0.1, "w", None, None, region=True)).confirmed is None
    # the arrays the service works on agree with it, candidate by candidate
    both = match.combine_all(match.Judged.of([content, content]), match.Judged.of([region]))
    assert [j.view for j in both.judgements()] == ["identity", "identity"]
    assert list(both.confirmation) == [0.98, 0.80] and list(both.confirmed) == [True, False]
