"""The predictor estimators (SP 800-90B 6.3.7-6.3.10) and the suffix-array tuple statistics.

Agreement with NIST's code on realistic captures is in test_nist_reference.py. Here: each
predictor's score (C correct of N, longest run) on a small input traced by hand from the
standard's description, with small windows/depths so that a trace fits in a comment; the
predictor-to-entropy step against closed forms; each predictor on the sequence it exists to
catch, where it must give near-zero entropy while MCV (and the other predictors, where the
sequence is chosen so) does not; and the tuple statistics against brute force.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from rosvd.entropy import estimators as est
from rosvd.entropy import predictors as pr
from rosvd.entropy import suffix


def seq(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


# ---- hand-traced scores ------------------------------------------------------------------

def test_multi_mcw_single_window_by_hand():
    # W = 3 over 0 0 1 1 1 0 1: predictions at i = 3..6 from the mode of the previous three
    # (ties to the most recent): 001 -> 0 (x 1, wrong), 011 -> 1 (x 1, right), 111 -> 1 (x 0,
    # wrong), 110 -> 1 (x 1, right). C = 2 of N = 4, longest run 1.
    assert pr.multi_mcw_score(seq(0, 0, 1, 1, 1, 0, 1), 2, seq(3)) == (2, 4, 1)


def test_multi_mcw_scoreboard_by_hand():
    # Windows (2, 4) over s = 1 1 0 0 0 1 0 0 1 1; the 4-window predicts from i = 4 on.
    # i  window2  window4   x  winner's guess       scoreboard after  winner after
    # 2  11 -> 1  -         0  w2: 1 wrong          (0, 0)            w2
    # 3  10 -> 0  -         0  w2: 0 right, run 1   (1, 0)            w2
    # 4  00 -> 0  1100 -> 0 0  w2: 0 right, run 2   (2, 1)            w2
    # 5  00 -> 0  1000 -> 0 1  w2: wrong            (2, 1)            w2
    # 6  01 -> 1  0001 -> 0 0  w2: wrong            (2, 2)            w4 (tie: later one)
    # 7  10 -> 0  0010 -> 0 0  w4: 0 right, run 1   (3, 3)            w4
    # 8  00 -> 0  0100 -> 0 1  w4: wrong            (3, 3)            w4
    # 9  01 -> 1  1001 -> 1 1  w4: 1 right, run 1   (4, 4)            w4
    # C = 4 of N = 8, longest run 2.
    assert pr.multi_mcw_score(seq(1, 1, 0, 0, 0, 1, 0, 0, 1, 1), 2, seq(2, 4)) == (4, 8, 2)


def test_lag_by_hand():
    # D = 2 over 0 1 0 1 0 1: i = 1 guesses s[0] = 0 (wrong); i = 2 guesses lag 1 = 1 (wrong)
    # and lag 2 scores, becoming the winner; i = 3, 4, 5 guess lag 2 right. C = 3 of 5, run 3.
    assert pr.lag_score(seq(0, 1, 0, 1, 0, 1), 2) == (3, 5, 3)


def test_multi_mmc_by_hand():
    # D = 2 over 0 0 1 0 0 1 0 0 1 (period 3). Orders 1 and 2 (contexts of 1 and 2 samples);
    # each guesses the most counted follower of its context (ties to the larger value).
    # After the initial pairs (0 -> 0), (00 -> 1):
    #   i=2 x=1: o1 ctx 0 {0:1} guesses 0, wrong; adds (0 -> 1)
    #   i=3 x=0: o1 ctx 1 unseen; o2 ctx 01 unseen: both added
    #   i=4 x=0: o1 ctx 0 {0:1, 1:1} guesses 1 (tie), wrong; o2 ctx 10 unseen, added
    #   i=5 x=1: o1 ctx 0 {0:2, 1:1} guesses 0, wrong; o2 ctx 00 {1:1} right -> o2 leads (1 vs 0)
    #   i=6 x=0: o1 ctx 1 {0:1} right (1 vs 1: o1 leads), o2 ctx 01 {0:1} right (2 vs 1: o2 leads);
    #            o2 was the winner going in: C = 1, run 1
    #   i=7 x=0: o1 guesses 1 (tie {0:2, 1:2}), wrong; o2 ctx 10 {0:1} right: C = 2, run 2
    #   i=8 x=1: o2 ctx 00 {1:2} right: C = 3, run 3
    # N = L - 2 = 7.
    s = seq(0, 0, 1, 0, 0, 1, 0, 0, 1)
    assert pr.multi_mmc_score(s, 2, depth=2, max_entries=1000) == (3, 7, 3)
    assert pr._multi_mmc_general(s, 2, 1000) == (3, 7, 3)  # the wide-alphabet code agrees


def test_lz78y_by_hand():
    # B = 2 over 0 0 1 0 0 1 0 0 1. Start: (0 -> 1), (00 -> 1). From i = 3 every prefix of
    # length 2 then 1 is looked up; the guess is the follower with the largest count over
    # both lengths (the longer prefix wins ties), every seen prefix counts x afterwards.
    #   i=3 x=0: 01 and 1 unseen, added; no guess
    #   i=4 x=0: 10 unseen, added; 0 {1:1} guesses 1, wrong
    #   i=5 x=1: 00 {1:1} guesses 1 (count 1); 0 {1:1, 0:1} count 1 does not beat it: right, run 1
    #   i=6 x=0: 01 {0:1} guesses 0: right, run 2
    #   i=7 x=0: 10 {0:1} count 1, but 0 {1:2, 0:1} count 2 guesses 1: wrong
    #   i=8 x=1: 00 {1:2} guesses 1 (count 2 ties 0's {1:2, 0:2}): right, run 1
    # C = 3 of N = L - B - 1 = 6, longest run 2.
    s = seq(0, 0, 1, 0, 0, 1, 0, 0, 1)
    assert pr.lz78y_score(s, 2, depth=2, max_entries=1000) == (3, 6, 2)
    assert pr._lz78y_general(s, 2, 2, 1000) == (3, 6, 2)


def lz78y_reference(s, depth: int, max_entries: int) -> tuple[int, int, int]:
    """LZ78Y as 6.3.10 words it, in plain Python dicts: for each i, prefixes of depth..1
    samples; the guess is the follower counted most over all of them (the longest prefix on
    ties, the larger value within a prefix); a new prefix enters while the dictionary holds
    fewer than max_entries; every prefix seen counts its follower."""
    s = [int(x) for x in s]
    table: dict[tuple, dict[int, int]] = {}
    for j in range(1, depth + 1):
        table[tuple(s[depth - j: depth])] = {s[depth]: 1}
    correct = run = longest = 0
    for i in range(depth + 1, len(s)):
        guess, best = None, 0
        for j in range(depth, 0, -1):
            followers = table.get(tuple(s[i - j: i]))
            if followers is not None:
                top = max(followers.values())
                if top > best:
                    best, guess = top, max(y for y, c in followers.items() if c == top)
                followers[s[i]] = followers.get(s[i], 0) + 1
            elif len(table) < max_entries:
                table[tuple(s[i - j: i])] = {s[i]: 1}
        if guess == s[i]:
            correct += 1
            run += 1
            longest = max(longest, run)
        else:
            run = 0
    return correct, len(s) - depth - 1, longest


@pytest.mark.parametrize("k, n, depth, bound", [(3, 3000, 4, 60), (2, 4000, 16, 65_536), (5, 3000, 6, 400)])
def test_lz78y_matches_a_plain_reading_of_the_standard(k, n, depth, bound):
    s = np.random.default_rng(k * n).integers(0, k, n).astype(np.int64)
    s[n // 2: n // 2 + 300] = np.tile([0, 1, 1], 100)  # a stretch with structure
    assert pr.lz78y_score(s, k, depth=depth, max_entries=bound) == lz78y_reference(s, depth, bound)


@pytest.mark.parametrize("seed", [1, 2])
def test_binary_and_wide_alphabet_kernels_agree(seed):
    """NIST has a dense binary code path and a dictionary one; ours mirror both."""
    s = np.random.default_rng(seed).integers(0, 2, 30_000).astype(np.int64)
    s[10_000:12_000] = 1  # a stretch the models learn
    assert pr._multi_mmc_binary(s, 16, 100_000) == pr._multi_mmc_general(s, 16, 100_000)
    assert pr._lz78y_binary(s, 16, 65_536) == pr._lz78y_general(s, 2, 16, 65_536)


def test_dictionaries_stop_growing_at_their_bound():
    """With room for 50 entries the models keep predicting from what they hold: on noise the
    bounded and unbounded scores differ, and the bounded one is what NIST's bound gives."""
    s = np.random.default_rng(5).integers(0, 4, 20_000).astype(np.int64)
    assert pr.lz78y_score(s, 4, max_entries=50) != pr.lz78y_score(s, 4, max_entries=65_536)
    assert pr.multi_mmc_score(s, 4, max_entries=50) != pr.multi_mmc_score(s, 4, max_entries=100_000)


