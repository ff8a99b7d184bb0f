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

from dataclasses import dataclass, fields, replace

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


@dataclass(frozen=True)
class Judgement:
    distance: float                 #: least normalised Hamming distance over the views
    view: str                       #: the view at that distance (the first such)
    confirmation: float | None      #: best score over the views within the radius; None if unconfirmable
    confirmed: bool | None          #: None when no view within the radius could be confirmed
    region: bool = False            #: found through a region window (distance with its penalty)


@dataclass(frozen=True)
class Judged:
    """Stage 2 of C candidates, as arrays (what :func:`find` works on, a candidate at a time
    would cost more than the search; a :class:`Judgement` is one row)."""
    sequences: np.ndarray       #: (C,) int64
    distance: np.ndarray        #: (C,) float64, as Judgement.distance
    view: np.ndarray            #: (C,) str
    confirmation: np.ndarray    #: (C,) float64, NaN where unconfirmable
    confirmed: np.ndarray       #: (C,) bool, False where unconfirmable
    region: np.ndarray          #: (C,) bool

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def confirmable(self) -> np.ndarray:
        return ~np.isnan(self.confirmation)

    @classmethod
    def of(cls, judgements: list[Judgement]) -> Judged:
        """Judgements of candidates 0, 1, ..."""
        return cls(np.arange(len(judgements), dtype=np.int64),
                   np.array([j.distance for j in judgements], np.float64),
                   np.array([j.view for j in judgements], str),
                   np.array([np.nan if j.confirmation is None else j.confirmation for j in judgements],
                            np.float64),
                   np.array([bool(j.confirmed) for j in judgements], bool),
                   np.array([j.region for j in judgements], bool))

    def judgement(self, row: int) -> Judgement:
        confirmable = not np.isnan(self.confirmation[row])
        return Judgement(float(self.distance[row]), str(self.view[row]),
                         float(self.confirmation[row]) if confirmable else None,
                         bool(self.confirmed[row]) if confirmable else None, bool(self.region[row]))

    def judgements(self) -> list[Judgement]:
        return [self.judgement(row) for row in range(len(self))]

    def taken(self, rows) -> Judged:
        return Judged(*(getattr(self, name)[rows] for name in _FIELDS))

    def through_regions(self) -> Judged:
        """The same candidates found through region windows: the penalty added."""
        return replace(self, distance=self.distance + REGION_PENALTY, region=np.ones(len(self), bool))


_FIELDS = tuple(field.name for field in fields(Judged))


def judge_all(views: QueryViews, distance: np.ndarray, stored_descriptors: list[bytes | None],
              radius: float, threshold: float = CONFIRM_THRESHOLD, sequences=None) -> Judged:
    """Stage 2 for candidates (``sequences``, default 0..C-1): their (C, V) distances to the
    views (``inf`` where a view's search did not reach them) and their stored descriptors
    (None where there is none); confirmed at a score of ``threshold`` or more."""
    count = len(stored_descriptors)
    distance = np.asarray(distance, dtype=np.float64).reshape(count, len(views.names))
    scores = np.full(distance.shape, np.nan)
    have = np.array([value is not None for value in stored_descriptors], bool)
    if views.descriptors is not None and have.any():
        for view, query in enumerate(views.descriptors):
            # only the candidates this view reached within the radius count (scoring costs
            # ~5 us a candidate, and most windows reach none)
            rows = np.flatnonzero(have & (distance[:, view] <= radius))
            if len(rows):
                scores[rows, view] = confirmation_scores([stored_descriptors[i] for i in rows], query)
    best = np.argmin(distance, axis=1) if count else np.zeros(0, np.int64)
    usable = np.where(distance <= radius, scores, np.nan)
    confirmable = ~np.isnan(usable).all(axis=1)
    confirmation = np.full(count, np.nan)
    confirmation[confirmable] = np.nanmax(usable[confirmable], axis=1)
    confirmed = confirmable.copy()
    confirmed[confirmable] = confirmation[confirmable] >= threshold
    return Judged(np.arange(count) if sequences is None else np.asarray(sequences, np.int64),
                  distance[np.arange(count), best], np.array(views.names, str)[best], confirmation,
                  confirmed, np.zeros(count, bool))


def judge(views: QueryViews, distance: np.ndarray, stored_descriptors: list[bytes | None],
          radius: float, threshold: float = CONFIRM_THRESHOLD) -> list[Judgement]:
    """:func:`judge_all`, one :class:`Judgement` per candidate."""
    return judge_all(views, distance, stored_descriptors, radius, threshold).judgements()


