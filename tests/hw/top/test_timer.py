"""DecompositionTimer in Amaranth's simulator: overlapping matrices are timed separately."""
from __future__ import annotations

from amaranth.sim import Simulator

from rosvd.hw.top.timer import DecompositionTimer


def test_cycles_from_start_to_finish_inclusive_with_a_queued_start():
    dut = DecompositionTimer()
    # (cycle, signal): matrix A starts at 3, B's first element is taken at 20, A ends at 25,
    # B ends at 40.
    events = {3: "start", 20: "start", 25: "finish", 40: "finish"}
    seen = {}

    async def testbench(ctx):
        for cycle in range(45):
            kind = events.get(cycle)
            ctx.set(dut.start, kind == "start")
            ctx.set(dut.finish, kind == "finish")
            seen[cycle] = (ctx.get(dut.cycles), ctx.get(dut.done))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert seen[3] == (0, 0)
    assert seen[26] == (25 - 3 + 1, 0)         # A timed; B under way, so not done
    assert seen[41] == (40 - 20 + 1, 1)
