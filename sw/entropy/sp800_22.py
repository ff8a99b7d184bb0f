"""A subset of the NIST SP 800-22 rev. 1a statistical tests, on a numpy array of bits.

Implemented from the formulas of SP 800-22 section 2 (test descriptions) and 3 (their
derivations): frequency (monobit, 2.1), frequency within a block (2.2), runs (2.3), longest
run of ones in a block (2.4), cumulative sums (2.13, forward and backward), approximate
entropy (2.12) and serial (2.11, two p-values). p-values come from ``scipy.special``
(``erfc``, ``gammaincc`` = igamc) and ``scipy.stats.norm``. The class probabilities of the
longest-run test are the table of 3.4, as in the
document; :func:`longest_run_class_probabilities` recomputes them exactly by dynamic
programming as a cross-check: they agree to the table's four digits for M = 8 and 128, while
for M = 10^4 the table is off by up to 1.6e-3 (e.g. 0.0882 against an exact 0.0866). We keep
the table so p-values match other SP 800-22 implementations.

Why our own: the PyPI candidates were tried on 2026-11-28. ``nist80022`` 0.2.0 (2021) walks
Python strings bit by bit and its longest-run test fails on current scipy
(``AttributeError: Module 'scipy' has no attribute 'zeros'``); ``sp80022suite`` 0.0.8 ships a
top-level ``tests`` package that would shadow ours; ``nistrng`` reports p = 0 on good data.

A test passes when p >= alpha (0.01, the document's default).
"""
from __future__ import annotations

import functools
import math

import numpy as np
from scipy.special import erfc, gammaincc
from scipy.stats import norm

ALPHA = 0.01
#: Smallest sequence each test is specified for (SP 800-22 "input size recommendation").
MIN_BITS = {"frequency": 100, "block_frequency": 100, "runs": 100, "longest_run": 128,
            "cumulative_sums": 100, "approximate_entropy": 100, "serial": 100}

#: Longest-run parameters (2.4.2, 3.4): (min n, block length M, class boundaries v_0 .. v_K,
#: the class probabilities pi_i of the document's table).
_LONGEST_RUN_PARAMS = (
    (750_000, 10_000, tuple(range(10, 17)), (0.0882, 0.2092, 0.2483, 0.1933, 0.1208, 0.0675, 0.0727)),
    (6_272, 128, tuple(range(4, 10)), (0.1174, 0.2430, 0.2493, 0.1752, 0.1027, 0.1124)),
    (128, 8, (1, 2, 3, 4), (0.2148, 0.3672, 0.2305, 0.1875)),
)


def _bits(x) -> np.ndarray:
    b = np.asarray(x)
    if b.ndim != 1 or b.size == 0:
        raise ValueError("bits must be a non-empty 1-D array")
    if b.min() < 0 or b.max() > 1:
        raise ValueError("bits must be 0 or 1")
    return b.astype(np.int64, copy=False)


def _result(p_value: float, **stats) -> dict:
    p = float(p_value)
    return {"p_value": p, "passed": bool(p >= ALPHA), **stats}


def frequency(bits) -> dict:
    """2.1: S_n = sum(2 e_i - 1), s_obs = |S_n| / sqrt(n), p = erfc(s_obs / sqrt 2)."""
    e = _bits(bits)
    n = e.size
    s_n = int(2 * e.sum() - n)
    s_obs = abs(s_n) / math.sqrt(n)
    return _result(erfc(s_obs / math.sqrt(2)), n=n, s_n=s_n)


def block_frequency(bits, block: int = 128) -> dict:
    """2.2: N = floor(n/M) blocks, pi_i their proportions of ones, chi^2 = 4M sum (pi_i - 1/2)^2,
    p = igamc(N/2, chi^2/2)."""
    e = _bits(bits)
    n_blocks = e.size // block
    if n_blocks < 1:
        raise ValueError(f"need at least one block of {block} bits")
    pi = e[: n_blocks * block].reshape(n_blocks, block).mean(axis=1)
    chi2 = 4.0 * block * float(((pi - 0.5) ** 2).sum())
    return _result(gammaincc(n_blocks / 2, chi2 / 2), M=block, N=n_blocks, chi2=chi2)