# ---- from score to entropy ---------------------------------------------------------------

def exact_no_run_probability(p: float, r: int, n: int) -> float:
    """P(no run of r successes in n Bernoulli(p) trials), by dynamic programming on the run length."""
    state = np.zeros(r)
    state[0] = 1.0
    for _ in range(n):
        nxt = np.zeros(r)
        nxt[0] = state.sum() * (1 - p)
        nxt[1:] = state[:-1] * p
        state = nxt
    return float(state.sum())


@pytest.mark.parametrize("p, r, n", [(0.5, 12, 2000), (0.9, 60, 5000), (0.3, 5, 3000)])
def test_no_run_probability_matches_exact_count(p, r, n):
    exact = exact_no_run_probability(p, r, n)
    assert math.exp(pr._no_run_log_probability(p, r, n)) == pytest.approx(exact, rel=1e-6)


def test_p_local_solves_for_099():
    """A 30-long run of right guesses in 10,000: P_local is where that run is a 1 % event."""
    e = pr.prediction_estimate(correct=5_000, predictions=10_000, longest_run=30, k=2)
    p_local = e["params"]["P_local"]
    assert p_local > e["params"]["P_global_upper"]
    assert exact_no_run_probability(p_local, 31, 10_000) == pytest.approx(0.99, abs=1e-6)
    assert e["min_entropy"] == pytest.approx(-math.log2(p_local))


