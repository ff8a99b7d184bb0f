"""The entropy source's Verilog on Verilator, driven by the software jitter and fault models.

Two Verilator runs (module fixtures), checked by several tests:

* ``healthy``: 10**6 samples of the seeded 8-ring jitter model. Expected false alarms:
  the cutoffs bound the false-alarm probability by alpha = 2**-20 per test decision *for
  a source at exactly H = 0.5*: at most 10**6 * 2**-20 ~ 0.95 RCT decisions and
  (10**6 / 1024) * 2**-20 ~ 9.3e-4 APT windows. The model's bits are near-uniform
  (P(1) ~ 0.5, runs < 25), for which the RCT rate is about 2**-40 per sample and the APT
  rate about 1e-30 per window: expected false alarms ~1e-6 in this run; observed: none.
* ``faults``: every fault model, starting mid-window after start-up, over two seeds;
  plus an alarm held over a long healthy stretch and cleared by ``host_reset``; plus a
  healthy stream under random backpressure.

Every record is compared with the reference model (:mod:`rosvd.hw.entropy.model`), and
the detection latency is held to SP 800-90B's bounds.
"""
from __future__ import annotations

import numpy as np
import pytest

from rosvd.hw.entropy import model
from rosvd.hw.entropy.params import EntropyParams
from rosvd.sim.entropy_model import EXPECTED_TEST, SCENARIOS, JitterModel, scenario_bits
from rosvd.sim.entropy_rtl import rtl_replay

P = EntropyParams()
C_RCT, C_APT, W = P.rct_cutoff, P.apt_cutoff, P.apt_window
HEALTHY_SAMPLES = 1_000_000
HEALTHY_SEED = 2026
#: Fault onset: after start-up, in the middle of a window (the window in progress is
#: part healthy, part faulty).
ONSET = P.startup_samples + W + W // 2 + 17
FAULT_SAMPLES = ONSET + 4 * W
FAULT_SEEDS = (1, 2)
#: Latch test: the fault lasts FAULT_LENGTH samples, host_reset comes HOLD samples later.
LATCH_ONSET, FAULT_LENGTH, HOLD = P.startup_samples + 500, 200, 5000


def fault_cases():
    return {f"{name}_s{seed}": (name, seed) for name in SCENARIOS for seed in FAULT_SEEDS}


def latch_sequence():
    bits = JitterModel.bank(P.oscillators, seed=5).bits(LATCH_ONSET + FAULT_LENGTH + HOLD + P.startup_samples
                                                         + 64 * 32)
    bits[LATCH_ONSET - 1] = 1                      # the stuck-at-0 run starts exactly at the onset
    bits[LATCH_ONSET:LATCH_ONSET + FAULT_LENGTH] = 0
    return bits, LATCH_ONSET + FAULT_LENGTH + HOLD


def backpressure_sequence():
    rng = np.random.default_rng(11)
    bits = JitterModel.bank(P.oscillators, seed=6).bits(P.startup_samples + 400 * 32)
    ready = (rng.random(len(bits)) < 0.02).astype(np.uint8)        # mostly stalled
    return bits, ready


def withdraw_sequence():
    """A stuck-at-1 run while the consumer stalls; ready rises in the failing cycle."""
    onset = P.startup_samples + 700
    bits = JitterModel.bank(P.oscillators, seed=7).bits(onset + C_RCT + 300)
    bits[onset - 1], bits[onset:onset + C_RCT] = 0, 1
    fail_cycle = onset + C_RCT - 1
    return bits, (np.arange(len(bits)) >= fail_cycle).astype(np.uint8), fail_cycle


@pytest.fixture(scope="module")
def healthy():
    bits = JitterModel.bank(P.oscillators, seed=HEALTHY_SEED).bits(HEALTHY_SAMPLES)
    return bits, rtl_replay(P, {"healthy": bits})["healthy"]


@pytest.fixture(scope="module")
def faults():
    sequences = {case: scenario_bits(name, P.oscillators, FAULT_SAMPLES, ONSET, seed=seed)
                 for case, (name, seed) in fault_cases().items()}
    latch_bits, reset_cycle = latch_sequence()
    bp_bits, bp_ready = backpressure_sequence()
    wd_bits, wd_ready, _ = withdraw_sequence()
    sequences.update(latch=latch_bits, backpressure=bp_bits, withdraw=wd_bits)
    records = rtl_replay(P, sequences, ready={"backpressure": bp_ready, "withdraw": wd_ready},
                         host_reset_at={"latch": [reset_cycle]})
    return sequences, records


