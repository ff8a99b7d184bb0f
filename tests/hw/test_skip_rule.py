"""The skip rule (:func:`model.skip_rotation`) against the guarantees its docstring states.

For column-pair sums with ``gamma**2 <= alpha*beta`` (Cauchy-Schwarz) and threshold ``T``:

* sound: a skipped pair has ``gamma == 0`` or ``gamma**2 * 4**T < alpha*beta``, i.e.
  ``|gamma| < 2**-T sqrt(alpha*beta)``;
* not arbitrarily timid: every pair with ``gamma**2 * 2**(2T+3) <= alpha*beta`` is skipped.

Both are checked with exact Python integers, independently of the RTL, on random sums and
on the extremal pairs of each direction (the first fails with a margin of ``2T+1``, the
second with ``2T+3``).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rosvd.hw.svd import model
from rosvd.hw.svd.params import SVDParams

#: Thresholds at both ends of the range and the ones in use, each at the widest dot products.
PARAMS = {t: SVDParams(n=64, units=32, data_width=16, guard_bits=4, skip_shift=t) for t in (1, 4, 12, 30)}


def dot_max(params: SVDParams) -> int:
    return (1 << (params.dot_width - 1)) - 1


def skips(params: SVDParams, cases) -> list[bool]:
    alpha, beta, gamma = (np.array([c[i] for c in cases], dtype=np.int64) for i in range(3))
    return [bool(v) for v in model.skip_rotation(params, alpha, beta, gamma)]


def must_rotate(params: SVDParams, alpha: int, beta: int, gamma: int) -> bool:
    """The spec forbids skipping: |gamma| >= 2**-T sqrt(alpha*beta), gamma != 0."""
    return gamma != 0 and gamma * gamma * 4 ** params.skip_shift >= alpha * beta


def must_skip(params: SVDParams, alpha: int, beta: int, gamma: int) -> bool:
    return gamma * gamma * 2 ** (2 * params.skip_shift + 3) <= alpha * beta


def check(params: SVDParams, cases) -> None:
    for (alpha, beta, gamma), skip in zip(cases, skips(params, cases), strict=True):
        assert gamma * gamma <= alpha * beta, "test case outside the unit's domain"
        if skip:
            assert not must_rotate(params, alpha, beta, gamma), ("skipped", alpha, beta, gamma)
        else:
            assert not must_skip(params, alpha, beta, gamma), ("rotated", alpha, beta, gamma)


def extremal_cases(params: SVDParams) -> list[tuple[int, int, int]]:
    """Pairs at each guarantee's edge, for every gamma bit length that fits.

    Must rotate: ``|gamma| = 2**L - 1``, ``alpha``, ``beta`` powers of two with
    ``bl(alpha) + bl(beta) = 2L + 2T + 1`` (a product as small as those bit lengths allow,
    ``4**T gamma**2`` above it; ``L >= 2``). Must skip: ``gamma = 2**(L-1)``, ``alpha = 3 * 2**x``,
    ``beta = 3 * 2**y``, ``x + y = 2L + 2T - 2`` (``alpha*beta = 2.25 * 2**(2L+2T)``, the
    largest product for bit lengths ``2L + 2T + 2``).
    """
    t, top = params.skip_shift, dot_max(params)
    cases = []
    for length in range(1, params.dot_width):
        total = 2 * length + 2 * t + 1                     # bl(alpha) + bl(beta), powers of two
        alpha_bits = total // 2
        alpha, beta = 1 << (alpha_bits - 1), 1 << (total - alpha_bits - 1)
        gamma = (1 << length) - 1
        if length >= 2 and max(alpha, beta) <= top:     # (2**L - 1)**2 >= 2**(2L-1) needs L >= 2
            cases += [(alpha, beta, gamma), (beta, alpha, -gamma)]
        x = length + t - 1
        y = 2 * length + 2 * t - 2 - x
        alpha, beta = 3 << x, 3 << y
        if max(alpha, beta) <= top:
            cases += [(alpha, beta, 1 << (length - 1)), (beta, alpha, -(1 << (length - 1)))]
    return cases


@pytest.mark.parametrize("t", PARAMS)
def test_extremal_pairs_are_decided_as_the_guarantees_require(t):
    params = PARAMS[t]
    cases = extremal_cases(params)
    assert len(cases) > 40
    decided = skips(params, cases)
    assert all(must_rotate(params, *c) != must_skip(params, *c) for c in cases)
    assert [not must_rotate(params, *c) for c in cases] == decided
    check(params, cases)


def test_worked_boundary_example():
    """T = 4: gamma = 255 (8 bits); alpha = 2**12, beta = 2**12 (13 bits each, 26 = 2*8 + 8 + 2).
    4**4 * 255**2 = 16,646,400 < 2**24 = 16,777,216: skipped. gamma = 256 (9 bits): rotated.
    Halving beta (25 bits): 4**4 * 255**2 > 2**23, so it must be rotated, and it is."""
    params = PARAMS[4]
    assert skips(params, [(1 << 12, 1 << 12, 255), (1 << 12, 1 << 12, 256), (1 << 12, 1 << 11, 255)]) \
        == [True, False, False]


def test_zero_gamma_is_skipped_and_disabled_threshold_skips_only_zero():
    params = PARAMS[12]
    top = dot_max(params)
    assert skips(params, [(0, 0, 0), (top, top, 0), (top, 0, 0)]) == [True, True, True]
    off = SVDParams(n=64, units=32, data_width=16, guard_bits=4)
    assert skips(off, [(top, top, 0), (top, top, 1), (top, top, -1)]) == [True, False, False]


@st.composite
def pair_sums(draw, params: SVDParams):
    """alpha, beta in the port's width (log-uniform magnitudes), gamma**2 <= alpha*beta,
    often near the threshold ``2**-T sqrt(alpha*beta)``."""
    def magnitude(limit):
        bits = draw(st.integers(0, limit.bit_length()))
        return draw(st.integers(0, min((1 << bits) - 1, limit)))

    top = dot_max(params)
    alpha = magnitude(top)
    beta = magnitude(top)
    bound = math.isqrt(alpha * beta)
    kind = draw(st.sampled_from(["threshold", "log", "uniform"]))
    if kind == "threshold":
        gamma = min(bound, math.isqrt(alpha * beta >> (2 * params.skip_shift)) + draw(st.integers(-3, 3)))
        gamma = max(gamma, 0)
    elif kind == "log":
        gamma = magnitude(bound)
    else:
        gamma = draw(st.integers(0, bound))
    return alpha, beta, -gamma if draw(st.booleans()) else gamma


@pytest.mark.parametrize("t", PARAMS)
def test_random_pairs_meet_both_guarantees(t):
    params = PARAMS[t]

    @settings(max_examples=150, deadline=None)
    @given(st.lists(pair_sums(params), min_size=1, max_size=20))
    def run(cases):
        check(params, cases)

    run()
