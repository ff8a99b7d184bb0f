# amaranth: UnusedElaboratable=no
"""StreamRegister in Amaranth's simulator: every word passes once, in order, at one word
a cycle when the consumer is ready, and each side's handshake comes from a register."""
from __future__ import annotations

import random

from amaranth.hdl import unsigned
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from rosvd.hw.stream_register import StreamRegister

WIDTH = 8


def run(words, offer, accept, *, cycles=None, flip_ready_mid_cycle=False):
    """Push ``words`` through a StreamRegister. ``offer(cycle)``/``accept(cycle)`` say
    whether the producer presents its next word and the consumer is ready that cycle.
    Returns the words taken at the output and the cycle each was taken. With
    ``flip_ready_mid_cycle``, the consumer's ready is toggled after the producer's
    side has been sampled, to show that ``i.ready`` does not follow it combinationally."""
    dut = StreamRegister(unsigned(WIDTH))
    taken, when = [], []
    cycles = cycles or 4 * len(words) + 10

    async def testbench(ctx):
        pending = list(words)
        for cycle in range(cycles):
            valid = bool(pending) and offer(cycle)
            ctx.set(dut.i.valid, valid)
            ctx.set(dut.i.payload, pending[0] if valid else 0xA5)
            ready = accept(cycle)
            if flip_ready_mid_cycle:
                ctx.set(dut.o.ready, not ready)
                before = ctx.get(dut.i.ready)
                ctx.set(dut.o.ready, ready)
                assert ctx.get(dut.i.ready) == before, "i.ready follows o.ready in the same cycle"
            ctx.set(dut.o.ready, ready)
            if valid and ctx.get(dut.i.ready):
                pending.pop(0)
            if ctx.get(dut.o.valid) and ready:
                taken.append(ctx.get(dut.o.payload))
                when.append(cycle)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return taken, when


def test_full_throughput_with_one_cycle_latency():
    words = list(range(1, 40))
    taken, when = run(words, lambda c: True, lambda c: True)
    assert taken == words
    assert when == [c + 1 for c in range(len(words))], "one word a cycle, one cycle late"


def test_backpressure_keeps_every_word_once_in_order():
    words = list(range(200))
    taken, _ = run(words, lambda c: c % 3 != 1, lambda c: c % 5 in (0, 2, 3))
    assert taken == words


def test_ready_does_not_reach_through():
    words = list(range(60))
    rng = random.Random(7)
    pattern = [rng.random() < 0.5 for _ in range(400)]
    taken, _ = run(words, lambda c: True, lambda c: pattern[c], cycles=400, flip_ready_mid_cycle=True)
    assert taken == words


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, (1 << WIDTH) - 1), min_size=1, max_size=40),
       st.lists(st.booleans(), min_size=8, max_size=8), st.lists(st.booleans(), min_size=8, max_size=8))
def test_random_handshakes_lose_and_duplicate_nothing(words, offers, accepts):
    # At least one cycle in eight each way, so every word gets through in the run.
    offers[0] = accepts[0] = True
    taken, _ = run(words, lambda c: offers[c % 8], lambda c: accepts[c % 8], cycles=8 * len(words) + 16)
    assert taken == words
