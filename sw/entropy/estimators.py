"""Non-IID min-entropy estimators of NIST SP 800-90B (January 2018), section 6.3, and the
assessment of section 3.1.3 that combines them.

Every estimator takes a 1-D numpy array of small non-negative integers (the samples) and
returns an :class:`Estimate`: the min-entropy per sample in bits, the probability bound it
was computed from, and the parameters a reviewer needs to re-check it. The numbers are
per *sample*; on a bitstring that is per bit.

All ten estimators of 6.3, computed as NIST's reference tool ``ea_non_iid`` computes them
(``tests/entropy/nist_reference.json`` holds its values for seeded captures and the tests
compare every estimator with it):

* 6.3.1 most common value; 6.3.2 collision, 6.3.3 Markov and 6.3.4 compression (b = 6,
  d = 1000), these three on binary data only, i.e. on the bitstring and on samples with
  exactly two distinct values;
* 6.3.5 t-tuple and 6.3.6 longest repeated substring (LRS), from the suffix array and LCP
  array of the samples (:mod:`rosvd.entropy.suffix`): no limit on the tuple length;
* 6.3.7-6.3.10 the predictors MultiMCW, Lag, MultiMMC and LZ78Y (:mod:`rosvd.entropy.predictors`).

:func:`assess_min_entropy` runs them on the samples ("original" track) and, for samples
wider than one bit, on the bitstring (each sample expanded to its ``bits`` bits, most
significant first): ``H = min(H_original, bits * H_bitstring)``, as 3.1.3 prescribes.

The 99 % bounds use NIST's Z = 2.5758293035489008 (the standard prints it as 2.576).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from numba import njit

from rosvd.entropy import predictors, suffix
from rosvd.entropy.predictors import Z_99

#: Length of the most likely sequence scored by the Markov estimate (6.3.3).
MARKOV_SEQUENCE_LENGTH = 128
#: Compression estimate parameters (6.3.4): block size in bits and dictionary warm-up blocks.
COMPRESSION_BLOCK_BITS = 6
COMPRESSION_DICTIONARY_BLOCKS = 1000
#: Variance correction factor c of 6.3.4 step 4 for b = 6.
COMPRESSION_C = 0.5907
#: The t-tuple estimate keeps tuples whose most common value occurs at least this often (6.3.5).
TUPLE_MIN_COUNT = 35

#: Estimators of 6.3 that this module does not compute (none since the predictors landed).
NOT_IMPLEMENTED: tuple[str, ...] = ()


class EstimatorInputError(ValueError):
    """The samples cannot be given to an estimator (wrong shape, alphabet or too few)."""


@dataclasses.dataclass(frozen=True)
class Estimate:
    """One estimator's answer: min-entropy per sample and what it was computed from."""

    name: str
    section: str
    min_entropy: float
    #: The (upper-bounded) probability of the most likely outcome the entropy is -log2 of.
    p_max: float
    params: dict

    def as_dict(self) -> dict:
        return {"section": self.section, "min_entropy": self.min_entropy, "p_max": self.p_max,
                "params": self.params}


def _as_samples(samples, *, binary: bool = False, min_len: int = 2) -> np.ndarray:
    s = np.asarray(samples)
    if s.ndim != 1:
        raise EstimatorInputError(f"samples must be a 1-D array, got shape {s.shape}")
    if s.size < min_len:
        raise EstimatorInputError(f"need at least {min_len} samples, got {s.size}")
    if not np.issubdtype(s.dtype, np.integer):
        raise EstimatorInputError(f"samples must be integers, got dtype {s.dtype}")
    if s.min() < 0:
        raise EstimatorInputError("samples must be non-negative")
    if binary and s.max() > 1:
        raise EstimatorInputError(f"this estimator is for binary samples; found value {int(s.max())}")
    return s.astype(np.int64, copy=False)