def _candidates(search, views: QueryViews, radius: float, exclude) -> tuple[np.ndarray, np.ndarray]:
    """(U,) sequences found by any view, ascending, and their (U, V) distances to the views
    (inf where a view's search did not reach it)."""
    found = [search.search(fingerprint, radius, MAX_CANDIDATES + len(exclude))
             for fingerprint in views.fingerprints]
    sequences = np.array([sequence for hits in found for sequence, _ in hits], np.int64)
    distance = np.array([value for hits in found for _, value in hits], np.float64)
    view = np.repeat(np.arange(len(found)), [len(hits) for hits in found])
    if exclude:
        keep = ~np.isin(sequences, np.fromiter(exclude, np.int64, len(exclude)))
        sequences, distance, view = sequences[keep], distance[keep], view[keep]
    unique, row = np.unique(sequences, return_inverse=True)
    table = np.full((len(unique), len(views.names)), np.inf)
    table[row, view] = distance
    return unique, table


def _judged(store, views: QueryViews, sequences: np.ndarray, distance: np.ndarray, radius: float,
            rule: str, of_regions: bool) -> Judged:
    listed = sequences.tolist()
    kept = store.match_descriptors(listed, regions=of_regions) if rule == "confirmed" and listed else {}
    judged = judge_all(views, distance, [_current(kept.get(s)) for s in listed], radius,
                       REGION_CONFIRM_THRESHOLD if of_regions else CONFIRM_THRESHOLD, sequences)
    return judged.through_regions() if of_regions else judged


def combine_all(content: Judged, region: Judged) -> Judged:
    """Each certificate's judgement from its content match and its region match (either may
    be missing), ascending by sequence: the least distance (a region's with its penalty; the
    content's on a tie) and the view it came through; confirmed when either is,
    unconfirmable when neither could be confirmed."""
    both = Judged(*(np.concatenate([getattr(content, name), getattr(region, name)]) for name in _FIELDS))
    if not len(both):
        return both
    from_region = np.arange(len(both)) >= len(content)
    both = both.taken(np.lexsort((from_region, both.distance, both.sequences)))
    first = np.flatnonzero(np.concatenate([[True], both.sequences[1:] != both.sequences[:-1]]))
    return replace(both.taken(first), confirmation=np.fmax.reduceat(both.confirmation, first),
                   confirmed=np.logical_or.reduceat(both.confirmed, first))


def combine(content: Judgement | None, region: Judgement | None) -> Judgement:
    """:func:`combine_all` of one certificate's judgements (either may be missing)."""
    judged = combine_all(*(Judged.of([] if j is None else [j]) for j in (content, region)))
    return judged.judgement(0)


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
    content = _judged(store, views, *_candidates(search, views, max_distance, exclude), max_distance, rule,
                      False)
    radius = window_radius(max_distance)
    with_windows = views.windows is not None and region_search is not None
    region = Judged.of([])
    if with_windows and radius >= 0:
        region = _judged(store, views.windows, *_candidates(region_search, views.windows, radius, exclude),
                         radius, rule, True)
    judged = combine_all(content, region)
    fallback = DISTANCE_THRESHOLD_WITH_WINDOWS if with_windows else DISTANCE_THRESHOLD
    judged = judged.taken(np.flatnonzero(accepted_all(judged, rule, max_distance, fallback)))
    nearest = np.lexsort((judged.sequences, judged.distance))[:limit]
    return [(int(judged.sequences[row]), judged.judgement(row)) for row in nearest]


def accepted_all(judged: Judged, rule: str, max_distance: float, fallback: float | None = None) -> np.ndarray:
    """(C,) whether each candidate is a match under ``rule``: within ``max_distance`` and,
    under ``confirmed``, confirmed, or (unconfirmable) within ``fallback`` (default
    :data:`DISTANCE_THRESHOLD`)."""
    if rule not in RULES:
        raise ValueError(f"unknown match rule {rule!r}; known: {', '.join(RULES)}")
    within = judged.distance <= max_distance
    if rule == "distance":
        return within
    threshold = DISTANCE_THRESHOLD if fallback is None else fallback
    return within & np.where(judged.confirmable, judged.confirmed, judged.distance <= threshold)


def accepted(judgement: Judgement, rule: str, max_distance: float, fallback: float | None = None) -> bool:
    """:func:`accepted_all` of one candidate (already within ``max_distance``)."""
    return bool(accepted_all(Judged.of([judgement]), rule, max_distance, fallback)[0])
