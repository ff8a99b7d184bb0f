"""Two-stage match benchmark: scheme-1 candidates within a Hamming radius, then confirmation by
:mod:`rosvd.fingerprint_confirm`'s descriptor (``python -m rosvd.bench.confirm [--per-family N]
[--json]``; prints one JSON object on stdout).

Images, attacks and the seeded generator are :mod:`rosvd.bench.fingerprint`'s (the same
originals and attacked copies). A query tries the variants of the bench method
``rosvd_trim_query``: the content and its mirror, each as given and after
``trim_uniform_border``. A stored original ``i`` *matches* a query when, for some variant
``v``, the scheme-1 distance ``d_v <= R`` (:data:`~rosvd.fingerprint_confirm.CANDIDATE_RADIUS_BITS`)
and the confirmation score ``S_v >= t`` (:data:`~rosvd.fingerprint_confirm.CONFIRM_THRESHOLD`)
on that same variant.

* **TPR** per attack: the share of (original, attacked copy) pairs that match, on the tuning
  set (photos and tuning families) and the held-out families; ``candidate_tpr`` is stage 1
  alone.
* **False matches per query at 10 M**: ``N * P(match)`` over unrelated pairs (original ``i``
  stored, original ``j > i`` as the query, as in the fingerprint bench), estimated three ways
  on the tuning pairs (the held-out pairs' empirical rate beside them):

  - ``empirical``: matching pairs over all pairs, with a one-sided 95% Clopper-Pearson bound;
  - ``score_bound`` (no assumption on how ``d`` and ``S`` depend on each other):
    ``P(d <= R and S >= t) <= P(S* >= t)``, ``S*`` the best score over the query's variants,
    from a generalized Pareto (GPD) upper tail fitted to ``S*`` over **all** unrelated pairs;
  - ``conditional`` (the estimate): ``P(min_v d_v <= R) * P(S >= t | candidate at R')``: the
    first factor is the fingerprint bench's GPD lower tail of the least distance over the
    variants, the second a GPD upper tail of the best score over the variants within ``R'``
    (:data:`WIDE_RADIUS_BITS`) among the pairs with a variant that close. It assumes the
    score's tail among candidates at ``R`` is no heavier than among candidates at ``R'``;
    ``conditional_trend`` gives the empirical ``P(S >= s | candidate at r')`` for several
    ``r'`` so that the assumption can be judged (it is not exact: look-alikes closer in the
    code are also closer in the descriptor).

The score tails reuse :func:`rosvd.bench.false_matches.fit_lower_tail` and
:func:`~rosvd.bench.false_matches.bootstrap_upper` on ``k = rint((1 - S) * SCORE_STEPS)``
(an integer "distance" whose lower tail is the score's upper tail), so the model, its
``xi >= 0`` constraint (no finite end point inside the data) and its bootstrap are the ones
documented there.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from rosvd import fingerprint_confirm as fc
from rosvd.bench import false_matches
from rosvd.bench.fingerprint import (
    ATTACKS,
    BENCH_SEED,
    HELD_OUT_FAMILIES,
    SKIMAGE_PHOTOS,
    attack,
    build_images,
    trim_uniform_border,
)
from rosvd.fast_model import decompose
from rosvd.fingerprint import robust_fingerprints
from rosvd.fingerprint_regions import REGION_PENALTY_BITS, region_images, region_query_images
from rosvd.hw.svd.params import SVDParams
from rosvd.match import REGION_CONFIRM_THRESHOLD, REGION_RADIUS_BITS
from rosvd.preprocess_fast import preprocess_fast

#: Query variants, in order (the bench method ``rosvd_trim_query``).
VARIANTS = ("identity", "mirror", "trim:identity", "trim:mirror")
#: Attacks whose TPR target does not apply here (crops are left to region fingerprints).
EXCLUDED_ATTACKS = ("offcrop80",)
#: Wider candidate radius whose pairs estimate the conditional score tail.
WIDE_RADIUS_BITS = 64
#: Radii of the conditional trend.
TREND_RADII = (40, 48, 56, 64, 72)
#: Score resolution of the tail fits: ``k = rint((1 - S) * SCORE_STEPS)``.
SCORE_STEPS = 500
#: Tail share the conditional fit uses (its sample is about 5% of all pairs).
CONDITIONAL_TAIL_FRACTION = 0.05
STORED = false_matches.STORED
#: Thresholds the sweep reports (TPRs and the conditional estimate, from the same scores).
SWEEP_THRESHOLDS = (0.9, 0.93, 0.95, 0.97, 0.98)
TPR_GOAL = 0.9
#: The region stage's window scores on unrelated pairs are computed for at most this many
#: (pair, window) entries within its wide radius (a uniform sample of pairs beyond it).
MAX_WINDOW_SCORES = 400_000
#: The region stage's (window radius in bits, score threshold) pairs the sweep reports, from
#: the same distances and scores (radii up to the default's, thresholds from the default's).
REGION_SWEEP = tuple((r, t) for r in (8, 12, 16, 20) for t in (0.95, 0.97, 0.98, 0.99))


def _variant_matrices(params: SVDParams, images) -> np.ndarray:
    """(4, N, n, n): the engine inputs of every image under each of :data:`VARIANTS`."""
    plain = np.stack([preprocess_fast(params, image) for image in images])
    trimmed = []
    for image, matrix in zip(images, plain, strict=True):
        cut = trim_uniform_border(image)
        trimmed.append(matrix if cut is image else preprocess_fast(params, cut))
    trimmed = np.stack(trimmed)
    return np.stack([plain, plain[:, :, ::-1], trimmed, trimmed[:, :, ::-1]])


def _encode(params: SVDParams, matrices: np.ndarray) -> tuple[np.ndarray, list[list[bytes]]]:
    """Scheme-1 bits (4, N, 256) and descriptors [variant][image] of variant matrices."""
    flat = np.ascontiguousarray(matrices.reshape(-1, params.n, params.n))
    decomposition = decompose(params, flat)
    prints = robust_fingerprints(params, flat, decomposition)
    bits = np.unpackbits(np.frombuffer(b"".join(prints), np.uint8).reshape(len(flat), -1), axis=1)
    blobs = fc.descriptors(params, flat, decomposition)
    count = matrices.shape[1]
    per_variant = [blobs[v * count:(v + 1) * count] for v in range(len(matrices))]
    return bits.reshape(len(matrices), count, -1), per_variant


def _region_encodings(params: SVDParams, images) -> tuple[np.ndarray, list[bytes]]:
    """The stored side's region of ``images``: bits (N, 256) and descriptors."""
    regions = np.stack([preprocess_fast(params, region_images(image)[0]) for image in images])
    region_bits, region_blobs = _encode(params, regions[None])
    return region_bits[0], region_blobs[0]


