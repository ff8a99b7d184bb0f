"""``saturated`` (the rotation's clamp, a sign-extension test rather than two comparisons)
against plain integer clamping, exhaustively over every input of small widths."""
from __future__ import annotations

import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from rosvd.hw.svd.rotation_unit import saturated


def clamp(value: int, width: int) -> int:
    return max(-(1 << (width - 1)), min((1 << (width - 1)) - 1, value))


@pytest.mark.parametrize("in_width,out_width", [(4, 4), (5, 4), (6, 3), (8, 5), (9, 8), (3, 2)])
def test_saturated_equals_clamping_for_every_input(in_width, out_width):
    value = Signal(signed(in_width))
    out = Signal(signed(out_width))
    m = Module()
    m.d.comb += out.eq(saturated(value, out_width))
    inputs = range(-(1 << (in_width - 1)), 1 << (in_width - 1))
    mismatches = []

    async def testbench(ctx):
        for x in inputs:
            ctx.set(value, x)
            got = ctx.get(out)
            if got != clamp(x, out_width):
                mismatches.append((x, got, clamp(x, out_width)))

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    assert not mismatches, mismatches[:8]


def test_saturated_of_a_shifted_sum_as_the_rotation_uses_it():
    """The rotation clamps ``sum >> frac``: an arithmetic shift of a signed value."""
    width, frac, sum_width = 5, 3, 10
    total = Signal(signed(sum_width))
    out = Signal(signed(width))
    m = Module()
    m.d.comb += out.eq(saturated(total >> frac, width))
    mismatches = []

    async def testbench(ctx):
        for x in range(-(1 << (sum_width - 1)), 1 << (sum_width - 1)):
            ctx.set(total, x)
            if ctx.get(out) != clamp(x >> frac, width):
                mismatches.append(x)

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    assert not mismatches, mismatches[:8]