def _upper_bound(p_hat: float, n: int) -> float:
    """p_u = min(1, p_hat + Z sqrt(p_hat (1 - p_hat) / (n - 1))): the bound of 6.3.1, 6.3.5, 6.3.6."""
    return min(1.0, p_hat + Z_99 * math.sqrt(p_hat * (1.0 - p_hat) / (n - 1)))


def _entropy(p: float) -> float:
    return 0.0 if p >= 1.0 else -math.log2(p)


def most_common_value(samples) -> Estimate:
    """SP 800-90B 6.3.1: p_hat = (count of the mode) / L, p_u = min(1, p_hat + Z
    sqrt(p_hat (1 - p_hat) / (L - 1))), H = -log2 p_u."""
    s = _as_samples(samples)
    n = s.size
    counts = np.bincount(s)
    p_hat = float(counts.max()) / n
    p_u = _upper_bound(p_hat, n)
    return Estimate("mcv", "6.3.1", _entropy(p_u), p_u,
                    {"L": n, "mode": int(counts.argmax()), "p_hat": p_hat})


@njit(cache=True)
def _collision_walk(s):
    """t_i of 6.3.2 steps 1-5: from ``index`` the first repeat is at ``index + 1`` (t = 2) when
    the next sample equals this one, else at ``index + 2`` (t = 3: of three binary samples two
    are equal); the walk restarts after the repeat and stops when no repeat fits."""
    n = s.size
    times = np.empty(n // 2 + 1, dtype=np.int64)
    v = 0
    i = 0
    while i < n - 1:
        if s[i] == s[i + 1]:
            t = 2
        elif i < n - 2:
            t = 3
        else:
            break
        times[v] = t
        v += 1
        i += t
    return times[:v]


def collision_times(samples) -> np.ndarray:
    """The collision times t_i of 6.3.2 steps 1-5 for a binary sequence, as an int array."""
    return _collision_walk(_as_samples(samples, binary=True, min_len=3))


def collision(samples) -> Estimate:
    """SP 800-90B 6.3.2, binary samples.

    X̄ and σ̂ are the mean and sample standard deviation of the collision times, X̄' =
    X̄ - Z σ̂ / sqrt(v), raised to 2 if below (NIST's code: no p is larger than 1). For a binary
    source with P(most likely) = p, E[t] = 2 + 2 p (1 - p), so step 8 solves X̄' = 2 + 2 p (1 - p)
    for p in [0.5, 1]: p = 0.5 + sqrt(1.25 - 0.5 X̄'). If X̄' is at or above 2.5 (no solution with
    p >= 0.5) the estimate is 1 bit, as step 9 says.
    """
    t = collision_times(samples)
    v = t.size
    if v < 2:
        raise EstimatorInputError("too few collisions for the collision estimate")
    mean = float(t.mean())
    sigma = float(t.std(ddof=1))
    mean_lower = max(2.0, mean - Z_99 * sigma / math.sqrt(v))
    solved = mean_lower < 2.5
    p = 0.5 + math.sqrt(1.25 - 0.5 * mean_lower) if solved else 0.5
    return Estimate("collision", "6.3.2", _entropy(p) if solved else 1.0, p,
                    {"v": v, "mean": mean, "sigma": sigma, "mean_lower": mean_lower, "solved": solved})


def markov(samples) -> Estimate:
    """SP 800-90B 6.3.3, binary samples.

    P0, P1 are the sample proportions; P_ab the transition proportions over the L - 1 pairs.
    p̂_max is the largest probability of a 128-sample sequence among the six candidates of the
    standard (all zeros, alternating from 0, a 0 then all ones, a 1 then all zeros,
    alternating from 1, all ones); H = min(-log2(p̂_max) / 128, 1). The final standard has no
    confidence bound on this estimate.
    """
    s = _as_samples(samples, binary=True, min_len=3)
    n = s.size
    ones = int(s.sum())
    p1 = ones / n
    p0 = 1.0 - p1
    prev, nxt = s[:-1], s[1:]
    pairs = np.bincount(prev * 2 + nxt, minlength=4)
    o00, o01, o10, o11 = (int(x) for x in pairs)

    def ratio(a: int, b: int) -> float:
        return a / (a + b) if a + b else 0.0

    p00, p01 = ratio(o00, o01), ratio(o01, o00)
    p10, p11 = ratio(o10, o11), ratio(o11, o10)
    k = MARKOV_SEQUENCE_LENGTH

    def log2(x: float) -> float:
        return math.log2(x) if x > 0 else -math.inf

    # Work in log2 so that 128-fold products do not underflow.
    candidates = {
        "all_zeros": log2(p0) + (k - 1) * log2(p00),
        "alternating_from_0": log2(p0) + (k // 2) * log2(p01) + (k // 2 - 1) * log2(p10),
        "zero_then_ones": log2(p0) + log2(p01) + (k - 2) * log2(p11),
        "one_then_zeros": log2(p1) + log2(p10) + (k - 2) * log2(p00),
        "alternating_from_1": log2(p1) + (k // 2) * log2(p10) + (k // 2 - 1) * log2(p01),
        "all_ones": log2(p1) + (k - 1) * log2(p11),
    }
    best = max(candidates, key=candidates.__getitem__)
    log_p_max = candidates[best]
    h = min(-log_p_max / k, 1.0)
    return Estimate("markov", "6.3.3", h, 2.0 ** (-h),
                    {"P0": p0, "P1": p1, "P00": p00, "P01": p01, "P10": p10, "P11": p11,
                     "most_likely_sequence": best, "log2_p_max_sequence": log_p_max,
                     "note": "p_max is per sample: 2^-H"})


@njit(cache=True)
def _g(z, d, blocks, log_u):
    """G(z) of 6.3.4 step 6 times v: sum_{t=d+1}^{blocks} sum_{u=1}^{t} log2(u) F(z, t, u), with
    F = z^2 (1 - z)^(u-1) for u < t and z (1 - z)^(t-1) for u = t; the inner sum over u < t is a
    running sum, so one pass over u."""
    inner = 0.0  # sum_{u=1}^{t-1} log2(u) z^2 (1-z)^(u-1)
    total = 0.0
    power = 1.0  # (1 - z)^(u - 1)
    for u in range(1, blocks + 1):
        if u > d:
            total += inner + log_u[u - 1] * z * power  # t = u: the u < t part and the u = t term
        inner += log_u[u - 1] * z * z * power
        power *= 1.0 - z
    return total


def _compression_expectation(p: float, d: int, v: int, b: int) -> float:
    """G(p) + (2^b - 1) G(q), q = (1 - p) / (2^b - 1): the expected log2 distance of 6.3.4 step 6
    for a source whose most likely b-bit block has probability p and the others share the rest."""
    blocks = d + v
    log_u = np.log2(np.arange(1, blocks + 1, dtype=np.float64))
    q = (1.0 - p) / (2 ** b - 1)
    return (_g(p, d, blocks, log_u) + (2 ** b - 1) * _g(q, d, blocks, log_u)) / v


def compression(samples) -> Estimate:
    """SP 800-90B 6.3.4, binary samples (a Maurer universal-statistic estimate).

    The sequence is cut into 6-bit blocks (b = 6, the first bit most significant); the first
    d = 1000 blocks fill the dictionary, the next v = floor(L/6) - d are scored by D_i, the
    distance to the previous occurrence of the same block (or its index i if none). X̄ is the
    mean of log2 D_i, σ̂ = c sqrt(sum (log2 D_i)^2 / (v - 1) - X̄^2) with c = 0.5907, X̄' =
    X̄ - Z σ̂ / sqrt(v). p in [2^-6, 1] is found by bisection so that the expected
    log2 distance of a source whose most likely block has probability p (the rest uniform)
    equals X̄'; H = -log2(p) / 6 per bit. With no solution H = 1.
    """
    b, d = COMPRESSION_BLOCK_BITS, COMPRESSION_DICTIONARY_BLOCKS
    s = _as_samples(samples, binary=True, min_len=b * (d + 2))
    blocks_n = s.size // b
    weights = 1 << np.arange(b - 1, -1, -1)
    blocks = s[: blocks_n * b].reshape(blocks_n, b) @ weights
    v = blocks_n - d
    # D_i for i = d+1 .. d+v (1-based): distance to the previous occurrence, or i itself.
    idx = np.arange(1, blocks_n + 1)
    order = np.lexsort((idx, blocks))
    sorted_blocks = blocks[order]
    sorted_idx = idx[order]
    prev = np.zeros(blocks_n, dtype=np.int64)
    same = np.empty(blocks_n, dtype=bool)
    same[0] = False
    same[1:] = sorted_blocks[1:] == sorted_blocks[:-1]
    prev_sorted = np.where(same, np.concatenate(([0], sorted_idx[:-1])), 0)
    prev[sorted_idx - 1] = prev_sorted
    scored = slice(d, blocks_n)
    dist = np.where(prev[scored] > 0, idx[scored] - prev[scored], idx[scored]).astype(np.float64)
    log_d = np.log2(dist)
    mean = float(log_d.mean())
    sigma = COMPRESSION_C * math.sqrt(max(0.0, float((log_d ** 2).sum()) / (v - 1) - mean * mean))
    mean_lower = mean - Z_99 * sigma / math.sqrt(v)

    lo, hi = 2.0 ** -b, 1.0
    log_u = np.log2(np.arange(1, blocks_n + 1, dtype=np.float64))
    others = 2 ** b - 1

    def expectation(p: float) -> float:  # _compression_expectation with log_u computed once
        return (_g(p, d, blocks_n, log_u) + others * _g((1.0 - p) / others, d, blocks_n, log_u)) / v

    # The expectation falls as p rises; no solution when X̄' is at or above its value at 2^-b.
    if mean_lower >= expectation(lo):
        p, solved = lo, False
    else:
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if expectation(mid) > mean_lower:
                lo = mid
            else:
                hi = mid
        p, solved = hi, True
    h = 1.0 if not solved else min(1.0, _entropy(p) / b)
    return Estimate("compression", "6.3.4", h, 2.0 ** (-h),
                    {"b": b, "d": d, "v": v, "mean": mean, "sigma": sigma, "mean_lower": mean_lower,
                     "p_block": p, "solved": solved, "note": "p_max is per sample: 2^-H"})


def _tuple_stats(samples, stats: suffix.TupleStats | None) -> tuple[np.ndarray, suffix.TupleStats]:
    s = _as_samples(samples)
    return s, (suffix.tuple_stats(s) if stats is None else stats)


def t_tuple(samples, stats: suffix.TupleStats | None = None) -> Estimate:
    """SP 800-90B 6.3.5: t is the largest tuple length whose most common tuple occurs >= 35 times;
    P_max[i] = (Q[i] / (L - i + 1))^(1/i) for i = 1..t, p̂_max their maximum, p_u its 99 % upper
    bound as in 6.3.1 (with L - 1), H = -log2 p_u. ``stats`` (from :func:`suffix.tuple_stats`)
    may be passed to share one suffix array with :func:`lrs`."""
    s, st = _tuple_stats(samples, stats)
    n = s.size
    t = 0
    while t + 1 <= st.v and st.q[t + 1] >= TUPLE_MIN_COUNT:
        t += 1
    if t == 0:
        raise EstimatorInputError("no value occurs 35 times: too few samples for the t-tuple estimate")
    i = np.arange(1, t + 1)
    p_max_i = (st.q[1: t + 1] / (n - i + 1)) ** (1.0 / i)
    p_hat = float(p_max_i.max())
    p_u = _upper_bound(p_hat, n)
    return Estimate("t_tuple", "6.3.5", _entropy(p_u), p_u,
                    {"t": t, "p_hat": p_hat, "argmax_i": int(np.argmax(p_max_i)) + 1,
                     "Q_t": int(st.q[t])})


def lrs(samples, stats: suffix.TupleStats | None = None) -> Estimate:
    """SP 800-90B 6.3.6, longest repeated substring.

    u is the smallest length whose most common tuple occurs fewer than 35 times, v the length of
    the longest substring that occurs at least twice. For W = u..v, P_W = sum_i C(c_i, 2) /
    C(L - W + 1, 2) over the counts c_i of the distinct W-tuples, P_max,W = P_W^(1/W); p̂ is the
    largest, p_u its 99 % upper bound as in 6.3.1, H = -log2 p_u. Not defined when v < u.
    """
    s, st = _tuple_stats(samples, stats)
    n = s.size
    u = 1
    while u <= st.v and st.q[u] >= TUPLE_MIN_COUNT:
        u += 1
    if st.v < u:
        raise EstimatorInputError(f"v = {st.v} < u = {u}: no repeated substring longer than the "
                                  f"t-tuple range, LRS not defined")
    w = np.arange(u, st.v + 1)
    total = (n - w) * (n - w + 1) / 2.0
    p_w = (st.pairs[u: st.v + 1] / total) ** (1.0 / w)
    p_hat = float(p_w.max())
    p_u = _upper_bound(p_hat, n)
    return Estimate("lrs", "6.3.6", _entropy(p_u), p_u,
                    {"u": u, "v": st.v, "p_hat": p_hat, "argmax_W": int(np.argmax(p_w)) + u})


def _dense(samples) -> tuple[np.ndarray, int]:
    """Samples mapped to 0..k-1 in increasing order of value, and k (NIST's "translation")."""
    s = _as_samples(samples)
    present = np.bincount(s) > 0
    k = int(present.sum())
    if k == present.size:  # already 0..k-1 (a bitstring, a full alphabet): no copy
        return np.ascontiguousarray(s, dtype=np.int64), k
    lookup = np.cumsum(present) - 1
    return lookup[s].astype(np.int64), k


def _predictor(name: str, section: str, score: tuple[int, int, int], k: int, extra: dict) -> Estimate:
    correct, n, longest = (int(x) for x in score)
    if n < 2:
        raise EstimatorInputError(f"{name}: too few predictions ({n})")
    r = predictors.prediction_estimate(correct, n, longest, k)
    return Estimate(name, section, r["min_entropy"], r["p_max"], r["params"] | extra)


def multi_mcw(samples) -> Estimate:
    """SP 800-90B 6.3.7, the multi most-common-in-window predictor (windows 63, 255, 1023, 4095)."""
    s, k = _dense(samples)
    windows = np.array(predictors.MCW_WINDOWS, dtype=np.int64)
    if s.size <= windows[-1]:
        raise EstimatorInputError(f"MultiMCW needs more than {windows[-1]} samples, got {s.size}")
    return _predictor("multi_mcw", "6.3.7", predictors.multi_mcw_score(s, k, windows), k,
                      {"windows": list(predictors.MCW_WINDOWS)})


def lag(samples) -> Estimate:
    """SP 800-90B 6.3.8, the lag predictor (D = 128)."""
    s, k = _dense(samples)
    if s.size < 3:
        raise EstimatorInputError("the lag predictor needs at least 3 samples")
    return _predictor("lag", "6.3.8", predictors.lag_score(s, predictors.LAG_DEPTH), k,
                      {"D": predictors.LAG_DEPTH})


def multi_mmc(samples) -> Estimate:
    """SP 800-90B 6.3.9, the multi Markov-model-with-counting predictor (D = 16, 100,000 entries)."""
    s, k = _dense(samples)
    if s.size < predictors.MMC_DEPTH + 2:
        raise EstimatorInputError(f"MultiMMC needs at least {predictors.MMC_DEPTH + 2} samples")
    return _predictor("multi_mmc", "6.3.9", predictors.multi_mmc_score(s, k), k,
                      {"D": predictors.MMC_DEPTH, "max_entries": predictors.MMC_MAX_ENTRIES})


def lz78y(samples) -> Estimate:
    """SP 800-90B 6.3.10, the LZ78Y predictor (B = 16, 65,536 dictionary entries)."""
    s, k = _dense(samples)
    if s.size < predictors.LZ78Y_DEPTH + 3:
        raise EstimatorInputError(f"LZ78Y needs at least {predictors.LZ78Y_DEPTH + 3} samples")
    return _predictor("lz78y", "6.3.10", predictors.lz78y_score(s, k), k,
                      {"B": predictors.LZ78Y_DEPTH, "max_entries": predictors.LZ78Y_MAX_ENTRIES})


#: Estimators that need binary input (run on the bitstring, and on samples of two values).
BINARY_ONLY = ("collision", "markov", "compression")
ESTIMATORS = {
    "mcv": most_common_value,
    "collision": collision,
    "markov": markov,
    "compression": compression,
    "t_tuple": t_tuple,
    "lrs": lrs,
    "multi_mcw": multi_mcw,
    "lag": lag,
    "multi_mmc": multi_mmc,
    "lz78y": lz78y,
}


def bitstring(samples, bits: int) -> np.ndarray:
    """Each sample's low ``bits`` bits, most significant first, one bit per element (3.1.3)."""
    s = np.asarray(samples, dtype=np.int64)
    shifts = np.arange(bits - 1, -1, -1, dtype=np.int64)
    return ((s[:, None] >> shifts) & 1).astype(np.uint8).reshape(-1)


def run_track(samples, max_entropy: float) -> dict:
    """Every estimator that applies to ``samples``: their results, the skipped ones with the
    reason, and the minimum (capped at ``max_entropy``, the sample width in bits)."""
    s, k = _dense(samples)
    results: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    if k < 2:
        results["mcv"] = most_common_value(s).as_dict()
        skipped |= {name: "one value only: no entropy" for name in ESTIMATORS if name != "mcv"}
    else:
        stats = suffix.tuple_stats(s)
        for name, fn in ESTIMATORS.items():
            if name in BINARY_ONLY and k != 2:
                skipped[name] = f"binary data only ({k} distinct values)"
                continue
            try:
                e = fn(s, stats) if name in ("t_tuple", "lrs") else fn(s)
            except EstimatorInputError as exc:
                skipped[name] = str(exc)
                continue
            results[name] = e.as_dict()
    limiting = min(results, key=lambda name: results[name]["min_entropy"])
    return {"samples": int(s.size), "alphabet_size": k, "estimators": results, "skipped": skipped,
            "min_entropy": min(float(max_entropy), results[limiting]["min_entropy"]),
            "limiting_estimator": limiting}


def assess_min_entropy(samples, bits: int) -> dict:
    """The initial entropy estimate of SP 800-90B 3.1.3 on the non-IID track.

    ``original``: every estimator on the samples (width ``bits``; collision, Markov and
    compression only if there are exactly two distinct values). ``bitstring`` (for ``bits > 1``):
    every estimator on the samples expanded to bits, MSB first, in bits per bit. The result is
    ``min(H_original, bits * H_bitstring)`` per sample, with the track and estimator that set it.
    """
    s = _as_samples(samples)
    original = run_track(s, bits)
    result = {"original": original, "bitstring": None, "not_implemented": list(NOT_IMPLEMENTED)}
    h, track, limiting = original["min_entropy"], "original", original["limiting_estimator"]
    if bits > 1:
        bit_track = run_track(bitstring(s, bits), 1)
        result["bitstring"] = bit_track
        if bits * bit_track["min_entropy"] < h:
            h, track, limiting = bits * bit_track["min_entropy"], "bitstring", bit_track["limiting_estimator"]
    result |= {"min_entropy_per_sample": h, "limiting_track": track, "limiting_estimator": limiting}
    return result