def _window_encodings(params: SVDParams, images) -> tuple[np.ndarray, list]:
    """The query side's windows of ``images``: bits (W, N, 256) and descriptors [window][image]."""
    windows = np.stack([np.stack([preprocess_fast(params, w) for w in region_query_images(image)])
                        for image in images]).swapaxes(0, 1)
    return _encode(params, windows)


def _bit_distances(stored: np.ndarray, query: np.ndarray) -> np.ndarray:
    """(N, M) integer Hamming distances."""
    agree = (stored.astype(np.float32) * 2 - 1) @ (query.astype(np.float32) * 2 - 1).T
    return np.rint((stored.shape[1] - agree) / 2).astype(np.int64)


#: ``log`` scale: ``k = rint(LOG_STEPS * (log(1 - S) - log(LOG_FLOOR)))``, 1 - S clipped at LOG_FLOOR.
LOG_STEPS = 50
LOG_FLOOR = 1e-4


def _score_to_k(scores, scale: str) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scale == "linear":
        return np.clip(np.rint((1.0 - scores) * SCORE_STEPS), 0, 2 * SCORE_STEPS).astype(np.int64)
    gap = np.clip(1.0 - scores, LOG_FLOOR, 2.0)
    return np.rint(LOG_STEPS * (np.log(gap) - np.log(LOG_FLOOR))).astype(np.int64)


def _score_histogram(scores, scale: str = "linear") -> np.ndarray:
    size = (2 * SCORE_STEPS + 1 if scale == "linear"
            else int(LOG_STEPS * (np.log(2.0) - np.log(LOG_FLOOR))) + 2)
    return np.bincount(_score_to_k(scores, scale), minlength=size)


def _score_radius(threshold: float, scale: str = "linear") -> int:
    """The largest ``k`` a score at or above ``threshold`` can have (rounding included)."""
    if scale == "linear":
        return int(np.floor((1.0 - threshold) * SCORE_STEPS + 0.5))
    return int(np.floor(LOG_STEPS * (np.log(max(1.0 - threshold, LOG_FLOOR)) - np.log(LOG_FLOOR)) + 0.5))