def test_healthy_model_does_not_alarm_over_a_million_samples(healthy):
    bits, record = healthy
    expected = model.evaluate(bits, P)
    assert expected.first_failure is None
    final = record["final"]
    assert (final["alarm_rct"], final["alarm_apt"], final["alarm_sample"]) == (0, 0, 0)
    assert final["healthy"] == 1 and final["simulated"] == 1
    assert final["samples"] == HEALTHY_SAMPLES
    assert record["startup_cycle"] == P.startup_samples - 1
    # Every complete word after start-up leaves, bit-exact, in order.
    assert record["words"] == expected.words
    assert final["words_out"] == len(expected.words) == (HEALTHY_SAMPLES - P.startup_samples - 1) // 32
    assert final["max_run"] < C_RCT and final["max_window"] < C_APT
    assert final["max_window"] == max(model.apt_window_counts(bits, P))


@pytest.mark.parametrize("case", fault_cases())
def test_fault_trips_the_right_test_in_time(faults, case):
    sequences, records = faults
    name, _ = fault_cases()[case]
    bits, record = sequences[case], records[case]
    expected = model.evaluate(bits, P)
    assert record["rct_cycle"] == expected.rct_failure
    assert record["apt_cycle"] == expected.apt_failure
    assert record["words"] == expected.words
    assert record["final"]["alarm_sample"] == expected.alarm_sample
    test = EXPECTED_TEST[name]
    detected = record[f"{test}_cycle"]
    assert detected is not None and detected >= ONSET - C_RCT, f"{name}: {test} did not trip"
    next_window = -(-ONSET // W) * W
    if test == "rct":
        # A run of C identical samples completes at most C-1 samples after the onset.
        assert detected <= ONSET + C_RCT - 1
    else:
        # Biased: the first complete window trips when its first sample is the majority
        # value (probability = bias); allow the following window too.
        assert detected < next_window + 2 * W
    assert record["final"][f"alarm_{test}"] == 1          # latched at the end
    first_alarm = min(c for c in (record["rct_cycle"], record["apt_cycle"]) if c is not None)
    assert all(c <= first_alarm for c in record["word_cycles"])   # no word after the alarm
    assert record["valid_while_alarm"] == 0
    assert record["final"]["healthy"] == 0


def test_stuck_faults_also_trip_the_apt_within_one_window(faults):
    sequences, records = faults
    next_window = -(-ONSET // W) * W
    for case, (name, _) in fault_cases().items():
        if name in ("stuck0", "stuck1", "dead"):
            # The first complete window is all one value: it trips at its C_APT-th sample.
            assert records[case]["apt_cycle"] <= next_window + C_APT - 1, case


def test_alarm_latches_until_host_reset(faults):
    sequences, records = faults
    bits, reset_cycle = latch_sequence()
    record = records["latch"]
    alarm = record["rct_cycle"]
    assert alarm == LATCH_ONSET + C_RCT - 1
    # Latched over HOLD healthy samples: nothing leaves until reset + start-up + one word.
    late = [c for c in record["word_cycles"] if c > alarm]
    # The sample of the reset cycle is discarded: start-up restarts with the next one.
    assert late and min(late) == reset_cycle + 1 + P.startup_samples + 32
    after = model.evaluate(bits[reset_cycle + 1:], P)
    assert after.first_failure is None
    assert record["words"][-len(late):] == after.words
    assert record["final"]["alarm_rct"] == 0 and record["final"]["healthy"] == 1
    assert record["valid_while_alarm"] == 0


def test_backpressure_drops_whole_words(faults):
    sequences, records = faults
    record = records["backpressure"]
    expected = model.evaluate(sequences["backpressure"], P)
    assert record["final"]["dropped"] > 0
    assert record["final"]["words_out"] == len(record["words"])
    remaining = iter(expected.words)
    assert all(any(w == m for m in remaining) for w in record["words"])
    assert len(record["words"]) + record["final"]["dropped"] in (len(expected.words), len(expected.words) + 1)


def test_pending_word_is_withdrawn_in_the_failing_cycle(faults):
    _, records = faults
    _, _, fail_cycle = withdraw_sequence()
    record = records["withdraw"]
    assert record["rct_cycle"] == fail_cycle
    assert record["final"]["dropped"] > 0                 # a word was pending all along
    assert record["words"] == [] and record["final"]["words_out"] == 0
