"""EntropyRegisters' Verilog on Verilator: no word leaves after the alarm until host reset.

One Verilator run (module fixture) over a few fault scenarios: the host does not read
DATA from start-up until after the fault, so the FIFO is full of words buffered before
the alarm; after the alarm every DATA read must underflow (value 0, UNDERFLOWS counts
it) until the host reset, and words come again after a new start-up test.
"""
from __future__ import annotations

import numpy as np
import pytest

from rosvd.hw.entropy import model
from rosvd.hw.entropy import registers as R
from rosvd.hw.entropy.params import EntropyParams
from rosvd.sim.entropy_model import JitterModel, scenario_bits
from rosvd.sim.entropy_rtl import rtl_register_replay

P = EntropyParams()
ONSET = P.startup_samples + 20 * 32 + 5     # FIFO (16) full and words dropped by then
RESET_AFTER = 3 * P.apt_window              # host reset this many cycles after the onset
TAIL = P.startup_samples + 40 * 32
CASES = ("stuck1", "dead", "biased")


def case_bits(name):
    bits = scenario_bits(name, P.oscillators, ONSET + RESET_AFTER, ONSET, seed=3)
    return np.concatenate((bits, JitterModel.bank(P.oscillators, seed=4).bits(TAIL)))


@pytest.fixture(scope="module")
def runs():
    sequences = {name: case_bits(name) for name in CASES}
    reset = ONSET + RESET_AFTER
    # Hold DATA reads until 20 cycles after the model's first failing sample.
    hold = {name: (np.arange(len(bits)) < model.evaluate(bits[:reset], P).first_failure + 20)
            .astype(np.uint8) for name, bits in sequences.items()}
    records = rtl_register_replay(P, sequences, host_reset_at={n: [reset] for n in CASES},
                                  hold=hold, fifo_depth=16)
    return sequences, records, reset


def words_and_underflows(reads):
    """DATA reads that delivered a word: (cycle, value); and those that underflowed."""
    got, empty, last_under = [], [], 0
    for i, (cycle, name, value) in enumerate(reads):
        if name == "UNDERFLOWS":
            last_under = value
        if name != "DATA":
            continue
        follow = next(r for r in reads[i + 1:] if r[1] == "UNDERFLOWS")
        (empty if follow[2] > last_under else got).append((cycle, value))
    return got, empty


@pytest.mark.parametrize("case", CASES)
def test_no_word_leaves_after_the_alarm_until_host_reset(runs, case):
    sequences, records, reset = runs
    bits, reads = sequences[case], records[case]["reads"]
    outcome = model.evaluate(bits[:reset], P)
    fail = outcome.first_failure
    assert fail is not None and ONSET <= fail < reset - 100
    # Words were buffered when the fault came: FIFO full just before the failing sample.
    last_status = [R.decode_status(v) for c, n, v in reads if n == "STATUS" and c < fail][-1]
    assert last_status["fifo_full"] and last_status["healthy"]
    got, empty = words_and_underflows(reads)
    before = [v for c, v in got if c < fail]
    between = [(c, v) for c, v in got if fail <= c < reset]
    after = [v for c, v in got if c > reset]
    assert before == []                      # held: nothing read before the fault
    assert between == []                     # nothing left after the alarm: FIFO flushed
    assert len([c for c, _ in empty if fail <= c < reset]) > 10
    # STATUS after the alarm: alarm latched, not healthy, FIFO shows nothing.
    for cycle, name, value in reads:
        if name == "STATUS" and fail < cycle < reset:
            st = R.decode_status(value)
            assert (st["alarm_rct"] or st["alarm_apt"]) and not st["healthy"]
            assert not st["fifo_nonempty"] and st["simulated"]
    # After host reset and a new start-up: words again, equal to the model's on the tail.
    tail = bits[reset + 1:]
    assert after and after == model.evaluate(tail, P).words[:len(after)]
