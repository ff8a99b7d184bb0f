# amaranth: UnusedElaboratable=no
"""Health tests and the fail-closed output in Amaranth's simulator.

Boundaries are built by hand (a run or a window count of cutoff-1, cutoff, cutoff+1 on a
background that trips nothing) and the expected alarm sample is computed from the
construction, not from the model; random sequences are then compared with the
reference model :mod:`rosvd.hw.entropy.model`.
"""
from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from rosvd.hw.entropy import model
from rosvd.hw.entropy.health import AdaptiveProportionTest, RepetitionCountTest
from rosvd.hw.entropy.params import EntropyParams
from rosvd.sim.entropy_pysim import rtl_run

P = EntropyParams()
RCT_C, APT_C, W, START = P.rct_cutoff, P.apt_cutoff, P.apt_window, P.startup_samples


def alternating(n: int, first: int = 0) -> np.ndarray:
    """0101...: runs of 1, window count W/2: trips neither test."""
    return ((np.arange(n) + first) % 2).astype(np.uint8)


def with_run(length: int, at: int, total: int, value: int = 1) -> np.ndarray:
    """Alternating background with ``length`` copies of ``value`` from ``at`` (neighbours differ)."""
    bits = alternating(total)
    bits[at:at + length] = value
    bits[at - 1] = bits[at + length] = 1 - value
    return bits


def window_with_count(count: int) -> np.ndarray:
    """One APT window starting with 1 holding ``count`` ones, spread so runs stay short."""
    ones = np.zeros(W, dtype=np.uint8)
    positions = np.round(np.linspace(0, W - 1, count)).astype(int)
    assert len(set(positions.tolist())) == count
    ones[positions] = 1
    return ones


def longest_run(bits) -> int:
    changes = np.flatnonzero(np.diff(bits)) + 1
    edges = np.concatenate(([0], changes, [len(bits)]))
    return int(np.diff(edges).max())


# --- the test components on their own ------------------------------------------------

def run_component(dut, bits, restart_at=()):
    """(fail per sample, counter after each sample) of an RCT/APT component."""
    fails, counts = [], []
    counter = dut.run if isinstance(dut, RepetitionCountTest) else dut.count

    async def tb(ctx):
        for i, bit in enumerate(bits.tolist()):
            ctx.set(dut.sample, bit)
            ctx.set(dut.valid, 1)
            ctx.set(dut.restart, int(i in restart_at))
            fails.append(ctx.get(dut.fail))
            await ctx.tick()
            counts.append(ctx.get(counter))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return np.array(fails), np.array(counts)


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_rct_component_boundary(extra):
    at = 10
    length = RCT_C + extra
    bits = with_run(length, at, at + length + 20)
    fails, runs = run_component(RepetitionCountTest(P), bits)
    expected = np.zeros(len(bits), dtype=bool)
    if extra >= 0:
        expected[at + RCT_C - 1: at + length] = True          # the C-th sample of the run, and on
    assert (fails.astype(bool) == expected).all()
    assert runs[at + length - 1] == min(length, RCT_C)        # saturates at the cutoff
    assert runs[at + length] == 1


def test_rct_component_restart_forgets_the_run():
    restart = RCT_C - 2
    bits = np.ones(2 * RCT_C, dtype=np.uint8)
    fails, runs = run_component(RepetitionCountTest(P), bits, restart_at={restart})
    # The sample of the restart cycle is dropped; a new run starts with the next one.
    assert runs[restart] == 0 and runs[restart + 1] == 1
    assert np.flatnonzero(fails)[0] == restart + RCT_C


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_apt_component_boundary(extra):
    window = window_with_count(APT_C + extra)
    bits = np.concatenate((alternating(W), window, alternating(W)))
    fails, counts = run_component(AdaptiveProportionTest(P), bits)
    hits = np.flatnonzero(fails)
    if extra < 0:
        assert not len(hits)
    else:
        ones = np.flatnonzero(window)
        assert hits[0] == W + ones[APT_C - 1]                 # the sample that makes the count C
        assert (hits < 2 * W).all()
    assert counts[2 * W - 1] == APT_C + extra                 # final count of the window
    assert counts[W - 1] == W // 2


# --- the whole source: latch, fail-closed output, reset ----------------------------------

@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_source_rct_boundary(extra):
    at = START + 300
    bits = with_run(RCT_C + extra, at, START + 3 * W)
    result = rtl_run(P, bits)
    if extra < 0:
        assert result.rct_cycle is None and result.final["alarm_rct"] == 0
        assert result.final["max_run"] == RCT_C - 1
        assert result.final["healthy"] == 1
    else:
        assert result.rct_cycle == at + RCT_C - 1
        assert result.final["alarm_sample"] == at + RCT_C
        assert result.final["alarm_rct"] == 1 and result.final["healthy"] == 0
        assert max(result.word_cycles) <= at + RCT_C - 1      # nothing leaves after the alarm
    assert result.apt_cycle is None
    assert result.valid_while_alarm == 0
    assert result.words == model.evaluate(bits, P).words


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_source_apt_boundary(extra):
    window = window_with_count(APT_C + extra)
    assert longest_run(window) < RCT_C
    bits = np.concatenate((alternating(2 * W), window, alternating(2 * W)))
    result = rtl_run(P, bits)
    assert result.rct_cycle is None
    if extra < 0:
        assert result.apt_cycle is None
        assert result.final["max_window"] == APT_C - 1
    else:
        assert result.apt_cycle == 2 * W + np.flatnonzero(window)[APT_C - 1]
        assert result.final["alarm_apt"] == 1
        assert max(result.word_cycles) <= result.apt_cycle
    assert result.words == model.evaluate(bits, P).words