def test_global_bound_by_hand():
    # C = 5,000 of N = 10,000, short runs: P'_global = 0.5 + Z sqrt(0.25 / 9,999); P_local not needed.
    e = pr.prediction_estimate(correct=5_000, predictions=10_000, longest_run=8, k=2)
    p = 0.5 + 2.5758293035489008 * math.sqrt(0.25 / 9_999)
    assert e["params"]["P_local"] is None
    assert e["min_entropy"] == pytest.approx(-math.log2(p), rel=1e-12)


def test_no_correct_guess_uses_the_zero_count_bound():
    # C = 0: P'_global = 1 - 0.01^(1/N) (the standard's special case); with k = 256 it beats 1/k.
    e = pr.prediction_estimate(correct=0, predictions=100, longest_run=0, k=256)
    assert e["p_max"] == pytest.approx(1 - 0.01 ** (1 / 100), rel=1e-12)
    # and the alphabet caps the estimate at log2 k
    assert pr.prediction_estimate(0, 100, 0, 2)["min_entropy"] == 1.0


# ---- the sequences each predictor is for -------------------------------------------------

def _h(fn, s) -> float:
    return fn(s).min_entropy


def test_lag_catches_a_period_within_its_depth():
    """Period 100 of 8-bit values: MCV sees ~100 equally likely values, Lag sees s[i] = s[i-100]."""
    s = np.tile(np.random.default_rng(7).integers(0, 256, 100), 200)
    assert _h(est.most_common_value, s) > 4.5
    assert _h(est.multi_mcw, s) > 3.0
    assert _h(est.lag, s) < 0.01


