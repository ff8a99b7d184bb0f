"""Cutoffs of the SP 800-90B continuous health tests, derived from alpha and H at elaboration.

Repetition count test (SP 800-90B 4.4.1). A run of ``C`` identical samples from a source
with min-entropy ``H`` per sample has probability at most ``(2**-H)**(C-1)`` (the first
sample is free, each repetition has probability at most ``2**-H``). Requiring that to be
at most alpha gives ``(C-1) * H >= -log2(alpha)``, so::

    C_RCT = 1 + ceil(-log2(alpha) / H)

With alpha = 2**-20 and H = 0.5: C_RCT = 1 + ceil(20 / 0.5) = 41.

Adaptive proportion test (SP 800-90B 4.4.2). In a window of ``W`` samples the count ``B``
of samples equal to the window's first sample is (for the worst-case source with
min-entropy ``H``, whose most likely value has probability ``p = 2**-H``) at most
Binomial(W, p) distributed. The cutoff is the smallest ``C`` with ``P(B >= C) <= alpha``,
which is SP 800-90B's ``1 + CRITBINOM(W, 2**-H, 1 - alpha)``. With alpha = 2**-20,
H = 0.5 and W = 1024: C_APT = 793 (mean 724, standard deviation 14.6);
with H = 1 the same rule gives 589.

The tail sum is evaluated in double precision through logarithms (the terms span
hundreds of orders of magnitude); ``tests/entropy/test_cutoffs.py`` recomputes it with
exact rational arithmetic and with scipy.
"""
from __future__ import annotations

import functools
import math

from .params import EntropyParams


def rct_cutoff_for(alpha_exponent: int, min_entropy: float) -> int:
    """``1 + ceil(alpha_exponent / H)``, with ``-log2(alpha) = alpha_exponent`` exactly."""
    # A ratio that is an integer up to rounding (20 / 0.5) must not ceil to the next one.
    ratio = alpha_exponent / min_entropy
    nearest = round(ratio)
    steps = nearest if math.isclose(ratio, nearest, rel_tol=1e-12) else math.ceil(ratio)
    return 1 + steps


def binomial_upper_tail_log(window: int, p: float, count: int) -> float:
    """``ln P(Binomial(window, p) >= count)`` (``-inf`` when count > window)."""
    if count <= 0:
        return 0.0
    if count > window:
        return -math.inf
    log_p, log_q = math.log(p), math.log1p(-p) if p < 1 else -math.inf
    terms = []
    for k in range(count, window + 1):
        tail_q = (window - k) * log_q if window - k else 0.0
        terms.append(math.log(math.comb(window, k)) + k * log_p + tail_q)
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


@functools.lru_cache(maxsize=64)
def apt_cutoff_for(alpha_exponent: int, min_entropy: float, window: int) -> int:
    """Smallest ``C`` with ``P(Binomial(window, 2**-H) >= C) <= 2**-alpha_exponent``."""
    p = 2.0 ** -min_entropy
    log_alpha = -alpha_exponent * math.log(2)
    # The tail falls as C grows: scan up from the mean (C <= mean never satisfies alpha < 1/2).
    for count in range(max(1, math.floor(window * p)), window + 2):
        if binomial_upper_tail_log(window, p, count) <= log_alpha:
            return count
    raise AssertionError("unreachable: P(B >= window + 1) = 0")


def rct_cutoff(params: EntropyParams) -> int:
    return rct_cutoff_for(params.alpha_exponent, params.min_entropy)


def apt_cutoff(params: EntropyParams) -> int:
    return apt_cutoff_for(params.alpha_exponent, params.min_entropy, params.apt_window)
