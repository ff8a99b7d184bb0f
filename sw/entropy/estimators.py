"""Non-IID min-entropy estimators of NIST SP 800-90B (January 2018), section 6.3.

Every estimator takes a 1-D numpy array of small non-negative integers (the samples) and
returns an :class:`Estimate`: the min-entropy per sample in bits, the probability bound it
was computed from, and the parameters a reviewer needs to re-check it. The numbers are
per *sample*; for a binary source (the ring-oscillator raw bits) that is per bit.

Implemented here, from the formulas of the standard:

* 6.3.1 most common value (any alphabet);
* 6.3.2 collision (binary only);
* 6.3.3 Markov (binary only);
* 6.3.4 compression (binary only, b = 6, d = 1000);
* 6.3.5 t-tuple and 6.3.6 longest repeated substring (LRS), exact while a tuple fits in a
  64-bit code (64 binary samples, 64 // bits samples in general); past that length the
  estimator stops and says so with ``truncated = True`` (its result is then an upper
  bound of the standard's value, and the other estimators carry the assessment).

Not implemented: the predictor estimators of 6.3.7-6.3.10 (MultiMCW, Lag, MultiMMC,
LZ78Y). :func:`assess_min_entropy` takes the minimum of what is implemented, as 6.3
prescribes for the full set; the missing predictors are listed in its result.

The 99 % confidence bounds use Z = 2.576 throughout, as in the standard.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

#: Upper quantile of the standard normal distribution for the 99 % bounds (SP 800-90B 6.3).
Z_99 = 2.576
#: Length of the most likely sequence scored by the Markov estimate (6.3.3).
MARKOV_SEQUENCE_LENGTH = 128
#: Compression estimate parameters (6.3.4): block size in bits and dictionary warm-up blocks.
COMPRESSION_BLOCK_BITS = 6
COMPRESSION_DICTIONARY_BLOCKS = 1000
#: Variance correction factor c of 6.3.4 step 4 for b = 6.
COMPRESSION_C = 0.5907
#: The t-tuple estimate keeps tuples whose most common value occurs at least this often (6.3.5).
TUPLE_MIN_COUNT = 35
#: Tuple codes are packed into uint64, so tuples longer than 64 // bits samples are not scored.
CODE_BITS = 64

NOT_IMPLEMENTED = ("multi_mcw", "lag", "multi_mmc", "lz78y")


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
    """SP 800-90B 6.3.1: p_hat = (count of the mode) / L, p_u = min(1, p_hat + 2.576
    sqrt(p_hat (1 - p_hat) / (L - 1))), H = -log2 p_u."""
    s = _as_samples(samples)
    n = s.size
    counts = np.bincount(s)
    p_hat = float(counts.max()) / n
    p_u = _upper_bound(p_hat, n)
    return Estimate("mcv", "6.3.1", _entropy(p_u), p_u,
                    {"L": n, "mode": int(counts.argmax()), "p_hat": p_hat})


def collision_times(samples) -> np.ndarray:
    """The collision times t_i of 6.3.2 steps 1-5 for a binary sequence.

    From ``index`` the first repeat is at ``index + 1`` when the next sample equals this one
    (t = 2), else at ``index + 2`` (t = 3; of three binary samples two are equal). The walk
    restarts after the repeat. Returned as an int array of t values.
    """
    s = _as_samples(samples, binary=True, min_len=3)
    n = s.size
    same = np.zeros(n + 2, dtype=bool)
    same[: n - 1] = s[:-1] == s[1:]
    # Sequential by nature (each restart depends on the previous t), but only two outcomes:
    # jump table next[i] = i + 2 or i + 3, walked with pointer doubling would be overkill;
    # a compiled-free walk over a Python list of ~L/2.3 steps takes well under a second.
    same_list = same.tolist()
    times = []
    index = 0
    while index + 2 < n or (index + 1 < n and same_list[index]):
        if same_list[index]:
            times.append(2)
            index += 2
        else:
            times.append(3)
            index += 3
    return np.asarray(times, dtype=np.int64)


def collision(samples) -> Estimate:
    """SP 800-90B 6.3.2, binary samples.

    X̄ and σ̂ are the mean and sample standard deviation of the collision times, X̄' =
    X̄ - 2.576 σ̂ / sqrt(v). For a binary source with P(most likely) = p, E[t] = 2 + 2 p (1 - p),
    so step 8 solves X̄' = 2 + 2 p (1 - p) for p in [0.5, 1]: p = 0.5 + sqrt(1.25 - 0.5 X̄').
    If X̄' is above 2.5 (no solution with p >= 0.5) the estimate is 1 bit, as step 9 says.
    """
    t = collision_times(samples)
    v = t.size
    if v < 2:
        raise EstimatorInputError("too few collisions for the collision estimate")
    mean = float(t.mean())
    sigma = float(t.std(ddof=1))
    mean_lower = mean - Z_99 * sigma / math.sqrt(v)
    disc = 1.25 - 0.5 * mean_lower
    if disc <= 0.0:
        p = 0.5
        solved = False
    else:
        p = min(1.0, 0.5 + math.sqrt(disc))
        solved = True
    return Estimate("collision", "6.3.2", min(1.0, _entropy(p)), p,
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


def _compression_expectation(p: float, d: int, v: int, b: int) -> float:
    """G(p) + (2^b - 1) G(q), q = (1 - p) / (2^b - 1), the expected log2 distance of 6.3.4 step 6.

    G(z) = (1/v) sum_{t=d+1}^{d+v} sum_{u=1}^{t} log2(u) F(z, t, u), F = z^2 (1 - z)^(u-1) for
    u < t and z (1 - z)^(t-1) for u = t. The inner sum over u < t is a running sum, so G is
    O(d + v) per evaluation.
    """
    q = (1.0 - p) / (2 ** b - 1)
    last = d + v
    u = np.arange(1, last + 1, dtype=np.float64)
    log_u = np.log2(u)
    total = 0.0
    for z, weight in ((p, 1.0), (q, float(2 ** b - 1))):
        if z <= 0.0:
            continue
        pow_ = np.exp((u - 1) * math.log1p(-z)) if z < 1.0 else (u == 1).astype(np.float64)
        inner = np.cumsum(log_u * z * z * pow_)  # inner[k] = sum_{u=1}^{k+1}
        t = np.arange(d + 1, last + 1)
        # u < t part: sum_{u=1}^{t-1} -> inner[t - 2]; u = t part: log2(t) z (1 - z)^(t-1)
        g = inner[t - 2].sum() + (log_u[t - 1] * z * pow_[t - 1]).sum()
        total += weight * g / v
    return total


def compression(samples) -> Estimate:
    """SP 800-90B 6.3.4, binary samples (a Maurer universal-statistic estimate).

    The sequence is cut into 6-bit blocks (b = 6, the first bit most significant); the first
    d = 1000 blocks fill the dictionary, the next v = floor(L/6) - d are scored by D_i, the
    distance to the previous occurrence of the same block (or its index i if none). X̄ is the
    mean of log2 D_i, σ̂ = c sqrt(sum (log2 D_i)^2 / (v - 1) - X̄^2) with c = 0.5907, X̄' =
    X̄ - 2.576 σ̂ / sqrt(v). p in [2^-6, 1] is found by bisection so that the expected
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
    # The expectation falls as p rises; no solution when X̄' is at or above its value at 2^-b.
    if mean_lower >= _compression_expectation(lo, d, v, b):
        p, solved = lo, False
    else:
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if _compression_expectation(mid, d, v, b) > mean_lower:
                lo = mid
            else:
                hi = mid
        p, solved = hi, True
    h = 1.0 if not solved else min(1.0, _entropy(p) / b)
    return Estimate("compression", "6.3.4", h, 2.0 ** (-h),
                    {"b": b, "d": d, "v": v, "mean": mean, "sigma": sigma, "mean_lower": mean_lower,
                     "p_block": p, "solved": solved, "note": "p_max is per sample: 2^-H"})


