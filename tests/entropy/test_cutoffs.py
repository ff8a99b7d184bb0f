"""The health-test cutoffs equal SP 800-90B's definitions, recomputed independently.

RCT: ``1 + ceil(-log2(alpha) / H)``, checked with exact rationals. APT: the smallest C
with ``P(Binomial(W, 2**-H) >= C) <= alpha``, checked at C-1 and C with exact rational
arithmetic (``p`` is the double ``2**-H`` as an exact fraction) and with scipy.
"""
from __future__ import annotations

import math
from fractions import Fraction

import pytest

from rosvd.hw.entropy.cutoffs import apt_cutoff_for, rct_cutoff_for
from rosvd.hw.entropy.params import EntropyParams

#: (alpha exponent, H) pairs covering the default, full entropy, and awkward ratios.
CASES = [(20, 0.5), (20, 1.0), (20, 0.8), (30, 0.5), (40, 0.25), (20, 0.3), (20, 0.9)]


def exact_tail(window: int, p: Fraction, count: int) -> Fraction:
    q = 1 - p
    return sum((math.comb(window, k) * p ** k * q ** (window - k) for k in range(count, window + 1)),
               Fraction(0))


@pytest.mark.parametrize("alpha_exponent, h", CASES)
def test_rct_cutoff_is_one_plus_ceil(alpha_exponent, h):
    ratio = Fraction(alpha_exponent) / Fraction(str(h))          # H as the decimal it was written
    expected = 1 + math.ceil(ratio)
    assert rct_cutoff_for(alpha_exponent, h) == expected
    # The defining property: (C-1) repetitions are unlikely enough, C-2 are not.
    assert (expected - 1) * Fraction(str(h)) >= alpha_exponent > (expected - 2) * Fraction(str(h))


def test_default_cutoffs_values():
    p = EntropyParams()
    assert (p.alpha, p.min_entropy, p.apt_window) == (2.0 ** -20, 0.5, 1024)
    assert p.rct_cutoff == 41
    assert p.apt_cutoff == 793
    assert EntropyParams(min_entropy=1.0).apt_cutoff == 589


#: Exact rationals cost ~1-3 s per case: the default, full entropy, a larger alpha
#: exponent, a low H, and a smaller window (scipy covers all of CASES).
EXACT_CASES = [(20, 0.5, 1024), (20, 1.0, 1024), (30, 0.5, 1024), (20, 0.3, 1024), (20, 0.5, 512)]


@pytest.mark.parametrize("alpha_exponent, h, window", EXACT_CASES)
def test_apt_cutoff_exact(alpha_exponent, h, window):
    cutoff = apt_cutoff_for(alpha_exponent, h, window)
    p = Fraction(2.0 ** -h)
    alpha = Fraction(1, 2 ** alpha_exponent)
    assert exact_tail(window, p, cutoff) <= alpha
    assert exact_tail(window, p, cutoff - 1) > alpha


@pytest.mark.parametrize("alpha_exponent, h", CASES)
def test_apt_cutoff_scipy(alpha_exponent, h):
    stats = pytest.importorskip("scipy.stats")
    cutoff = apt_cutoff_for(alpha_exponent, h, 1024)
    # SP 800-90B's formula: 1 + CRITBINOM(W, 2**-H, 1 - alpha).
    assert cutoff == 1 + int(stats.binom.ppf(1 - 2.0 ** -alpha_exponent, 1024, 2.0 ** -h))
    assert stats.binom.sf(cutoff - 1, 1024, 2.0 ** -h) <= 2.0 ** -alpha_exponent
