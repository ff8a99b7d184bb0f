"""The simulation top's entropy-input generator: xorshift64 bit for bit, load and hold."""
from __future__ import annotations

from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from rosvd.sim.noisy_core import INITIAL_STATE, XorshiftNoise, seed_state, xorshift64


def test_xorshift64_reference_is_marsaglias():
    # Marsaglia's xorshift64 (13, 7, 17) from state 1: its first outputs, worked by hand
    # from the shifts (1 ^ 1<<13 = 0x2001; ^ >>7 = 0x2041; ^ <<17 = 0x40822041).
    assert xorshift64(1) == 0x4082_2041
    assert seed_state(0) == INITIAL_STATE and seed_state(5) == 5


def run(steps):
    noise = XorshiftNoise()
    m = Module()
    m.domains.noise = ClockDomain("noise", reset_less=True)
    m.submodules.noise = noise
    seen = []

    async def bench(ctx):
        for load, seed, hold, value in steps:
            ctx.set(noise.load, load)
            ctx.set(noise.seed, seed)
            ctx.set(noise.hold, hold)
            ctx.set(noise.value, value)
            seen.append(ctx.get(noise.bit))
            await ctx.tick("noise")

    sim = Simulator(m)
    sim.add_clock(1e-8, domain="noise")
    sim.add_testbench(bench)
    sim.run()
    return seen


def test_bits_follow_the_reference_after_a_load_and_hold_sticks():
    seed = 0x1234_5678_9ABC_DEF1
    steps = [(1, seed, 0, 0)] + [(0, 0, 0, 0)] * 40 + [(0, 0, 1, 1)] * 5 + [(0, 0, 0, 0)] * 3
    seen = run(steps)
    state, want = INITIAL_STATE, []
    for load, seed_in, hold, value in steps:
        want.append(value if hold else state & 1)
        state = seed_state(seed_in) if load else xorshift64(state)
    assert seen == want
    assert seen[41:46] == [1] * 5 and 0 < sum(seen[1:41]) < 40