class _TupleCounter:
    """Counts of overlapping W-tuples for W = 1, 2, ... as exact integer codes (no hashing)."""

    def __init__(self, s: np.ndarray, bits: int):
        self.s = s.astype(np.uint64)
        self.bits = bits
        self.max_len = max(1, CODE_BITS // bits)
        self.width = 0
        self.codes = np.zeros(s.size, dtype=np.uint64)

    def next_counts(self) -> np.ndarray | None:
        """Counts of each distinct tuple one sample longer than the last call, or None past max_len."""
        if self.width >= self.max_len or self.width >= self.s.size:
            return None
        self.width += 1
        w = self.width
        n = self.s.size - w + 1
        self.codes = (self.codes[:n] << np.uint64(self.bits)) | self.s[w - 1: w - 1 + n]
        _, counts = np.unique(self.codes, return_counts=True)
        return counts


def _bits_for(s: np.ndarray) -> int:
    return max(1, int(s.max()).bit_length())


def t_tuple(samples) -> Estimate:
    """SP 800-90B 6.3.5: t is the largest tuple length whose most common tuple occurs >= 35 times;
    P_max[i] = (Q[i] / (L - i + 1))^(1/i) for i = 1..t, p̂_max their maximum, p_u its 99 % upper
    bound as in 6.3.1 (with L - 1), H = -log2 p_u."""
    s = _as_samples(samples)
    n = s.size
    counter = _TupleCounter(s, _bits_for(s))
    p_max_i = []
    truncated = False
    while True:
        counts = counter.next_counts()
        if counts is None:
            truncated = True
            break
        q = int(counts.max())
        if q < TUPLE_MIN_COUNT:
            break
        i = counter.width
        p_max_i.append((q / (n - i + 1)) ** (1.0 / i))
    if not p_max_i:
        raise EstimatorInputError("no value occurs 35 times: too few samples for the t-tuple estimate")
    p_hat = max(p_max_i)
    p_u = _upper_bound(p_hat, n)
    return Estimate("t_tuple", "6.3.5", _entropy(p_u), p_u,
                    {"t": len(p_max_i), "p_hat": p_hat, "argmax_i": int(np.argmax(p_max_i)) + 1,
                     "truncated": truncated, "max_tuple_length": counter.max_len})


def lrs(samples) -> Estimate:
    """SP 800-90B 6.3.6, longest repeated substring.

    u is the smallest length whose most common tuple occurs fewer than 35 times, v the length of
    the longest substring that occurs at least twice. For W = u..v, P_W = sum_i C(c_i, 2) /
    C(L - W + 1, 2) over the counts c_i of the distinct W-tuples, P_max,W = P_W^(1/W); p̂ is the
    largest, p_u its 99 % upper bound as in 6.3.1, H = -log2 p_u.
    """
    s = _as_samples(samples)
    n = s.size
    counter = _TupleCounter(s, _bits_for(s))
    u = None
    p_w = []
    truncated = False
    while True:
        counts = counter.next_counts()
        if counts is None:
            truncated = True
            break
        w = counter.width
        top = int(counts.max())
        if u is None and top < TUPLE_MIN_COUNT:
            u = w
        if top < 2:  # w = v + 1: no repeats any more
            break
        if u is not None:
            c = counts.astype(np.float64)
            pairs = float((c * (c - 1) / 2).sum())
            total = (n - w + 1) * (n - w) / 2
            p_w.append((pairs / total) ** (1.0 / w))
    v = counter.width - 1 if not truncated else None
    if u is None:
        raise EstimatorInputError(
            f"the most common tuple occurs >= {TUPLE_MIN_COUNT} times at every length up to "
            f"{counter.max_len}: LRS not computed (long-range repetition, e.g. a periodic source)")
    if not p_w:
        return Estimate("lrs", "6.3.6", float(_bits_for(s)), 2.0 ** (-_bits_for(s)),
                        {"u": u, "v": v, "p_hat": None, "truncated": truncated,
                         "note": "no repeated substring of length >= u: nothing to score"})
    p_hat = max(p_w)
    p_u = _upper_bound(p_hat, n)
    return Estimate("lrs", "6.3.6", _entropy(p_u), p_u,
                    {"u": u, "v": v, "p_hat": p_hat, "truncated": truncated,
                     "max_tuple_length": counter.max_len})


BINARY_ONLY = ("collision", "markov", "compression")
ESTIMATORS = {
    "mcv": most_common_value,
    "collision": collision,
    "markov": markov,
    "compression": compression,
    "t_tuple": t_tuple,
    "lrs": lrs,
}


def assess_min_entropy(samples, bits: int) -> dict:
    """Run every implemented estimator that applies and take the minimum (SP 800-90B 6.3).

    ``bits`` is the sample width; the binary-only estimators run when ``bits == 1``. An
    estimator that cannot run on this input is reported with its reason under ``skipped``.
    """
    s = _as_samples(samples)
    results: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    for name, fn in ESTIMATORS.items():
        if name in BINARY_ONLY and bits != 1:
            skipped[name] = "binary samples only"
            continue
        try:
            results[name] = fn(s).as_dict()
        except EstimatorInputError as exc:
            skipped[name] = str(exc)
    if not results:
        raise EstimatorInputError("no estimator could run on these samples")
    h_min = min(r["min_entropy"] for r in results.values())
    return {
        "estimators": results,
        "skipped": skipped,
        "not_implemented": list(NOT_IMPLEMENTED),
        "min_entropy_per_sample": h_min,
        "limiting_estimator": min(results, key=lambda k: results[k]["min_entropy"]),
    }
