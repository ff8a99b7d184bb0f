"""EntropyParams refuses bad values with messages a user can act on."""
from __future__ import annotations

import pytest

from rosvd.hw.entropy.params import EntropyParams


def test_defaults():
    p = EntropyParams()
    assert (p.oscillators, p.stages, p.sample_period) == (8, 3, 1)
    assert (p.alpha, p.min_entropy, p.apt_window, p.startup_samples) == (2.0 ** -20, 0.5, 1024, 1024)
    assert p.sp800_90b_window and p.word_width == 32


@pytest.mark.parametrize("kwargs, message", [
    ({"stages": 4}, "stages must be odd and in 3..63 (an even ring does not oscillate), not 4"),
    ({"stages": 1}, "stages must be odd"),
    ({"oscillators": 0}, "oscillators must be in 1..64, not 0"),
    ({"oscillators": 2.0}, "oscillators must be an int, not 2.0"),
    ({"sample_period": 0}, "sample_period must be in 1..65536 cycles, not 0"),
    ({"alpha_exponent": 19}, "alpha_exponent must be in 20..40 (SP 800-90B 4.4: 2**-40 <= alpha <= 2**-20),"
                             " not 19"),
    ({"alpha_exponent": 41}, "alpha_exponent must be in 20..40"),
    ({"min_entropy": 0}, "min_entropy must be a number in (0, 1] bits per raw bit, not 0"),
    ({"min_entropy": 1.5}, "min_entropy must be a number in (0, 1]"),
    ({"min_entropy": True}, "min_entropy must be a number"),
    ({"apt_window": 1000}, "apt_window must be a power of two in 64..65536"),
    ({"apt_window": 32}, "apt_window must be a power of two in 64..65536"),
    ({"startup_samples": 512}, "startup_samples must be >= apt_window=1024"),
    ({"apt_window": 2048, "startup_samples": 1024}, "startup_samples must be >= apt_window=2048"),
    ({"counter_width": 4}, "counter_width must be in 8..64, not 4"),
    ({"min_entropy": 0.001}, "repetition count cutoff 20001 is too large"),
    ({"min_entropy": 0.01}, "adaptive proportion cutoff 1025 exceeds the window 1024"),
])
def test_bad_values_are_refused(kwargs, message):
    with pytest.raises(ValueError, match="^EntropyParams: ") as info:
        EntropyParams(**kwargs)
    assert message in str(info.value)


def test_small_window_for_experiments_is_flagged():
    p = EntropyParams(apt_window=256, startup_samples=256)
    assert not p.sp800_90b_window
    assert p.apt_cutoff <= 256