def test_lz78y_catches_a_repeating_pattern_beyond_lag():
    """A random cycle through all 256 byte values, repeated: uniform to MCV, a period of 256
    is beyond Lag's D = 128, but every 1-sample prefix has one follower, which LZ78Y learns
    in the first round (its guess is the follower counted most over prefixes of 1..16)."""
    order = np.random.default_rng(8).permutation(256)
    s = np.tile(order, 400)
    assert _h(est.most_common_value, s) > 7.5
    assert _h(est.lag, s) > 7.5
    assert _h(est.multi_mcw, s) > 7.5
    assert _h(est.lz78y, s) < 0.01


def test_multi_mmc_catches_a_long_binary_pattern():
    """A 1000-bit random pattern repeated: beyond Lag's 128 and balanced for MCV, but an
    order-16 context almost always has one follower (~7 of the 1000 recur with another)."""
    s = np.tile(np.random.default_rng(8).integers(0, 2, 1000), 50)
    assert _h(est.most_common_value, s) > 0.9
    assert _h(est.lag, s) > 0.8
    assert _h(est.multi_mmc, s) < 0.05


def test_multi_mmc_catches_a_deterministic_recurrence():
    """s[i] = s[i-7] xor s[i-10] (an LFSR, period 1023): a Markov model of order 10 predicts it."""
    s = np.zeros(40_000, dtype=np.int64)
    s[:10] = 1
    for i in range(10, s.size):
        s[i] = s[i - 7] ^ s[i - 10]
    assert _h(est.most_common_value, s) > 0.9
    assert _h(est.multi_mcw, s) > 0.9
    assert _h(est.multi_mmc, s) < 0.01


def test_multi_mcw_catches_a_slowly_drifting_source():
    """Blocks of 2000 equal samples, alternately 0 and 1: overall balanced (MCV ~1 bit) but
    the mode of the last 63 samples is wrong only at the 49 block boundaries."""
    s = np.repeat(np.arange(50) % 2, 2000)
    assert _h(est.most_common_value, s) > 0.9
    assert _h(est.multi_mcw, s) < 0.05


# ---- suffix array and tuple statistics ---------------------------------------------------

def brute_force(s) -> dict[int, tuple[int, int]]:
    """W -> (count of the most common W-tuple, colliding pairs) while some W-tuple repeats."""
    t = tuple(int(x) for x in s)
    out, w = {}, 1
    while True:
        counts: dict[tuple, int] = {}
        for i in range(len(t) - w + 1):
            counts[t[i:i + w]] = counts.get(t[i:i + w], 0) + 1
        if max(counts.values()) < 2:
            return out
        out[w] = (max(counts.values()), sum(c * (c - 1) // 2 for c in counts.values()))
        w += 1


@pytest.mark.parametrize("kind", ["noise", "periodic", "biased", "wide"])
def test_tuple_stats_match_brute_force(kind):
    rng = np.random.default_rng(sum(map(ord, kind)))
    for _ in range(40):
        n = int(rng.integers(2, 400))
        if kind == "noise":
            s = rng.integers(0, 3, n)
        elif kind == "periodic":
            s = np.tile(rng.integers(0, 2, int(rng.integers(1, 9))), n)[:n]
        elif kind == "biased":
            s = (rng.random(n) < 0.93).astype(np.int64)
        else:
            s = rng.integers(0, 256, n) // int(rng.integers(1, 60))
        sa = suffix.suffix_array(s)
        assert sa.tolist() == sorted(range(n), key=lambda i: tuple(s[i:]))
        st = suffix.tuple_stats(s)
        ref = brute_force(s)
        assert st.v == max(ref, default=0)
        assert {w: (int(st.q[w]), int(st.pairs[w])) for w in range(1, st.v + 1)} == ref


def test_lcp_past_64_samples():
    """Tuples far longer than a 64-bit word: a 300-sample block that occurs twice."""
    rng = np.random.default_rng(4)
    block = rng.integers(0, 2, 300)
    s = np.concatenate([rng.integers(0, 2, 50), block, rng.integers(0, 2, 50), block])
    st = suffix.tuple_stats(s)
    assert st.v >= 300 and st.q[300] == 2 and st.pairs[300] == 1
