"""The predictor estimators of NIST SP 800-90B (January 2018), sections 6.3.7-6.3.10.

Each predictor walks the samples once, guessing every sample from the ones before it, and
counts ``C``, the correct guesses out of ``N`` predictions, and ``r - 1``, the longest run of
consecutive correct guesses. :func:`prediction_estimate` turns those into a min-entropy:

* global predictability ``P_global = C / N``, bounded above at 99 %:
  ``P'_global = min(1, P_global + Z sqrt(P_global (1 - P_global) / (N - 1)))``, or
  ``1 - 0.01^(1/N)`` when ``C = 0``;
* local predictability ``P_local``: the ``p`` at which the probability of seeing no run of
  ``r`` correct guesses in ``N`` trials is 0.99, ``0.99 = (1 - p x) / ((r + 1 - r x) q) / x^(N+1)``
  with ``q = 1 - p`` and ``x`` the fixed point of ``x = 1 + q p^r x^(r+1)``, found by bisection
  on ``[max(1/k, P'_global), 1]`` (only when the observed run says the source is more
  predictable than ``P'_global``);
* ``H = -log2 max(P'_global, P_local, 1/k)`` over an alphabet of ``k`` observed values.

The loops are numba-compiled and follow NIST's ``ea_non_iid`` reference code (its
``non_iid/*.h``), including the order in which ties are broken and its bounded
dictionaries: MultiMMC keeps at most 100,000 ``(x, y)`` entries per order (D = 16
orders); LZ78Y at most 65,536 prefixes over all 16 lengths. Two behaviours of the reference
code that the standard's prose does not spell out are kept, so that our value is NIST's:
a MultiMMC order whose (shorter) prefix is absent from its dictionary skips the longer
orders' look-ups, and a round where the winning MultiMMC order has no prediction neither
counts nor breaks the run of correct guesses.

Samples are first mapped to ``0 .. k-1`` in increasing order (as NIST's tool does), so
``k`` is the number of distinct values seen and ties "to the larger value" are unchanged.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Upper 99 % quantile of the standard normal (SP 800-90B rounds it to 2.576; NIST's code
#: uses this value, ZALPHA, and so do we so that both give the same numbers).
Z_99 = 2.5758293035489008

#: MultiMCW window sizes (6.3.7).
MCW_WINDOWS = (63, 255, 1023, 4095)
#: Lag predictor depth (6.3.8).
LAG_DEPTH = 128
#: MultiMMC orders and dictionary bound per order (6.3.9).
MMC_DEPTH = 16
MMC_MAX_ENTRIES = 100_000
#: LZ78Y longest prefix and dictionary bound over all prefix lengths (6.3.10).
LZ78Y_DEPTH = 16
LZ78Y_MAX_ENTRIES = 65_536

_LOG_099 = math.log(0.99)
_ITERMAX = 1076


# ---- the predictor min-entropy (6.3.7 steps 4-6, shared by 6.3.8-6.3.10) -------------------

def _no_run_log_probability(p: float, r: int, n: int) -> float:
    """log P(no run of r correct guesses in n trials) for a predictor that is right with p.

    Written in y = x - 1 so that (N + 1) log x keeps its digits when x is within 1e-12 of 1.
    """
    q = 1.0 - p
    y = 0.0
    coefficient = q * p ** r
    for _ in range(200):
        y_next = coefficient * (1.0 + y) ** (r + 1)
        converged = y_next - y <= 1e-17 * (1.0 + y)
        y = y_next
        if converged:
            break
    return math.log(q - p * y) - math.log((1.0 - r * y) * q) - (n + 1.0) * math.log1p(y)


def _close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 4 * np.finfo(float).eps * max(abs(a), abs(b))


def _p_local(r: int, n: int, low: float) -> float:
    """Bisection on [low, 1] for the p whose no-run probability is 0.99 (NIST's calc_p_local)."""
    lo, hi = low, 1.0
    lo_val, hi_val = math.inf, -math.inf
    p = 0.5 * (lo + hi)
    val = _no_run_log_probability(p, r, n)
    for _ in range(_ITERMAX):
        if _close(val, _LOG_099):
            break
        if _LOG_099 < val:
            lo, lo_val = p, val
        else:
            hi, hi_val = p, val
        if lo >= hi:
            p = min(max(lo, hi), 1.0)
            break
        if not (hi_val <= _LOG_099 <= lo_val):
            p = 1.0
            break
        last = p
        p = 0.5 * (lo + hi)
        if not lo < p < hi or p == last:
            p = hi
            break
        val = _no_run_log_probability(p, r, n)
        if not (hi_val <= val <= lo_val):
            p = hi
            break
    return p


def prediction_estimate(correct: int, predictions: int, longest_run: int, k: int) -> dict:
    """Min-entropy from a predictor's score: ``correct`` of ``predictions``, runs up to ``longest_run``."""
    n = predictions
    p_global = correct / n
    if p_global > 0:
        p_global_bound = min(1.0, p_global + Z_99 * math.sqrt(p_global * (1.0 - p_global) / (n - 1.0)))
    else:
        p_global_bound = 1.0 - 0.01 ** (1.0 / n)
    r = longest_run + 1
    p = max(1.0 / k, p_global_bound)
    p_local = None
    if p < 1.0 and _no_run_log_probability(p, r, n) > _LOG_099:
        p_local = _p_local(r, n, p)
        p = max(p, p_local)
    return {"min_entropy": 0.0 if p >= 1.0 else -math.log2(p), "p_max": p,
            "params": {"N": n, "C": correct, "r": r, "k": k, "P_global": p_global,
                       "P_global_upper": p_global_bound, "P_local": p_local}}


# ---- 6.3.7 MultiMCW -------------------------------------------------------------------

def multi_mcw_score(s, k, windows):
    """(C, N, longest run) of the multi most-common-in-window predictor (NIST multi_mcw_test).

    Window j predicts the most common value of its last ``windows[j]`` samples, ties to the
    most recently seen; the predictor with the most correct guesses so far (ties to the
    larger window) makes the prediction. Binary samples in odd windows have no ties: the
    guess is the majority, kept as a count of ones.
    """
    windows = np.asarray(windows, dtype=np.int64)
    if k <= 2 and np.all(windows % 2 == 1):
        return _multi_mcw_binary(s, windows)
    return _multi_mcw(s, k, windows)


@njit(cache=True)
def _multi_mcw_binary(s, windows):
    nw = windows.size
    n = s.size
    scoreboard = np.zeros(nw, dtype=np.int64)
    ones = np.zeros(nw, dtype=np.int64)
    for i in range(windows[nw - 1]):
        for j in range(nw):
            if i < windows[j]:
                ones[j] += s[i]
    winner = 0
    correct = 0
    run = 0
    longest = 0
    for i in range(windows[0], n):
        x = s[i]
        if (2 * ones[winner] > windows[winner]) == x:
            correct += 1
            run += 1
            if run > longest:
                longest = run
        else:
            run = 0
        for j in range(nw):
            if i >= windows[j] and (2 * ones[j] > windows[j]) == x:
                scoreboard[j] += 1
                if scoreboard[j] >= scoreboard[winner]:
                    winner = j
        for j in range(nw):
            if i >= windows[j]:
                ones[j] += x - s[i - windows[j]]
    return correct, n - windows[0], longest


@njit(cache=True)
def _multi_mcw(s, k, windows):
    nw = windows.size
    n = s.size
    scoreboard = np.zeros(nw, dtype=np.int64)
    max_cnts = np.zeros(nw, dtype=np.int64)
    frequent = np.zeros(nw, dtype=np.int64)
    win_cnts = np.zeros((nw, k), dtype=np.int64)
    win_poses = np.zeros((nw, k), dtype=np.int64)
    for i in range(windows[nw - 1]):
        for j in range(nw):
            if i < windows[j]:
                x = s[i]
                win_cnts[j, x] += 1
                if max_cnts[j] <= win_cnts[j, x]:
                    max_cnts[j] = win_cnts[j, x]
                    frequent[j] = x
                win_poses[j, x] = i
    winner = 0
    correct = 0
    run = 0
    longest = 0
    for i in range(windows[0], n):
        x = s[i]
        if frequent[winner] == x:
            correct += 1
            run += 1
            if run > longest:
                longest = run
        else:
            run = 0
        for j in range(nw):
            if i >= windows[j] and frequent[j] == x:
                scoreboard[j] += 1
                if scoreboard[j] >= scoreboard[winner]:
                    winner = j
        for j in range(nw):
            w = windows[j]
            if i >= w:
                out = s[i - w]
                win_cnts[j, out] -= 1
                win_cnts[j, x] += 1
                win_poses[j, x] = i
                if out != frequent[j] and max_cnts[j] <= win_cnts[j, x]:
                    max_cnts[j] = win_cnts[j, x]
                    frequent[j] = x
                elif out == frequent[j]:
                    max_cnts[j] -= 1
                    max_pos = i - w
                    for v in range(k):
                        c = win_cnts[j, v]
                        if max_cnts[j] < c or (max_cnts[j] == c and max_pos <= win_poses[j, v]):
                            max_cnts[j] = c
                            frequent[j] = v
                            max_pos = win_poses[j, v]
    return correct, n - windows[0], longest


# ---- 6.3.8 Lag ------------------------------------------------------------------------

@njit(cache=True)
def _lag(s, rev, scoreboard, depth):
    n = s.size
    winner = 0
    correct = 0
    run = 0
    longest = 0
    typed = scoreboard[:2].copy()  # 0 and 1 in the scoreboard's integer type
    typed[0] = 0
    typed[1] = 1
    one = typed[1]
    for i in range(1, n):
        x = s[i]
        if s[i - winner - 1] == x:
            correct += 1
            run += 1
            if run > longest:
                longest = run
        else:
            run = 0
        lags = min(depth, i)
        base = n - i
        past = rev[base: base + lags]
        score = scoreboard[:lags]
        for d in range(lags):
            score[d] += one * (past[d] == x)
        best = typed[0]
        for d in range(lags):
            key = (score[d] * depth + d) * (one * (past[d] == x))
            best = max(best, key)
        if best > 0 and best // depth >= scoreboard[winner]:
            winner = best % depth
    return correct, n - 1, longest


def lag_score(s, depth=LAG_DEPTH):
    """(C, N, longest run) of the lag predictor: guess s[i] = s[i - d] for the lag d in 1..depth
    that has been right most often so far (ties to the larger lag).

    The standard walks d = 1..D and makes d the winner when its score reaches the winner's.
    Equivalently the new winner is the largest lag among those right this round whose score
    is the highest of them, if that reaches the old winner's: one max over ``score * D + d``
    of the lags that were right, loops the compiler vectorises (int32 while they fit).
    """
    s = np.ascontiguousarray(s)
    dtype = np.int32 if (s.size + 1) * depth < 2 ** 31 else np.int64
    s = s.astype(dtype)
    return _lag(s, s[::-1].copy(), np.zeros(depth, dtype=dtype), depth)


# ---- shared by MultiMMC and LZ78Y on alphabets wider than binary -----------------------

@njit(cache=True, inline="always")
def _slot(table_hi, table_lo, table_tag, tag, hi, lo):
    """Open-addressing slot of (tag, hi, lo): its own slot if present, else the empty one to fill."""
    mask = np.uint64(table_tag.size - 1)
    h = lo * np.uint64(0x9E3779B97F4A7C15) ^ hi * np.uint64(0xC2B2AE3D27D4EB4F)
    h ^= np.uint64(tag) * np.uint64(0x165667B19E3779F9)
    h ^= h >> np.uint64(29)
    i = np.int64(h & mask)
    while table_tag[i] != 0 and not (table_tag[i] == tag and table_hi[i] == hi and table_lo[i] == lo):
        i = (i + 1) & np.int64(mask)
    return i


@njit(cache=True, inline="always")
def _pair_slot(keys, key):
    mask = keys.size - 1
    h = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
    i = np.int64((h ^ (h >> np.uint64(31))) & np.uint64(mask))
    while keys[i] != 0 and keys[i] != key:
        i = (i + 1) & mask
    return i


@njit(cache=True, inline="always")
def _bump(best_count, best_y, ctx, y, count):
    """NIST's PostfixDictionary: the prediction is the most counted y, ties to the larger y."""
    if count > best_count[ctx] or (count == best_count[ctx] and y > best_y[ctx]):
        best_count[ctx] = count
        best_y[ctx] = y


def _count_table(n: int, depth: int) -> np.ndarray:
    """Dense (context, follower) counts for every order 1..depth, int32 while counts fit."""
    return np.zeros((1 << (depth + 2)) - 4, dtype=np.int32 if n < 2 ** 31 - 1 else np.int64)


def _multi_mmc_binary(s, depth, max_entries):
    """NIST's binaryMultiMMCPredictionEstimate: dense count tables per order."""
    return _multi_mmc_binary_kernel(s, depth, max_entries, _count_table(s.size, depth))


def _lz78y_binary(s, depth, max_entries):
    """NIST's binaryLZ78YPredictionEstimate: dense count tables per prefix length."""
    return _lz78y_binary_kernel(s, depth, max_entries, _count_table(s.size, depth))


# ---- 6.3.9 MultiMMC -------------------------------------------------------------------

@njit(cache=True, inline="always")
def _score_order(scoreboard, d, hit, winner, cur_winner, correct, run, longest):
    """MultiMMC's bookkeeping for order ``d``'s prediction: its score (the newest best order
    wins ties), and, when ``d`` was the winner whose prediction counts, the hits and runs."""
    if hit:
        scoreboard[d] += 1
        if scoreboard[d] >= scoreboard[winner]:
            winner = d
        if d == cur_winner:
            correct += 1
            run += 1
            if run > longest:
                longest = run
    elif d == cur_winner:
        run = 0
    return winner, correct, run, longest


@njit(cache=True)
def _multi_mmc_binary_kernel(s, depth, max_entries, table):
    n = s.size
    offsets = np.zeros(depth + 1, dtype=np.int64)
    for d in range(depth):
        offsets[d + 1] = offsets[d] + (np.int64(1) << (d + 2))
    entries = np.zeros(depth, dtype=np.int64)
    scoreboard = np.zeros(depth, dtype=np.int64)
    pattern = np.int64(0)
    for d in range(depth):
        pattern = (pattern << 1) | s[d]
        table[offsets[d] + ((pattern & ((np.int64(1) << (d + 1)) - 1)) << 1) + s[d + 1]] = 1
        entries[d] = 1
    winner = 0
    correct = 0
    run = 0
    longest = 0
    prediction = 0
    history = np.int64(s[0])  # s[i-1] in bit 0, s[i-2] in bit 1, ...
    for i in range(2, n):
        x = s[i]
        found = False
        cur_winner = winner
        history = ((history << 1) | s[i - 1]) & ((np.int64(1) << depth) - 1)
        for d in range(min(depth, i - 1)):
            at = offsets[d] + ((history & ((np.int64(2) << d) - 1)) << 1)
            if d == 0 or found:
                c0 = table[at]
                c1 = table[at + 1]
                prediction = 0 if c0 > c1 else 1
                found = (c0 if c0 > c1 else c1) != 0
            if found:
                winner, correct, run, longest = _score_order(
                    scoreboard, d, prediction == x, winner, cur_winner, correct, run, longest)
                if table[at + x] != 0:
                    table[at + x] += 1
                elif entries[d] < max_entries:
                    table[at + x] = 1
                    entries[d] += 1
            elif entries[d] < max_entries:
                table[at + x] = 1
                entries[d] += 1
    return correct, n - 2, longest


@njit(cache=True)
def _multi_mmc_general(s, depth, max_entries):
    """NIST's multi_mmc_test for alphabets of up to 256 values, with exact hash tables."""
    n = s.size
    cap = 1
    while cap < 2 * (max_entries + 1):
        cap <<= 1
    ctx_hi = np.zeros((depth, cap), dtype=np.uint64)
    ctx_lo = np.zeros((depth, cap), dtype=np.uint64)
    ctx_tag = np.zeros((depth, cap), dtype=np.int64)  # 1 = occupied
    ctx_id = np.zeros((depth, cap), dtype=np.int64)
    pair_key = np.zeros((depth, cap), dtype=np.int64)  # (context id * 256 + y) + 1; 0 = empty
    pair_count = np.zeros((depth, cap), dtype=np.int64)
    best_count = np.zeros(depth * (max_entries + 2), dtype=np.int64)
    best_y = np.zeros(depth * (max_entries + 2), dtype=np.int64)
    contexts = 0
    entries = np.zeros(depth, dtype=np.int64)
    scoreboard = np.zeros(depth, dtype=np.int64)

    for phase in range(2):
        # phase 0: NIST's initialisation, the (s[0..d], s[d+1]) pair of every order d;
        # phase 1: the predictions, i = 2 .. n-1.
        start, stop = (0, 1) if phase == 0 else (2, n)
        winner = 0
        correct = 0
        run = 0
        longest = 0
        for i in range(start, stop):
            cur_winner = winner
            found = False
            hi = np.uint64(0)
            lo = np.uint64(0)
            limit = min(depth, i - 1) if phase == 1 else min(depth, n - 2)
            ctx = -1
            for d in range(limit):
                if phase == 0:
                    # context s[0..d] predicting s[d+1]; most recent symbol in the low byte
                    hi = np.uint64(0)
                    lo = np.uint64(0)
                    for e in range(d + 1):
                        sym = np.uint64(s[d - e])
                        if e < 8:
                            lo |= sym << np.uint64(8 * e)
                        else:
                            hi |= sym << np.uint64(8 * (e - 8))
                    y = s[d + 1]
                else:
                    sym = np.uint64(s[i - d - 1])
                    if d < 8:
                        lo |= sym << np.uint64(8 * d)
                    else:
                        hi |= sym << np.uint64(8 * (d - 8))
                    y = s[i]
                look = phase == 1 and (d == 0 or found)
                if not (look or phase == 0 or entries[d] < max_entries):
                    continue  # nothing to predict, nothing to add at this order
                slot = _slot(ctx_hi[d], ctx_lo[d], ctx_tag[d], 1, hi, lo)
                if look:
                    found = ctx_tag[d, slot] != 0
                    ctx = ctx_id[d, slot]
                if phase == 1 and found:
                    winner, correct, run, longest = _score_order(
                        scoreboard, d, best_y[ctx] == y, winner, cur_winner, correct, run, longest)
                    key = ctx * 256 + y + 1
                    ps = _pair_slot(pair_key[d], key)
                    if pair_key[d, ps] != 0:
                        pair_count[d, ps] += 1
                        _bump(best_count, best_y, ctx, y, pair_count[d, ps])
                    elif entries[d] < max_entries:
                        pair_key[d, ps] = key
                        pair_count[d, ps] = 1
                        _bump(best_count, best_y, ctx, y, 1)
                        entries[d] += 1
                elif phase == 0 or entries[d] < max_entries:
                    if ctx_tag[d, slot] == 0:
                        ctx_hi[d, slot] = hi
                        ctx_lo[d, slot] = lo
                        ctx_tag[d, slot] = 1
                        ctx_id[d, slot] = contexts
                        contexts += 1
                    c = ctx_id[d, slot]
                    key = c * 256 + y + 1
                    ps = _pair_slot(pair_key[d], key)
                    if pair_key[d, ps] == 0:
                        pair_key[d, ps] = key
                    pair_count[d, ps] += 1
                    _bump(best_count, best_y, c, y, pair_count[d, ps])
                    entries[d] = 1 if phase == 0 else entries[d] + 1
    return correct, n - 2, longest


def multi_mmc_score(s, k, depth=MMC_DEPTH, max_entries=MMC_MAX_ENTRIES):
    """(C, N, longest run) of the multi Markov-model-with-counting predictor (6.3.9)."""
    if k <= 2:
        return _multi_mmc_binary(s, depth, max_entries)
    return _multi_mmc_general(s, depth, max_entries)


# ---- 6.3.10 LZ78Y ---------------------------------------------------------------------

@njit(cache=True)
def _lz78y_binary_kernel(s, depth, max_entries, table):
    n = s.size
    offsets = np.zeros(depth + 1, dtype=np.int64)
    for j in range(depth):
        offsets[j + 1] = offsets[j] + (np.int64(1) << (j + 2))
    pattern = np.int64(0)
    elems = 0
    for j in range(depth):
        pattern |= np.int64(s[depth - j - 1]) << j
        table[offsets[j] + (pattern << 1) + s[depth]] = 1
        elems += 1
    correct = 0
    run = 0
    longest = 0
    window = (np.int64(1) << depth) - 1
    full = np.int64(0)
    for e in range(depth):  # the depth samples before i = depth + 1, oldest most significant
        full = (full << 1) | s[e]
    for i in range(depth + 1, n):
        x = s[i]
        full = ((full << 1) | s[i - 1]) & window
        have = False
        prediction = 2
        max_count = 0
        for length in range(depth, 0, -1):
            pattern = full & ((np.int64(1) << length) - 1)
            at = offsets[length - 1] + (pattern << 1)
            c0 = table[at]
            c1 = table[at + 1]
            count = c0 if c0 > c1 else c1
            if count != 0:
                if count > max_count:
                    max_count = count
                    have = True
                    prediction = 0 if c0 > c1 else 1
                table[at + x] += 1
            elif elems < max_entries:
                table[at + x] = 1
                elems += 1
        if have and prediction == x:
            correct += 1
            run += 1
            if run > longest:
                longest = run
        else:
            run = 0
    return correct, n - depth - 1, longest


@njit(cache=True)
def _lz78y_general(s, k, depth, max_entries):
    """NIST's LZ78Y_test for alphabets of up to 256 values: hashed prefixes, dense postfix counts."""
    n = s.size
    cap = 1
    while cap < 2 * (max_entries + depth):
        cap <<= 1
    ctx_hi = np.zeros(cap, dtype=np.uint64)
    ctx_lo = np.zeros(cap, dtype=np.uint64)
    ctx_tag = np.zeros(cap, dtype=np.int64)
    ctx_id = np.zeros(cap, dtype=np.int64)
    limit = max_entries + depth
    counts = np.zeros((limit, k), dtype=np.int32)
    best_count = np.zeros(limit, dtype=np.int64)
    best_y = np.zeros(limit, dtype=np.int64)
    contexts = 0
    correct = 0
    run = 0
    longest = 0
    for i in range(depth, n):
        x = s[i]
        have = False
        prediction = 0
        max_count = 0
        for length in range(depth, 0, -1):
            hi = np.uint64(0)
            lo = np.uint64(0)
            for e in range(length):
                sym = np.uint64(s[i - 1 - e])
                if e < 8:
                    lo |= sym << np.uint64(8 * e)
                else:
                    hi |= sym << np.uint64(8 * (e - 8))
            slot = _slot(ctx_hi, ctx_lo, ctx_tag, length, hi, lo)
            if ctx_tag[slot] != 0:
                c = ctx_id[slot]
                if i > depth and best_count[c] > max_count:
                    max_count = best_count[c]
                    prediction = best_y[c]
                    have = True
                counts[c, x] += 1
                _bump(best_count, best_y, c, x, counts[c, x])
            elif i == depth or contexts < max_entries:
                ctx_tag[slot] = length
                ctx_hi[slot] = hi
                ctx_lo[slot] = lo
                ctx_id[slot] = contexts
                counts[contexts, x] = 1
                _bump(best_count, best_y, contexts, x, 1)
                contexts += 1
        if i > depth:
            if have and prediction == x:
                correct += 1
                run += 1
                if run > longest:
                    longest = run
            else:
                run = 0
    return correct, n - depth - 1, longest


def lz78y_score(s, k, depth=LZ78Y_DEPTH, max_entries=LZ78Y_MAX_ENTRIES):
    """(C, N, longest run) of the LZ78Y predictor (6.3.10)."""
    if k <= 2:
        return _lz78y_binary(s, depth, max_entries)
    return _lz78y_general(s, k, depth, max_entries)