def runs(bits) -> dict:
    """2.3: prerequisite |pi - 1/2| < 2/sqrt(n) (else p = 0, the frequency test already fails);
    V = number of runs, p = erfc(|V - 2n pi (1-pi)| / (2 sqrt(2n) pi (1-pi)))."""
    e = _bits(bits)
    n = e.size
    pi = float(e.mean())
    if abs(pi - 0.5) >= 2.0 / math.sqrt(n):
        return _result(0.0, pi=pi, v_obs=None, note="frequency prerequisite not met")
    v_obs = 1 + int(np.count_nonzero(e[1:] != e[:-1]))
    x = abs(v_obs - 2 * n * pi * (1 - pi)) / (2 * math.sqrt(2 * n) * pi * (1 - pi))
    return _result(erfc(x), pi=pi, v_obs=v_obs)


@functools.cache
def longest_run_class_probabilities(block: int, bounds: tuple[int, ...]) -> tuple[float, ...]:
    """Exact P(longest run of ones in `block` fair bits falls in each class): <= bounds[0],
    == bounds[1], ..., >= bounds[-1]. Exact: P(longest <= k) by a DP over the current run."""

    def at_most(k: int) -> float:
        if k < 0:
            return 0.0
        state = np.zeros(k + 1)
        state[0] = 1.0
        for _ in range(block):
            nxt = np.zeros(k + 1)
            nxt[0] = 0.5 * state.sum()  # a zero resets the run
            nxt[1:] = 0.5 * state[:-1]  # a one extends it; runs past k are dropped
            state = nxt
        return float(state.sum())

    cdf = [at_most(k) for k in bounds[:-1]]
    probs = [cdf[0]] + [cdf[i] - cdf[i - 1] for i in range(1, len(cdf))] + [1.0 - cdf[-1]]
    return tuple(probs)


def longest_run(bits) -> dict:
    """2.4: blocks of M bits (M = 8, 128 or 10^4 by n), nu_i = blocks whose longest run of ones is
    in class i, chi^2 = sum (nu_i - N pi_i)^2 / (N pi_i), p = igamc(K/2, chi^2/2)."""
    e = _bits(bits)
    n = e.size
    chosen = next((row for row in _LONGEST_RUN_PARAMS if n >= row[0]), None)
    if chosen is None:
        raise ValueError(f"the longest-run test needs at least 128 bits, got {n}")
    _, block, bounds, table = chosen
    n_blocks = n // block
    m = e[: n_blocks * block].reshape(n_blocks, block)
    # Longest run of ones per block: position minus position of the last zero seen, maxed.
    pos = np.arange(1, block + 1)
    last_zero = np.maximum.accumulate(np.where(m == 0, pos, 0), axis=1)
    longest = (pos - last_zero).max(axis=1)
    classes = np.clip(longest, bounds[0], bounds[-1]) - bounds[0]
    nu = np.bincount(classes, minlength=len(bounds))
    pi = np.asarray(table)
    chi2 = float(((nu - n_blocks * pi) ** 2 / (n_blocks * pi)).sum())
    k = len(bounds) - 1
    return _result(gammaincc(k / 2, chi2 / 2), M=block, N=n_blocks, chi2=chi2, nu=nu.tolist())


def _cusum_p(n: int, z: int) -> float:
    if z == 0:
        return 1.0
    sq = math.sqrt(n)
    # Summation bounds truncated toward zero: this reproduces the worked example of 2.13.8
    # (p = 0.4116588 for 1011010111); flooring the negative bound gives 0.41158.
    k1 = np.arange(int((-n / z + 1) / 4), int((n / z - 1) / 4) + 1)
    k2 = np.arange(int((-n / z - 3) / 4), int((n / z - 1) / 4) + 1)
    s1 = (norm.cdf((4 * k1 + 1) * z / sq) - norm.cdf((4 * k1 - 1) * z / sq)).sum()
    s2 = (norm.cdf((4 * k2 + 3) * z / sq) - norm.cdf((4 * k2 + 1) * z / sq)).sum()
    return float(min(1.0, max(0.0, 1.0 - s1 + s2)))