def score_tail(scores, threshold: float, tail_fraction: float = false_matches.TAIL_FRACTION,
               bootstrap: bool = True, scale: str = "linear") -> dict:
    """GPD estimate of ``P(S >= threshold)`` from a sample of scores, reusing the fingerprint
    bench's lower-tail fit on an integer "distance" ``k`` falling as ``S`` rises: ``linear``,
    ``k = rint((1 - S) * SCORE_STEPS)`` (the conservative one: ``S <= 1`` is bounded, and the
    fit's ``xi >= 0`` gives it an unbounded exponential tail); ``log``,
    ``k = rint(LOG_STEPS * log((1 - S) / LOG_FLOOR))`` (the excess modelled on the scale on
    which the range is unbounded, so ``xi >= 0`` there is a power law in ``1 - S``)."""
    counts = _score_histogram(scores, scale)
    radius = _score_radius(threshold, scale)
    fit = false_matches.fit_lower_tail(counts, tail_fraction)
    out = {"pairs": int(counts.sum()), "at_or_above": int(counts[:radius + 1].sum()),
           "empirical": float(counts[:radius + 1].sum() / max(1, counts.sum())),
           "empirical_upper95": false_matches.empirical_upper(int(counts[:radius + 1].sum()),
                                                              int(counts.sum())) if counts.sum() else 1.0,
           "fit": None, "model": None, "model_upper95": None}
    if fit is None:
        return out
    below = (1.0 - fit.threshold / SCORE_STEPS if scale == "linear"
             else 1.0 - LOG_FLOOR * float(np.exp(fit.threshold / LOG_STEPS)))
    out["fit"] = {"scale_of_k": scale, "shape": fit.shape, "scale_k": fit.scale,
                  "threshold_score": below, "tail_pairs": fit.tail_pairs}
    if radius > fit.threshold:          # the threshold is inside the data: the empirical rate
        return out
    out["model"] = float(fit.cdf(radius))
    if bootstrap:
        upper = false_matches.bootstrap_upper(counts, [radius], tail_fraction=tail_fraction)
        out["model_upper95"] = None if upper is None else float(upper[0])
    return out


#: Score level whose exceedance among candidates at r' the trend correction follows (one
#: with enough exceedances at every r' of :data:`TREND_RADII`).
TREND_LEVEL = 0.85
#: An r' enters the trend fit with at least this many exceedances.
TREND_MIN_EXCEEDANCES = 5


def _trend_corrected(dist, full, tuning, radius, false) -> dict:
    """The conditional estimates times the trend's factor from ``WIDE_RADIUS_BITS`` down to
    ``radius``: ``log P(S >= TREND_LEVEL | a variant within r')`` fitted linear in ``r'``
    (least squares over :data:`TREND_RADII` with enough exceedances) and carried on to
    ``radius``. An extrapolation of its own (the trend is followed at 0.85, not at the
    threshold, and assumed to go on below the smallest ``r'`` measured); reported to show
    how optimistic the plain conditional estimate may be."""
    points = []
    for width in TREND_RADII:
        best = np.where(dist <= width, full, -np.inf).max(axis=0)
        ok = tuning & np.isfinite(best)
        hits = int((best[ok] >= TREND_LEVEL).sum())
        if hits >= TREND_MIN_EXCEEDANCES:
            points.append((width, np.log(hits / ok.sum())))
    if len(points) < 2:
        return {"level": TREND_LEVEL, "points": len(points), "factor": None,
                "false_matches_per_query": None, "false_matches_per_query_log_scale": None}
    widths, logs = np.array(points).T
    slope = float(np.polyfit(widths, logs, 1)[0])
    factor = float(np.exp(slope * (radius - WIDE_RADIUS_BITS)))

    def corrected(value):
        return None if value is None else value * factor

    return {"level": TREND_LEVEL, "radii": [int(w) for w in widths], "slope_per_bit": slope,
            "factor": factor,
            "false_matches_per_query": corrected(false["conditional"]["false_matches_per_query"]),
            "false_matches_per_query_log_scale": corrected(
                false["conditional_log_scale"]["false_matches_per_query"]),
            "method": f"conditional estimates x exp(slope (R - {WIDE_RADIUS_BITS})), slope of log"
                      f" P(S >= {TREND_LEVEL:g} | a variant within r') against r' (least squares)"}