def test_startup_holds_output_and_counts_samples():
    bits = alternating(START + 5 * 32 + 1)
    result = rtl_run(P, bits)
    assert result.startup_cycle == START - 1
    # The first word is samples START..START+31, offered the cycle after its last sample.
    assert result.word_cycles[0] == START + 32
    first = bits[START:START + 32]
    assert result.words[0] == int(sum(int(b) << i for i, b in enumerate(first)))
    assert len(result.words) == 5
    assert result.final["samples"] == len(bits) and result.final["simulated"] == 1


def test_alarm_during_startup_blocks_startup():
    bits = with_run(RCT_C, 100, START + 4 * W)
    result = rtl_run(P, bits)
    assert result.rct_cycle == 100 + RCT_C - 1
    assert result.startup_cycle is None and result.words == []


def test_alarm_latches_until_host_reset_then_startup_again():
    at = START + 200
    fault_end = at + RCT_C
    reset_cycle = fault_end + 3000
    total = reset_cycle + 1 + START + 10 * 32 + 2
    bits = with_run(RCT_C, at, total)
    result = rtl_run(P, bits, host_reset_at={reset_cycle})
    assert result.rct_cycle == at + RCT_C - 1
    # Latched through 3000 healthy samples: no word between the alarm and the reset.
    after_alarm = [c for c in result.word_cycles if c > result.rct_cycle]
    assert after_alarm and min(after_alarm) == reset_cycle + 1 + START + 32
    assert result.valid_while_alarm == 0
    assert result.final["alarm_rct"] == 0 and result.final["healthy"] == 1
    assert result.final["samples"] == total - reset_cycle - 1
    restarted = bits[reset_cycle + 1:]
    assert result.words[-len(after_alarm):] == model.evaluate(restarted, P).words


def test_backpressure_drops_whole_words_and_counts_them():
    bits = np.random.default_rng(7).integers(0, 2, START + 64 * 32).astype(np.uint8)
    expected = model.evaluate(bits, P)
    assert expected.first_failure is None
    result = rtl_run(P, bits, ready=lambda cycle: (cycle // 100) % 3 == 0)
    assert result.final["dropped"] > 0
    assert result.final["words_out"] == len(result.words)
    # Every transferred word is a model word, in order (a subsequence).
    position = iter(expected.words)
    assert all(any(w == m for m in position) for w in result.words)
    assert len(result.words) + result.final["dropped"] >= len(expected.words) - 1


@pytest.mark.parametrize("seed, p_one", [(1, 0.5), (2, 0.8), (3, 0.85), (4, 0.9), (5, 0.97), (6, 0.72)])
def test_random_sequences_match_model(seed, p_one):
    rng = np.random.default_rng(seed)
    bits = (rng.random(START + 3 * W) < 0.5).astype(np.uint8)
    onset = START + W // 2
    bits[onset:] = (rng.random(len(bits) - onset) < p_one).astype(np.uint8)
    expected = model.evaluate(bits, P)
    result = rtl_run(P, bits)
    assert result.rct_cycle == expected.rct_failure
    assert result.apt_cycle == expected.apt_failure
    assert result.words == expected.words
    assert result.final["alarm_sample"] == expected.alarm_sample
    assert result.final["max_window"] == max(model.apt_window_counts(bits, P))


def test_sample_period_takes_one_sample_every_period_cycles():
    from amaranth.sim import Simulator

    from rosvd.hw.entropy.source import EntropySource

    period = 3
    dut = EntropySource(EntropyParams(sample_period=period))
    seen = {}

    async def tb(ctx):
        ctx.set(dut.raw_bit, 1)
        for cycle in range(period * (RCT_C + 2)):
            await ctx.tick()
            if "alarm" not in seen and ctx.get(dut.alarm_rct):
                seen["alarm"] = (cycle, ctx.get(dut.samples), ctx.get(dut.alarm_sample))
        seen["samples"] = ctx.get(dut.samples)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    # The first strobe is in cycle period-1; the C-th identical sample raises the alarm.
    assert seen["alarm"] == (period * RCT_C - 1, RCT_C, RCT_C)
    assert seen["samples"] == RCT_C + 2


def test_pending_word_is_withdrawn_in_the_failing_cycle():
    """A word held by backpressure must not leave in the cycle its successor sample fails."""
    at = START + 500
    fail_cycle = at + RCT_C - 1
    bits = with_run(RCT_C, at, fail_cycle + 200)
    result = rtl_run(P, bits, ready=lambda cycle: cycle >= fail_cycle)
    assert result.rct_cycle == fail_cycle
    assert result.final["dropped"] > 0            # a word was pending all along
    assert result.words == [] and result.final["words_out"] == 0