def cumulative_sums(bits) -> dict:
    """2.13: z = max |partial sum of (2 e_i - 1)|, forward and backward; p from the random-walk
    formula of 2.13.4 (sums of standard normal CDF differences). Passes when both pass."""
    e = _bits(bits)
    n = e.size
    x = 2 * e - 1
    z_fwd = int(np.abs(np.cumsum(x)).max())
    z_bwd = int(np.abs(np.cumsum(x[::-1])).max())
    p_fwd, p_bwd = _cusum_p(n, z_fwd), _cusum_p(n, z_bwd)
    return {"p_value": min(p_fwd, p_bwd), "passed": bool(min(p_fwd, p_bwd) >= ALPHA),
            "p_forward": p_fwd, "p_backward": p_bwd, "z_forward": z_fwd, "z_backward": z_bwd}


def _pattern_counts(e: np.ndarray, m: int) -> np.ndarray:
    """Counts of the n overlapping m-bit patterns of e extended by its first m - 1 bits."""
    n = e.size
    if m == 0:
        return np.array([n])
    ext = np.concatenate((e, e[: m - 1]))
    codes = np.zeros(n, dtype=np.int64)
    for j in range(m):
        codes = (codes << 1) | ext[j: j + n]
    return np.bincount(codes, minlength=1 << m)


def approximate_entropy(bits, m: int = 10) -> dict:
    """2.12: phi(m) = sum C_i ln C_i over the m-bit patterns (wrapping), ApEn = phi(m) - phi(m+1),
    chi^2 = 2n (ln 2 - ApEn), p = igamc(2^(m-1), chi^2/2)."""
    e = _bits(bits)
    n = e.size

    def phi(k: int) -> float:
        c = _pattern_counts(e, k) / n
        c = c[c > 0]
        return float((c * np.log(c)).sum())

    apen = phi(m) - phi(m + 1)
    chi2 = 2.0 * n * (math.log(2) - apen)
    return _result(gammaincc(2 ** (m - 1), chi2 / 2), m=m, apen=apen, chi2=chi2)


def serial(bits, m: int = 16) -> dict:
    """2.11: psi^2_k = 2^k / n sum nu^2 - n over wrapping k-bit patterns; del1 = psi^2_m - psi^2_{m-1},
    del2 = psi^2_m - 2 psi^2_{m-1} + psi^2_{m-2}; p1 = igamc(2^(m-2), del1/2),
    p2 = igamc(2^(m-3), del2/2). Passes when both pass; p_value is the smaller."""
    e = _bits(bits)
    n = e.size

    def psi2(k: int) -> float:
        if k <= 0:
            return 0.0
        nu = _pattern_counts(e, k).astype(np.float64)
        return float((2 ** k) / n * (nu ** 2).sum() - n)

    a, b, c = psi2(m), psi2(m - 1), psi2(m - 2)
    d1, d2 = a - b, a - 2 * b + c
    p1, p2 = float(gammaincc(2 ** (m - 2), d1 / 2)), float(gammaincc(2 ** (m - 3), d2 / 2))
    return {"p_value": min(p1, p2), "passed": bool(min(p1, p2) >= ALPHA), "m": m,
            "p_value_1": p1, "p_value_2": p2}


def pattern_length_for(n: int, cap: int) -> int:
    """The block length m for approximate entropy (m < floor(log2 n) - 5) and serial
    (m < floor(log2 n) - 2), capped at the document's defaults (10 and 16), at least 2."""
    return max(2, min(cap, int(math.floor(math.log2(n))) - cap_offset(cap)))


def cap_offset(cap: int) -> int:
    return 6 if cap == 10 else 3


def run_all(bits) -> dict:
    """Every implemented test that the sequence is long enough for, keyed by name."""
    e = _bits(bits)
    n = e.size
    out: dict[str, dict] = {}
    tests = {
        "frequency": lambda: frequency(e),
        "block_frequency": lambda: block_frequency(e),
        "runs": lambda: runs(e),
        "longest_run": lambda: longest_run(e),
        "cumulative_sums": lambda: cumulative_sums(e),
        "approximate_entropy": lambda: approximate_entropy(e, pattern_length_for(n, 10)),
        "serial": lambda: serial(e, pattern_length_for(n, 16)),
    }
    for name, fn in tests.items():
        if n < MIN_BITS[name]:
            out[name] = {"p_value": None, "passed": None, "skipped": f"needs >= {MIN_BITS[name]} bits"}
        else:
            out[name] = fn()
    return out
