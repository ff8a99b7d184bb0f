"""The match rule: what a query tries, and when a stored certificate answers it.

**Views.** A query is content seen several ways: as given and mirrored and, when it has a
uniform border (letterbox bars, a screenshot's frame; :mod:`rosvd.border`), the same two
with the border trimmed. Each view goes through the same preprocessing, engine and
scheme-1 fingerprint as stored content, and gives a confirmation descriptor
(:mod:`rosvd.fingerprint_confirm`) computed from the same engine input. **Windows**: 27
crops of the query (:mod:`rosvd.fingerprint_regions`) likewise, matched against the
certificates' region fingerprints (the central 60% of the original), so an off-centre crop
still meets its certificate; a window's distance counts with :data:`REGION_PENALTY`.
What a certificate stores and signs is computed at certify time; views and windows are
query-side host code.

**Rule ``confirmed``** (the service's default), two stages:

1. *candidates*: stored fingerprints within ``max_distance`` (by default the candidate
   radius, ``CANDIDATE_RADIUS_BITS``/256) of any view's fingerprint, and stored region
   fingerprints within ``max_distance`` less the penalty of any window's, found by the two
   indexes; the match distance is the least over them (a window's with its penalty);
2. *confirmation*: a candidate matches when some view (window) within the radius has a
   confirmation score with the certificate's stored descriptor (its region's) of at least
   ``CONFIRM_THRESHOLD``.

A candidate that cannot be confirmed (its certificate was issued before descriptors were
kept, or the query sent none) falls back to the distance rule at :data:`DISTANCE_THRESHOLD`
(:data:`DISTANCE_THRESHOLD_WITH_WINDOWS` when windows were searched; ``confirmed`` is then
None). **Rule ``distance``**: a match is a stored fingerprint within ``max_distance`` of a
view (or window), nothing else. docs/fingerprint.md gives the thresholds and the false
matches per query each rule has at 10,000,000 stored certificates.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import fingerprint_regions as regions
from .border import trim_content_border
from .fingerprint import FINGERPRINT_BYTES, QUERY_VARIANTS, robust_fingerprints, transformed
from .fingerprint_confirm import (
    CANDIDATE_RADIUS_BITS,
    CONFIRM_THRESHOLD,
    DESCRIPTOR_VERSION,
    confirmation_scores,
    descriptors,
)
from .hw.svd.params import SVDParams

#: The rules a query may ask for.
RULES = ("confirmed", "distance")
#: Stage 1's default radius (normalised), from the confirmation's design.
CANDIDATE_DISTANCE = CANDIDATE_RADIUS_BITS / (8 * FINGERPRINT_BYTES)
#: The benchmark's threshold for the query with views (method ``rosvd_trim_query``) at a
#: per-pair false-positive rate of 1e-4 (docs/fingerprint.md, section 4): strictly below
#: 38 bits matches. The distance rule's default, inclusive like the index's radius:
DISTANCE_THRESHOLD_BITS = 38
DISTANCE_THRESHOLD = (DISTANCE_THRESHOLD_BITS - 1) / (8 * FINGERPRINT_BYTES)
#: The same for a query that also tries its region windows (method ``rosvd_regions``: the
#: least over more comparisons, so a lower threshold for the same rate): below 32 bits.
DISTANCE_THRESHOLD_WITH_WINDOWS_BITS = 32
DISTANCE_THRESHOLD_WITH_WINDOWS = (DISTANCE_THRESHOLD_WITH_WINDOWS_BITS - 1) / (8 * FINGERPRINT_BYTES)
#: Added to a region window's distance before it is compared with a content view's (one
#: threshold for both): rosvd.fingerprint_regions.REGION_PENALTY_BITS.
REGION_PENALTY = regions.REGION_PENALTY_BITS / (8 * FINGERPRINT_BYTES)
#: The region stage's own radius (a window within it of a stored region is a candidate) and
#: confirmation threshold: tighter than the content's, because unrelated central regions
#: (smoother, and met by 27 windows) look alike more often: at 20 bits and 0.95, 2 of the
#: 193,131 unrelated tuning pairs matched; at 16 bits and 0.97 none, with held-out
#: offcrop80 1.000, caption14 1.000, rotate5 0.927 (``rosvd.bench.confirm``'s region sweep;
#: docs/fingerprint.md).
REGION_RADIUS_BITS = 16
REGION_RADIUS = REGION_RADIUS_BITS / (8 * FINGERPRINT_BYTES)
REGION_CONFIRM_THRESHOLD = 0.97
#: The largest number of candidates one view confirms (the nearest ones); enough for the
#: candidate radius at 10 M (docs/fingerprint.md gives the expected count).
MAX_CANDIDATES = 1024
#: Views and region windows a query may send (the service's bound on a request).
MAX_VIEWS = 8
MAX_WINDOWS = 32
TRIMMED = "trimmed"


@dataclass(frozen=True)
class QueryViews:
    """A query's views: names (``identity``, ``mirror``, ``trimmed``, ``trimmed+mirror``),
    their fingerprints (the first is the content's own, what a certificate of it stores)
    and their descriptors (None when the query has none); ``windows``, the query's region
    windows (:mod:`rosvd.fingerprint_regions`, names like ``3/4@0,1/16``), matched against
    the certificates' region fingerprints, or None."""
    names: tuple[str, ...]
    fingerprints: tuple[bytes, ...]
    descriptors: tuple[bytes, ...] | None
    windows: QueryViews | None = None

    def __post_init__(self):
        if not self.fingerprints or len(self.names) != len(self.fingerprints):
            raise ValueError("a query needs one name per fingerprint, and at least one")
        if self.descriptors is not None and len(self.descriptors) != len(self.fingerprints):
            raise ValueError(f"{len(self.descriptors)} descriptors for {len(self.fingerprints)} views")


def view_matrices(params: SVDParams, pixels, fast: bool = True) -> tuple[tuple[str, ...], np.ndarray]:
    """The views' names and engine inputs ``(V, n, n)`` for content ``pixels``."""
    prepare = _preprocessor(fast)
    base = np.asarray(pixels)
    sources = [("", base)]
    trimmed = trim_content_border(base)
    if trimmed is not base:
        sources.append((TRIMMED, trimmed))
    names, matrices = [], []
    for prefix, image in sources:
        matrix = prepare(params, image)
        for variant in QUERY_VARIANTS:
            names.append(_view_name(prefix, variant))
            matrices.append(transformed(variant, matrix))
    return tuple(names), np.stack(matrices)


def _view_name(prefix: str, variant: str) -> str:
    """``mirror``, ``trimmed``, ``trimmed+mirror``: the variant, under the source's prefix."""
    if not prefix:
        return variant
    return prefix if variant == "identity" else f"{prefix}+{variant}"


def window_matrices(params: SVDParams, pixels, fast: bool = True) -> tuple[tuple[str, ...], np.ndarray]:
    """The region windows' names and engine inputs for content ``pixels``."""
    prepare = _preprocessor(fast)
    names = tuple(w.name for w in regions.query_windows())
    return names, np.stack([prepare(params, image) for image in regions.region_query_images(pixels)])


def _preprocessor(fast: bool):
    if fast:
        from .preprocess_fast import preprocess_fast
        return preprocess_fast
    from .preprocess import preprocess
    return preprocess


def query_views(params: SVDParams, pixels, fast: bool = True, windows: bool = True) -> QueryViews:
    """Every view of ``pixels`` with its fingerprint and descriptor, and (``windows``) its
    region windows likewise; one engine batch for all. ``fast`` uses the compiled bit-exact
    paths (the same bytes as the reference, pinned by their tests)."""
    if fast:
        from .fast_model import decompose
    else:
        from .hw.svd.model import decompose
    names, matrices = view_matrices(params, pixels, fast)
    window_names, window_inputs = window_matrices(params, pixels, fast) if windows else ((), None)
    stacked = matrices if window_inputs is None else np.concatenate([matrices, window_inputs])
    decomposition = decompose(params, stacked)
    prints = robust_fingerprints(params, stacked, decomposition)
    described = descriptors(params, stacked, decomposition)
    count = len(names)
    found = None if window_inputs is None else QueryViews(window_names, tuple(prints[count:]),
                                                          tuple(described[count:]))
    return QueryViews(names, tuple(prints[:count]), tuple(described[:count]), found)


@dataclass(frozen=True)
class Judgement:
    distance: float                 #: least normalised Hamming distance over the views
    view: str                       #: the view at that distance (the first such)
    confirmation: float | None      #: best score over the views within the radius; None if unconfirmable
    confirmed: bool | None          #: None when no view within the radius could be confirmed
    region: bool = False            #: found through a region window (distance with its penalty)


def descriptor_problem(descriptor: bytes) -> str | None:
    """Why ``descriptor`` is not one this version scores, or None."""
    try:
        confirmation_scores([], descriptor)
    except ValueError as error:
        return str(error)
    return None


def _current(descriptor: bytes | None) -> bytes | None:
    """A stored descriptor of another version (kept before the descriptor changed) cannot
    be scored against today's: the candidate is then unconfirmable, not an error."""
    return descriptor if descriptor and descriptor[0] == DESCRIPTOR_VERSION else None


def distances(views: QueryViews, fingerprints: list[bytes]) -> np.ndarray:
    """(C, V) normalised Hamming distances of stored fingerprints to every view's."""
    if not fingerprints:
        return np.zeros((0, len(views.fingerprints)))
    stored = np.frombuffer(b"".join(fingerprints), np.uint8).reshape(len(fingerprints), -1)
    query = np.frombuffer(b"".join(views.fingerprints), np.uint8).reshape(len(views.fingerprints), -1)
    differing = np.unpackbits(stored[:, None, :] ^ query[None, :, :], axis=2).sum(axis=2)
    return differing / (8 * FINGERPRINT_BYTES)


def judge(views: QueryViews, distance: np.ndarray, stored_descriptors: list[bytes | None],
          radius: float, threshold: float = CONFIRM_THRESHOLD) -> list[Judgement]:
    """Stage 2 for candidates: their (C, V) distances to the views (``inf`` where a view's
    search did not reach them) and their stored descriptors (None where there is none);
    confirmed at a score of ``threshold`` or more."""
    distance = np.asarray(distance, dtype=np.float64).reshape(len(stored_descriptors), len(views.names))
    scores = np.full(distance.shape, np.nan)
    have = np.array([value is not None for value in stored_descriptors])
    if views.descriptors is not None and have.any():
        for view, query in enumerate(views.descriptors):
            # only the candidates this view reached within the radius count (scoring costs
            # ~50 us a candidate, and most windows reach none)
            rows = np.flatnonzero(have & (distance[:, view] <= radius))
            if len(rows):
                scores[rows, view] = confirmation_scores([stored_descriptors[i] for i in rows], query)
    out = []
    for row, score_row in zip(distance, scores, strict=True):
        best = int(np.argmin(row))
        usable = (row <= radius) & ~np.isnan(score_row)
        confirmation = float(score_row[usable].max()) if usable.any() else None
        out.append(Judgement(float(row[best]), views.names[best], confirmation,
                             None if confirmation is None else confirmation >= threshold))
    return out


def _candidates(search, views: QueryViews, radius: float, exclude) -> dict[int, np.ndarray]:
    """Sequence -> (V,) distances to the views (inf where a view's search did not reach it)."""
    found: dict[int, np.ndarray] = {}
    for view, fingerprint in enumerate(views.fingerprints):
        for sequence, distance in search.search(fingerprint, radius, MAX_CANDIDATES + len(exclude)):
            if sequence not in exclude:
                found.setdefault(sequence, np.full(len(views.names), np.inf))[view] = distance
    return found


def _judged(store, views: QueryViews, found: dict[int, np.ndarray], radius: float, rule: str,
            of_regions: bool) -> dict[int, Judgement]:
    sequences = list(found)
    if not sequences:
        return {}
    kept = store.match_descriptors(sequences, regions=of_regions) if rule == "confirmed" else {}
    judged = judge(views, np.array([found[s] for s in sequences]), [_current(kept.get(s)) for s in sequences],
                   radius, REGION_CONFIRM_THRESHOLD if of_regions else CONFIRM_THRESHOLD)
    if of_regions:
        judged = [replace(j, distance=j.distance + REGION_PENALTY, region=True) for j in judged]
    return dict(zip(sequences, judged, strict=True))


def combine(content: Judgement | None, region: Judgement | None) -> Judgement:
    """One certificate's judgement from its content match and its region match (either may
    be missing): the least distance (a region's with its penalty) and the view it came
    through; confirmed when either is, unconfirmable when neither could be confirmed."""
    present = [j for j in (content, region) if j is not None]
    best = min(present, key=lambda j: j.distance)
    scores = [j.confirmation for j in present if j.confirmation is not None]
    states = [j.confirmed for j in present if j.confirmed is not None]
    return replace(best, confirmation=max(scores) if scores else None,
                   confirmed=any(states) if states else None)


def window_radius(max_distance: float) -> float:
    """The region stage's radius for a query at ``max_distance``: what is left of it after
    the penalty, at most :data:`REGION_RADIUS`."""
    return min(max_distance - REGION_PENALTY, REGION_RADIUS)


def find(store, search, views: QueryViews, rule: str, max_distance: float, limit: int,
         exclude=frozenset(), region_search=None) -> list[tuple[int, Judgement]]:
    """Up to ``limit`` matches (sequence, judgement) of ``views`` under ``rule``, nearest
    first (ties by sequence): every view's candidates within ``max_distance`` from
    ``search`` (a :class:`~rosvd.search.FingerprintSearch`), and, when the query has
    windows and ``region_search`` (an index of the region fingerprints) is given, every
    window's within ``max_distance`` less the region penalty; at most MAX_CANDIDATES a
    view, judged with the descriptors ``store`` keeps. ``exclude``: sequences already reported."""
    if rule not in RULES:
        raise ValueError(f"unknown match rule {rule!r}; known: {', '.join(RULES)}")
    found = _candidates(search, views, max_distance, exclude)
    content = _judged(store, views, found, max_distance, rule, False)
    region: dict[int, Judgement] = {}
    radius = window_radius(max_distance)
    with_windows = views.windows is not None and region_search is not None
    if with_windows and radius >= 0:
        found = _candidates(region_search, views.windows, radius, exclude)
        region = _judged(store, views.windows, found, radius, rule, True)
    fallback = DISTANCE_THRESHOLD_WITH_WINDOWS if with_windows else DISTANCE_THRESHOLD
    matches = []
    for sequence in content.keys() | region.keys():
        judgement = combine(content.get(sequence), region.get(sequence))
        if accepted(judgement, rule, max_distance, fallback):
            matches.append((sequence, judgement))
    matches.sort(key=lambda item: (item[1].distance, item[0]))
    return matches[:limit]


def accepted(judgement: Judgement, rule: str, max_distance: float, fallback: float | None = None) -> bool:
    """Whether a candidate (already within ``max_distance``) is a match under ``rule``;
    ``fallback`` is the distance threshold for one that could not be confirmed (default
    :data:`DISTANCE_THRESHOLD`)."""
    if judgement.distance > max_distance:
        return False
    if rule == "distance":
        return True
    if rule != "confirmed":
        raise ValueError(f"unknown match rule {rule!r}; known: {', '.join(RULES)}")
    if judgement.confirmed is None:
        return judgement.distance <= (DISTANCE_THRESHOLD if fallback is None else fallback)
    return judgement.confirmed
