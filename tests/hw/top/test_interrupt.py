"""StickyFlags and InterruptController in Amaranth's simulator."""
from __future__ import annotations

from amaranth.sim import Simulator

from rosvd.hw.top.interrupt import InterruptController, StickyFlags


def simulate(dut, body):
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def testbench(ctx):
        await body(ctx)

    sim.add_testbench(testbench)
    sim.run()


def test_sticky_flags_hold_until_cleared_and_set_wins():
    dut = StickyFlags(3)

    async def body(ctx):
        assert ctx.get(dut.flags) == 0
        ctx.set(dut.set, 0b101)
        await ctx.tick()
        ctx.set(dut.set, 0)
        await ctx.tick().repeat(3)
        assert ctx.get(dut.flags) == 0b101
        ctx.set(dut.clear, 0b001)
        await ctx.tick()
        assert ctx.get(dut.flags) == 0b100
        ctx.set(dut.clear, 0b110)
        ctx.set(dut.set, 0b100)           # raised again while cleared: kept
        await ctx.tick()
        assert ctx.get(dut.flags) == 0b100

    simulate(dut, body)


def test_interrupt_on_rising_edges_enabled_and_cleared():
    dut = InterruptController(2)

    async def body(ctx):
        ctx.set(dut.sources, 0b10)        # a level (the alarm) rises
        await ctx.tick()
        assert ctx.get(dut.pending) == 0b10 and ctx.get(dut.irq) == 0    # not enabled
        ctx.set(dut.enable, 0b10)
        await ctx.tick()
        assert ctx.get(dut.irq) == 1
        ctx.set(dut.clear, 0b10)          # cleared while the level stays high: no new edge
        await ctx.tick()
        ctx.set(dut.clear, 0)
        await ctx.tick().repeat(2)
        assert ctx.get(dut.pending) == 0 and ctx.get(dut.irq) == 0
        ctx.set(dut.enable, 0b11)
        ctx.set(dut.sources, 0b11)        # a pulse on bit 0
        await ctx.tick()
        ctx.set(dut.sources, 0b10)
        assert ctx.get(dut.pending) == 0b01 and ctx.get(dut.irq) == 0    # registered: next cycle
        await ctx.tick()
        assert ctx.get(dut.irq) == 1
        ctx.set(dut.enable, 0b10)
        await ctx.tick()
        assert ctx.get(dut.irq) == 0 and ctx.get(dut.pending) == 0b01     # pending, masked

    simulate(dut, body)