def _region_false_matches(region_bits, region_stored, window_bits, window_blobs, rows, cols, tun,
                          region_radius: int, radius: int, threshold: float) -> dict:
    """The region stage on unrelated pairs (stored ``i``'s region, query ``j``'s 27 windows),
    estimated like the views': ``P(some window within region_radius)`` (GPD lower tail of the
    least window distance) times ``P(S >= t | some window within region_radius + (WIDE - R))``
    (GPD upper tail of the best window score there, log scale), with the empirical count."""
    wide = region_radius + WIDE_RADIUS_BITS - radius
    dist = np.stack([_bit_distances(region_bits, window_bits[w])[rows, cols]
                     for w in range(len(window_bits))])
    least = dist.min(axis=0)
    histogram = false_matches.histogram(least[tun] / 256.0)
    fit = false_matches.fit_lower_tail(histogram)
    cum = np.cumsum(histogram)
    pairs = int(tun.sum())
    p_candidate = {"empirical": float(cum[region_radius] / max(1, pairs)), "pairs": int(cum[region_radius]),
                   "model": float(fit.cdf(region_radius)) if fit else None}
    entries = np.argwhere((dist <= wide) & tun[None, :])
    sampled = 1.0
    if len(entries) > MAX_WINDOW_SCORES:
        keep = np.random.default_rng(BENCH_SEED).random(pairs) < MAX_WINDOW_SCORES / len(entries)
        chosen = np.zeros(len(rows), bool)
        chosen[np.flatnonzero(tun)[keep]] = True
        entries = entries[chosen[entries[:, 1]]]
        sampled = float(keep.mean())
    scores = np.full(dist.shape, -np.inf)
    for w, k in entries:
        scores[w, k] = fc.confirmation_score(region_stored[rows[k]], window_blobs[w][cols[k]])
    best = np.where(dist <= wide, scores, -np.inf).max(axis=0)
    within = tun & np.isfinite(best)
    cond_log = score_tail(best[within], threshold, CONDITIONAL_TAIL_FRACTION, scale="log")
    matched = ((dist <= region_radius) & (scores >= threshold)).any(axis=0)
    p_cand = p_candidate["model"] if p_candidate["model"] is not None else None
    sweep = {(r, t): int((((dist <= r) & (scores >= t)).any(axis=0) & tun).sum()) for r, t in REGION_SWEEP}
    return {"region_radius_bits": region_radius, "wide_radius_bits": wide,
            "scored_entries": int(len(entries)), "pairs_sampled_for_scores": sampled,
            "p_candidate": p_candidate,
            "empirical_matches_in_sample": int(matched[tun].sum()), "_sweep_matches": sweep,
            "p_confirm_given_wide_candidate_log_scale": cond_log,
            "conditional_log_scale": {
                "false_matches_per_query": _scaled(None if p_cand is None or cond_log["model"] is None
                                                   else p_cand * cond_log["model"])}}


def _shares(hit: np.ndarray, held: np.ndarray) -> list:
    """[held-out share, tuning share] of ``hit``."""
    return [round(float(hit[part].mean()), 4) if part.any() else None for part in (held, ~held)]


def _scaled(rate):
    return None if rate is None else STORED * rate


