"""The match rule: what a query tries, and when a stored certificate answers it.

**Views.** A query is content seen several ways: as given and mirrored and, when it has a
uniform border (letterbox bars, a screenshot's frame; :mod:`rosvd.border`), the same two
with the border trimmed. Each view goes through the same preprocessing, engine and
scheme-1 fingerprint as stored content, and gives a confirmation descriptor
(:mod:`rosvd.fingerprint_confirm`) computed from the same engine input. What a certificate
stores and signs never changes: views are query-side host code.

**Rule ``confirmed``** (the service's default), two stages:

1. *candidates*: stored fingerprints within ``max_distance`` (by default the candidate
   radius, ``CANDIDATE_RADIUS_BITS``/256) of any view's fingerprint, found by the index;
   the match distance is the least over the views;
2. *confirmation*: a candidate matches when some view within the radius has a
   confirmation score with the stored descriptor of at least ``CONFIRM_THRESHOLD``.

A candidate that cannot be confirmed (its certificate was issued before descriptors were
kept, or the query sent none) falls back to the distance rule at :data:`DISTANCE_THRESHOLD`
(``confirmed`` is then None). **Rule ``distance``**: a match is a stored fingerprint within
``max_distance`` of a view, nothing else. docs/fingerprint.md gives the thresholds and the
false matches per query each rule has at 10,000,000 stored certificates.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
#: The largest number of candidates one view confirms (the nearest ones); enough for the
#: candidate radius at 10 M (docs/fingerprint.md gives the expected count).
MAX_CANDIDATES = 1024
#: Views a query may send (the service's bound on a request).
MAX_VIEWS = 8
TRIMMED = "trimmed"


@dataclass(frozen=True)
class QueryViews:
    """A query's views: names (``identity``, ``mirror``, ``trimmed``, ``trimmed+mirror``),
    their fingerprints (the first is the content's own, what a certificate of it stores)
    and their descriptors (None when the query has none)."""
    names: tuple[str, ...]
    fingerprints: tuple[bytes, ...]
    descriptors: tuple[bytes, ...] | None

    def __post_init__(self):
        if not self.fingerprints or len(self.names) != len(self.fingerprints):
            raise ValueError("a query needs one name per fingerprint, and at least one")
        if self.descriptors is not None and len(self.descriptors) != len(self.fingerprints):
            raise ValueError(f"{len(self.descriptors)} descriptors for {len(self.fingerprints)} views")


def view_matrices(params: SVDParams, pixels, fast: bool = True) -> tuple[tuple[str, ...], np.ndarray]:
    """The views' names and engine inputs ``(V, n, n)`` for content ``pixels``."""
    if fast:
        from .preprocess_fast import preprocess_fast as prepare
    else:
        from .preprocess import preprocess as prepare
    base = np.asarray(pixels)
    sources = [("", base)]
    trimmed = trim_content_border(base)
    if trimmed is not base:
        sources.append((TRIMMED, trimmed))
    names, matrices = [], []
    for prefix, image in sources:
        matrix = prepare(params, image)
        for variant in QUERY_VARIANTS:
            names.append(prefix if variant == "identity" else f"{prefix}+{variant}") if prefix else \
                names.append(variant)
            matrices.append(transformed(variant, matrix))
    return tuple(names), np.stack(matrices)


def query_views(params: SVDParams, pixels, fast: bool = True) -> QueryViews:
    """Every view of ``pixels`` with its fingerprint and descriptor. ``fast`` uses the
    compiled bit-exact paths (the same bytes as the reference, pinned by their tests)."""
    if fast:
        from .fast_model import decompose
    else:
        from .hw.svd.model import decompose
    names, matrices = view_matrices(params, pixels, fast)
    decomposition = decompose(params, matrices)
    return QueryViews(names, tuple(robust_fingerprints(params, matrices, decomposition)),
                      tuple(descriptors(params, matrices, decomposition)))


@dataclass(frozen=True)
class Judgement:
    distance: float                 #: least normalised Hamming distance over the views
    view: str                       #: the view at that distance (the first such)
    confirmation: float | None      #: best score over the views within the radius; None if unconfirmable
    confirmed: bool | None          #: None when no view within the radius could be confirmed


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
          radius: float) -> list[Judgement]:
    """Stage 2 for candidates: their (C, V) distances to the views (``inf`` where a view's
    search did not reach them) and their stored descriptors (None where there is none)."""
    distance = np.asarray(distance, dtype=np.float64).reshape(len(stored_descriptors), len(views.names))
    scores = np.full(distance.shape, np.nan)
    have = [index for index, value in enumerate(stored_descriptors) if value is not None]
    if views.descriptors is not None and have:
        for view, query in enumerate(views.descriptors):
            scores[have, view] = confirmation_scores([stored_descriptors[i] for i in have], query)
    out = []
    for row, score_row in zip(distance, scores, strict=True):
        best = int(np.argmin(row))
        usable = (row <= radius) & ~np.isnan(score_row)
        confirmation = float(score_row[usable].max()) if usable.any() else None
        out.append(Judgement(float(row[best]), views.names[best], confirmation,
                             None if confirmation is None else confirmation >= CONFIRM_THRESHOLD))
    return out


def find(store, search, views: QueryViews, rule: str, max_distance: float, limit: int,
         exclude=frozenset()) -> list[tuple[int, Judgement]]:
    """Up to ``limit`` matches (sequence, judgement) of ``views`` under ``rule``, nearest
    first (ties by sequence): every view's candidates within ``max_distance`` from
    ``search`` (a :class:`~rosvd.search.FingerprintSearch`), at most MAX_CANDIDATES a view,
    judged with the descriptors ``store`` keeps. ``exclude``: sequences already reported."""
    if rule not in RULES:
        raise ValueError(f"unknown match rule {rule!r}; known: {', '.join(RULES)}")
    candidates: dict[int, np.ndarray] = {}
    for view, fingerprint in enumerate(views.fingerprints):
        for sequence, distance in search.search(fingerprint, max_distance, MAX_CANDIDATES + len(exclude)):
            if sequence not in exclude:
                candidates.setdefault(sequence, np.full(len(views.names), np.inf))[view] = distance
    if not candidates:
        return []
    sequences = list(candidates)
    kept = store.match_descriptors(sequences) if rule == "confirmed" else {}
    judged = judge(views, np.array([candidates[s] for s in sequences]),
                   [_current(kept.get(s)) for s in sequences], max_distance)
    matches = [(sequence, judgement) for sequence, judgement in zip(sequences, judged, strict=True)
               if accepted(judgement, rule, max_distance)]
    matches.sort(key=lambda item: (item[1].distance, item[0]))
    return matches[:limit]


def accepted(judgement: Judgement, rule: str, max_distance: float) -> bool:
    """Whether a candidate (already within ``max_distance``) is a match under ``rule``."""
    if judgement.distance > max_distance:
        return False
    if rule == "distance":
        return True
    if rule != "confirmed":
        raise ValueError(f"unknown match rule {rule!r}; known: {', '.join(RULES)}")
    if judgement.confirmed is None:
        return judgement.distance <= DISTANCE_THRESHOLD
    return judgement.confirmed
