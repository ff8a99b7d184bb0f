"""Tuple statistics of a sample sequence from its suffix array, for every tuple length.

The t-tuple and LRS estimates of SP 800-90B (6.3.5, 6.3.6) need, for each length W, the
count of the most common W-tuple, ``Q[W]``, and the number of colliding pairs of
W-tuples, ``S[W] = sum_i C(c_i, 2)`` over the counts ``c_i`` of the distinct W-tuples, for
every W up to the length ``v`` of the longest repeated substring. NIST's ``ea_non_iid``
gets them from a suffix array and its LCP array (Kaufer's algorithm); so do we, with no
limit on W:

* the suffix array by prefix doubling: a first sort on the first ``64 // b`` symbols packed
  into a uint64 (``b`` bits per symbol), then doubling rounds over the groups still tied
  only (for noise-like data no tie survives the first sort);
* the LCP array by Kasai's algorithm (numba, O(n));
* one pass over the lcp-intervals with a stack (numba, O(n)): an interval of ``m``
  suffixes whose common prefix is ``l`` long, nested in one whose prefix is ``l' < l``,
  is exactly the set of occurrences of one W-tuple for every W in ``(l', l]``. So
  ``Q[W]`` is the largest ``m`` over intervals with ``l >= W`` and ``S[W]`` adds ``C(m, 2)``
  over ``(l', l]`` (a difference array).

Returned as a :class:`TupleStats`; ``tests/entropy/test_estimators.py`` checks it against
a brute-force count.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from numba import njit


@dataclasses.dataclass(frozen=True)
class TupleStats:
    """``q[W]`` and ``pairs[W]`` for W = 0..v (index 0 unused); ``v`` the longest repeat."""

    n: int
    v: int
    q: np.ndarray
    pairs: np.ndarray


@njit(cache=True)
def _packed_keys(s, bits, per_key):
    """key[i] = s[i], ..., s[i + per_key - 1] packed MSB first, zeros past the end."""
    n = s.size
    keys = np.zeros(n, dtype=np.uint64)
    top = np.uint64(bits * (per_key - 1))
    shift = np.uint64(bits)
    acc = np.uint64(0)
    for i in range(n - 1, -1, -1):
        acc = (acc >> shift) | (np.uint64(s[i]) << top)
        keys[i] = acc
    return keys


@njit(cache=True)
def _sort_keys(keys, key_bits):
    """argsort of uint64 keys below 2^key_bits: one counting pass on the top 16 bits, then a
    comparison sort inside each bucket (noise-like data leaves ~n / 65536 keys per bucket)."""
    n = keys.size
    shift = np.uint64(max(0, key_bits - 16))
    count = np.zeros(65537, dtype=np.int64)
    for i in range(n):
        count[np.int64(keys[i] >> shift) + 1] += 1
    for d in range(65536):
        count[d + 1] += count[d]
    starts = count.copy()
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        d = np.int64(keys[i] >> shift)
        order[starts[d]] = i
        starts[d] += 1
    for d in range(65536):
        lo, hi = count[d], count[d + 1]
        if hi - lo > 1:
            part = order[lo:hi].copy()
            sub = np.argsort(keys[part])
            order[lo:hi] = part[sub]
    return order


@njit(cache=True)
def _group_ranks(sorted_keys):
    """rank of each sorted slot: the slot where its run of equal keys starts."""
    n = sorted_keys.size
    rank = np.empty(n, dtype=np.int64)
    start = 0
    for i in range(n):
        if i > 0 and sorted_keys[i] != sorted_keys[i - 1]:
            start = i
        rank[i] = start
    return rank


def _sorted_suffixes(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """(suffix array, packed keys by position, packed keys in suffix-array order, bits, per_key)."""
    n = s.size
    bits = max(1, int(s.max()).bit_length())
    per_key = max(1, 64 // bits)
    keys = _packed_keys(s, bits, per_key)
    order = _sort_keys(keys, bits * per_key)
    sorted_keys = keys[order]
    same = sorted_keys[1:] == sorted_keys[:-1]
    if same.any():
        _refine_ties(order, sorted_keys, same, n, per_key)
    return order, keys, sorted_keys, bits, per_key


def _refine_ties(order, sorted_keys, same, n, h) -> None:
    """Prefix doubling over the groups of equal keys only, in place on ``order``."""
    rank = np.empty(n, dtype=np.int64)
    rank[order] = _group_ranks(sorted_keys)
    tied = np.zeros(n, dtype=bool)
    tied[1:] = same
    tied[:-1] |= same
    while tied.any():
        slots = np.flatnonzero(tied)
        pos = order[slots]
        first = rank[pos]
        after = pos + h
        # Past the end: negative and decreasing with the position, so a shorter suffix sorts first.
        second = np.where(after < n, rank[np.minimum(after, n - 1)], -1 - pos)
        sub = np.argsort(first * (2 * n + 1) + (second + n))  # (first, second) as one int64 key
        pos, first, second = pos[sub], first[sub], second[sub]
        order[slots] = pos
        new_group = np.ones(slots.size, dtype=bool)
        new_group[1:] = (first[1:] != first[:-1]) | (second[1:] != second[:-1])
        starts = slots[np.flatnonzero(new_group)]
        rank[pos] = starts[np.cumsum(new_group) - 1]
        still = np.zeros(slots.size, dtype=bool)
        still[1:] = ~new_group[1:]
        still[:-1] |= still[1:].copy()
        tied[:] = False
        tied[slots[still]] = True
        h *= 2


def suffix_array(s: np.ndarray) -> np.ndarray:
    """Suffix array of a sequence of small non-negative integers (a shorter suffix sorts first)."""
    return _sorted_suffixes(np.ascontiguousarray(s, dtype=np.int64))[0]


@njit(cache=True)
def _bit_length(x):
    length = 0
    for shift in (32, 16, 8, 4, 2, 1):
        if x >= (np.uint64(1) << np.uint64(shift)):
            x >>= np.uint64(shift)
            length += shift
    return length + (1 if x > 0 else 0)


@njit(cache=True)
def _lcp_from_keys(sa, keys, sorted_keys, bits, per_key):
    """LCP of neighbours from their packed keys; tied keys compared a word at a time.

    Returns (lcp, ok): ok is False when the tied pairs cost more than ~2 n word compares (a
    periodic source), and Kasai's algorithm should be used instead.
    """
    n = sa.size
    key_bits = bits * per_key
    lcp = np.zeros(n, dtype=np.int64)
    budget = 2 * n + 1024
    for k in range(1, n):
        i = sa[k]
        j = sa[k - 1]
        cap = n - (i if i > j else j)
        x = sorted_keys[k] ^ sorted_keys[k - 1]
        if x != 0:
            h = (key_bits - _bit_length(x)) // bits
        else:
            h = per_key
            while h < cap:
                budget -= 1
                if budget < 0:
                    return lcp, False
                y = keys[i + h] ^ keys[j + h]
                if y != 0:
                    h += (key_bits - _bit_length(y)) // bits
                    break
                h += per_key
        lcp[k] = h if h < cap else cap
    return lcp, True


@njit(cache=True)
def _kasai(s, sa):
    """lcp[k] = longest common prefix of suffixes sa[k - 1] and sa[k]; lcp[0] = 0."""
    n = s.size
    rank = np.empty(n, dtype=np.int64)
    for k in range(n):
        rank[sa[k]] = k
    lcp = np.zeros(n, dtype=np.int64)
    h = 0
    for i in range(n):
        k = rank[i]
        if k > 0:
            j = sa[k - 1]
            while i + h < n and j + h < n and s[i + h] == s[j + h]:
                h += 1
            lcp[k] = h
            if h > 0:
                h -= 1
        else:
            h = 0
    return lcp


@njit(cache=True)
def _interval_stats(lcp):
    """Walk the lcp-intervals: (v, best[l] = largest interval with lcp l, pair-sum difference array)."""
    n = lcp.size
    v = 0
    for k in range(n):
        if lcp[k] > v:
            v = lcp[k]
    best = np.zeros(v + 2, dtype=np.int64)
    diff = np.zeros(v + 2, dtype=np.int64)
    stack_lcp = np.zeros(n + 1, dtype=np.int64)
    stack_lb = np.zeros(n + 1, dtype=np.int64)
    top = 0  # stack_lcp[0] = 0: the root interval, never reported
    for i in range(1, n + 1):
        cur = lcp[i] if i < n else 0
        lb = i - 1
        while cur < stack_lcp[top]:
            l_top = stack_lcp[top]
            lb = stack_lb[top]
            top -= 1
            size = i - lb  # suffixes lb .. i - 1
            parent = stack_lcp[top] if stack_lcp[top] > cur else cur
            if size > best[l_top]:
                best[l_top] = size
            c2 = size * (size - 1) // 2
            diff[parent + 1] += c2
            diff[l_top + 1] -= c2
        if cur > stack_lcp[top]:
            top += 1
            stack_lcp[top] = cur
            stack_lb[top] = lb
    return v, best, diff


def lcp_array(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(suffix array, LCP array) of ``s``; ``lcp[k]`` is the common prefix of ``sa[k-1]`` and ``sa[k]``."""
    s = np.ascontiguousarray(s, dtype=np.int64)
    sa, keys, sorted_keys, bits, per_key = _sorted_suffixes(s)
    lcp, ok = _lcp_from_keys(sa, keys, sorted_keys, bits, per_key)
    if not ok:
        lcp = _kasai(s, sa)
    return sa, lcp


def tuple_stats(s: np.ndarray) -> TupleStats:
    """``Q[W]`` and ``S[W]`` for every W = 1..v of the sequence ``s`` (see the module docstring)."""
    s = np.ascontiguousarray(s, dtype=np.int64)
    _, lcp = lcp_array(s)
    v, best, diff = _interval_stats(lcp)
    q = np.maximum.accumulate(best[: v + 1][::-1])[::-1].copy()
    pairs = np.cumsum(diff)[: v + 1]
    q[0] = 0
    pairs[0] = 0
    return TupleStats(int(s.size), int(v), q, pairs)