def run(per_family: int = 150, photos: tuple[str, ...] = SKIMAGE_PHOTOS, params: SVDParams | None = None,
        threshold: float | None = None, radius: int | None = None) -> dict:
    start = time.perf_counter()
    params = params or SVDParams()
    threshold = fc.CONFIRM_THRESHOLD if threshold is None else threshold
    radius = fc.CANDIDATE_RADIUS_BITS if radius is None else radius
    data = build_images(per_family, photos)
    count = len(data.images)
    held = np.array([g in HELD_OUT_FAMILIES for g in data.group])
    rng = np.random.default_rng(BENCH_SEED)
    bits, blobs = _encode(params, _variant_matrices(params, data.images))
    stored_bits, stored = bits[0], blobs[0]
    region_radius = min(radius - REGION_PENALTY_BITS, REGION_RADIUS_BITS)
    region_bits, region_stored = _region_encodings(params, data.images)
    window_bits, window_blobs = _window_encodings(params, data.images)
    attacks, score_seconds, scored, kept, region_kept = {}, 0.0, 0, {}, {}
    for name in ATTACKS:       # the shared generator is drawn attack by attack, as in the bench
        copies = [attack(name, image, rng) for image in data.images]
        qbits, qblobs = _encode(params, _variant_matrices(params, copies))
        d = np.stack([(stored_bits != qbits[v]).sum(axis=1) for v in range(len(VARIANTS))])
        t0 = time.perf_counter()
        s = np.array([[fc.confirmation_score(stored[i], qblobs[v][i]) for i in range(count)]
                      for v in range(len(VARIANTS))])
        score_seconds += time.perf_counter() - t0
        scored += s.size
        candidate = (d <= radius).any(axis=0)
        match = ((d <= radius) & (s >= threshold)).any(axis=0)
        best = np.where(d <= radius, s, -1.0).max(axis=0)
        # the region stage: the copy's windows against the original's region
        copy_window_bits, copy_window_blobs = _window_encodings(params, copies)
        dw = np.stack([(region_bits != window).sum(axis=1) for window in copy_window_bits])
        sw = np.full(dw.shape, -1.0)
        for w, i in zip(*np.nonzero(dw <= region_radius), strict=True):
            sw[w, i] = fc.confirmation_score(region_stored[i], copy_window_blobs[w][i])
        region_match = ((dw <= region_radius) & (sw >= REGION_CONFIRM_THRESHOLD)).any(axis=0)
        region_kept[name] = (match, dw, sw)
        attacks[name] = {}
        for part, mask in (("tuning", ~held), ("held_out", held)):
            found = mask & candidate
            attacks[name][part] = {
                "tpr": round(float(match[mask].mean()), 4) if mask.any() else None,
                "tpr_with_regions": (round(float((match | region_match)[mask].mean()), 4)
                                     if mask.any() else None),
                "candidate_tpr": round(float(candidate[mask].mean()), 4) if mask.any() else None,
                "score_p10_of_candidates": (round(float(np.quantile(best[found], 0.1)), 4)
                                            if found.any() else None),
                "pairs": int(mask.sum())}
        attacks[name]["target_applies"] = name not in EXCLUDED_ATTACKS
        kept[name] = (d, s)

    # Unrelated content: stored i, query j > i (original), every variant of j.
    rows, cols = np.triu_indices(count, 1)
    tuning_pair = ~held[rows] & ~held[cols]
    dist = np.stack([_bit_distances(stored_bits, bits[v])[rows, cols] for v in range(len(VARIANTS))])
    least = dist.min(axis=0)
    t0 = time.perf_counter()
    full = np.empty((len(VARIANTS), len(rows)))
    order = np.argsort(cols, kind="stable")         # every stored i < j against query j
    groups = np.split(order, np.flatnonzero(np.diff(cols[order])) + 1)
    for v in range(len(VARIANTS)):
        for group in groups:
            j = int(cols[group[0]])
            full[v, group] = fc.confirmation_scores([stored[i] for i in rows[group]], blobs[v][j])
    score_seconds += time.perf_counter() - t0
    scored += full.size
    best_any = full.max(axis=0)
    matched = ((dist <= radius) & (full >= threshold)).any(axis=0)

    def conditional_best(width):
        return np.where(dist <= width, full, -np.inf).max(axis=0)

    tun, hel = tuning_pair, ~tuning_pair
    pairs_t, pairs_h = int(tun.sum()), int(hel.sum())
    emp_count = int(matched[tun].sum())
    empirical = {"pairs": pairs_t, "matches": emp_count, "fpr": emp_count / max(1, pairs_t),
                 "fpr_upper95": false_matches.empirical_upper(emp_count, pairs_t) if pairs_t else 1.0,
                 "held_out_pairs": pairs_h, "held_out_matches": int(matched[hel].sum())}
    bound = score_tail(best_any[tun], threshold)
    # stage 1: the fingerprint bench's GPD lower tail of the least distance over the variants
    histogram = false_matches.histogram(least[tun] / 256.0)
    dfit = false_matches.fit_lower_tail(histogram)
    cum = np.cumsum(histogram)
    p_candidate = {"empirical": float(cum[radius] / max(1, pairs_t)), "pairs": int(cum[radius]),
                   "model": float(dfit.cdf(radius)) if dfit else None}
    if dfit is not None:
        upper = false_matches.bootstrap_upper(histogram, [radius])
        p_candidate["model_upper95"] = None if upper is None else float(upper[0])
    wide = conditional_best(WIDE_RADIUS_BITS)
    within = tun & np.isfinite(wide)
    cond = score_tail(wide[within], threshold, CONDITIONAL_TAIL_FRACTION)
    cond_log = score_tail(wide[within], threshold, CONDITIONAL_TAIL_FRACTION, scale="log")

    def times(a, b):
        return None if a is None or b is None else a * b

    # the model where it was fitted (below the data), else the empirical rate inside the data;
    # None when neither exists (too few pairs, e.g. a --per-family 3 run)
    p_cand = p_candidate["model"] if p_candidate["model"] is not None else (
        p_candidate["empirical"] if p_candidate["pairs"] >= false_matches.MIN_EMPIRICAL_PAIRS else None)
    p_cand_up = p_candidate.get("model_upper95") if p_candidate["model"] is not None else p_cand
    p_cond = cond["model"] if cond["model"] is not None else (
        cond["empirical"] if cond["at_or_above"] >= false_matches.MIN_EMPIRICAL_PAIRS else None)
    p_cond_up = cond["model_upper95"] if cond["model"] is not None else (
        cond["empirical_upper95"] if p_cond is not None else None)
    trend = {}
    for width in TREND_RADII:
        best_w = conditional_best(width)
        ok = tun & np.isfinite(best_w)
        trend[str(width)] = {"pairs": int(ok.sum()),
                             **{f"P(S>={level:g})": float((best_w[ok] >= level).mean()) if ok.any() else None
                                for level in (0.7, 0.8, 0.85, threshold)}}
    inside = bound["at_or_above"] >= false_matches.MIN_EMPIRICAL_PAIRS
    bound_rate = bound["model"] if bound["model"] is not None else (bound["empirical"] if inside else None)
    bound_up = bound["model_upper95"] if bound["model"] is not None else (
        bound["empirical_upper95"] if inside else None)
    false = {
        "stored": STORED,
        "empirical": {**empirical, "false_matches_per_query": STORED * empirical["fpr"],
                      "false_matches_per_query_upper95": STORED * empirical["fpr_upper95"]},
        "score_bound": {"method": "P(d<=R, S>=t) <= P(S*>=t), S* the best score over the query variants;"
                                  " GPD upper tail of S* over all unrelated tuning pairs (rosvd.bench."
                                  "false_matches.fit_lower_tail on k = rint((1 - S) * 500), xi >= 0),"
                                  " 95% by bootstrap; no assumption on the dependence of d and S",
                        **bound, "false_matches_per_query": _scaled(bound_rate),
                        "false_matches_per_query_upper95": _scaled(bound_up)},
        "conditional": {"method": f"P(min_v d_v <= R) (GPD lower tail of the least distance over the 4"
                                  f" variants) x P(S >= t | some variant within {WIDE_RADIUS_BITS} bits)"
                                  f" (GPD upper tail of the best score over those variants, tail"
                                  f" {CONDITIONAL_TAIL_FRACTION:g}); 95%: product of the two 95% bounds",
                        "assumption": f"the confirmation score's tail among unrelated candidates at R ="
                                      f" {radius} is no heavier than among those within {WIDE_RADIUS_BITS}"
                                      f" bits; conditional_trend shows it is heavier the closer the"
                                      f" codes, so this is an optimistic estimate",
                        "p_candidate": p_candidate, "p_confirm_given_wide_candidate": cond,
                        "fpr": times(p_cand, p_cond), "fpr_upper95": times(p_cand_up, p_cond_up),
                        "false_matches_per_query": _scaled(times(p_cand, p_cond)),
                        "false_matches_per_query_upper95": _scaled(times(p_cand_up, p_cond_up))},
        "conditional_log_scale": {
            "method": "as conditional, the score tail fitted on k = rint(50 log((1 - S) / 1e-4)) (a power"
                      " law in 1 - S rather than an exponential in S)",
            "p_confirm_given_wide_candidate": cond_log,
            "false_matches_per_query": _scaled(times(p_cand, cond_log["model"])),
            "false_matches_per_query_upper95": _scaled(times(p_cand_up, cond_log["model_upper95"]))},
        "conditional_trend": trend,
        "held_out_best_score": {"max": float(best_any[hel].max()) if hel.any() else None},
    }
    # Other thresholds from the same scores: held-out / tuning TPR per attack and the
    # conditional estimate (both scales), without the bootstrap.
    sweep = {}
    for level in SWEEP_THRESHOLDS:
        tpr = {}
        for name, (d, s) in kept.items():
            hit = ((d <= radius) & (s >= level)).any(axis=0)
            tpr[name] = [round(float(hit[held].mean()), 4) if held.any() else None,
                         round(float(hit[~held].mean()), 4) if (~held).any() else None]
        linear = score_tail(wide[within], level, CONDITIONAL_TAIL_FRACTION, bootstrap=False)
        logged = score_tail(wide[within], level, CONDITIONAL_TAIL_FRACTION, bootstrap=False, scale="log")
        unrelated = ((dist <= radius) & (full >= level)).any(axis=0)
        sweep[f"{level:g}"] = {
            "tpr_held_out_tuning": tpr,
            "conditional_false_matches_per_query": _scaled(times(p_cand, linear["model"])),
            "conditional_log_false_matches_per_query": _scaled(times(p_cand, logged["model"])),
            "unrelated_tuning_matches": int(unrelated[tun].sum())}
    false["threshold_sweep"] = sweep
    false["trend_corrected"] = _trend_corrected(dist, full, tun, radius, false)
    false["regions"] = _region_false_matches(region_bits, region_stored, window_bits, window_blobs, rows,
                                             cols, tun, region_radius, radius, REGION_CONFIRM_THRESHOLD)
    sweep_counts = false["regions"].pop("_sweep_matches")
    false["regions"]["sweep"] = {
        f"{r}:{t:g}": {"unrelated_tuning_matches": sweep_counts[(r, t)],
                       "false_matches_per_query_empirical": STORED * sweep_counts[(r, t)] / max(1, pairs_t),
                       "tpr_with_regions_held_out_tuning": {
                           name: _shares(views_hit | ((dw <= r) & (sw >= t)).any(axis=0), held)
                           for name, (views_hit, dw, sw) in region_kept.items()}}
        for r, t in REGION_SWEEP if r <= region_radius}
    views_rate = false["conditional_log_scale"]["false_matches_per_query"]
    regions_rate = false["regions"]["conditional_log_scale"]["false_matches_per_query"]
    false["with_regions_log_scale"] = {
        "method": "the views' and the windows' conditional estimates (log scale) added: a union bound",
        "false_matches_per_query": None if views_rate is None or regions_rate is None
        else views_rate + regions_rate}
    goal = {name: entry["held_out"]["tpr"] is not None and entry["held_out"]["tpr"] >= TPR_GOAL
            for name, entry in attacks.items() if entry["target_applies"]}
    goal_with_regions = {name: entry["held_out"]["tpr_with_regions"] is not None
                         and entry["held_out"]["tpr_with_regions"] >= TPR_GOAL
                         for name, entry in attacks.items()}
    return {
        "descriptor": {"version": fc.DESCRIPTOR_VERSION, "bytes": fc.DESCRIPTOR_BYTES,
                       "coefficients": fc.COEFFICIENTS, "radius": fc.RADIUS, "beta": fc.BETA,
                       "mask_lines": fc.MASK_LINES, "angles": list(fc.ANGLES), "scales": list(fc.SCALES)},
        "candidate_radius_bits": radius, "confirm_threshold": threshold,
        "region_radius_bits": region_radius, "region_confirm_threshold": REGION_CONFIRM_THRESHOLD,
        "query_variants": list(VARIANTS),
        "images": {"total": count, "per_family": per_family, "photos": len(photos),
                   "held_out_families": list(HELD_OUT_FAMILIES)},
        "attacks": attacks,
        "held_out_tpr_goal_met": goal,
        "held_out_tpr_goal_met_with_regions": goal_with_regions,
        "false_matches": false,
        "score_microseconds_per_candidate": round(1e6 * score_seconds / max(1, scored), 2),
        "seconds": round(time.perf_counter() - start, 1),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rosvd.bench.confirm", description=__doc__.split("\n")[0])
    parser.add_argument("--per-family", type=int, default=150, help="images per synthetic family (150)")
    parser.add_argument("--json", action="store_true", help="print JSON (the only output format)")
    parser.add_argument("--threshold", type=float, default=None, help="confirmation threshold to evaluate")
    parser.add_argument("--radius", type=int, default=None, help="candidate radius in bits to evaluate")
    args = parser.parse_args(argv)
    result = run(args.per_family, threshold=args.threshold, radius=args.radius)
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
