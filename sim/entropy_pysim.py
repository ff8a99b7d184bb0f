"""Run :class:`rosvd.hw.entropy.source.EntropySource` in Amaranth's simulator on given raw bits.

``rtl_run(params, bits)`` drives ``raw_bit`` with one bit per cycle (``sample_period``
must be 1), optionally stalls the output stream and pulses ``host_reset``, and returns
what the RTL did: words transferred (with the cycle), the cycle each alarm flag rose,
``startup_done`` and the final counters. Small runs only (about 10**4 cycles per second);
long runs go through Verilator (``rosvd.sim.entropy_tb``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from amaranth.sim import Simulator

from rosvd.hw.entropy.params import EntropyParams
from rosvd.hw.entropy.source import EntropySource

CLOCK_PERIOD = 1e-8
COUNTERS = ("samples", "words_out", "dropped", "alarm_sample", "max_run", "max_window")


@dataclass
class RunResult:
    words: list[int] = field(default_factory=list)
    word_cycles: list[int] = field(default_factory=list)
    rct_cycle: int | None = None          # cycle whose sample set alarm_rct (flag visible next cycle)
    apt_cycle: int | None = None
    startup_cycle: int | None = None      # cycle whose sample completed the start-up test
    valid_while_alarm: int = 0            # cycles with words.valid high while an alarm was latched
    final: dict = field(default_factory=dict)


def rtl_run(params: EntropyParams, bits, *, ready: Callable[[int], bool] | None = None,
            host_reset_at: Iterable[int] = ()) -> RunResult:
    """Feed ``bits`` (cycle i drives bits[i]) and record the source's behaviour.

    ``ready(i)`` gives ``words.ready`` in cycle i (default: always); ``host_reset`` is
    high in the cycles listed (the bit of such a cycle is not a sample of the new run).
    """
    if params.sample_period != 1:
        raise ValueError("rtl_run drives one sample per cycle: sample_period must be 1")
    bits = np.asarray(bits, dtype=np.uint8)
    resets = set(host_reset_at)
    dut = EntropySource(params)
    result = RunResult()

    async def testbench(ctx):
        for cycle, bit in enumerate(bits.tolist()):
            ctx.set(dut.raw_bit, bit)
            ctx.set(dut.host_reset, int(cycle in resets))
            ctx.set(dut.words.ready, int(ready(cycle)) if ready else 1)
            valid = ctx.get(dut.words.valid)
            if valid and ctx.get(dut.words.ready):
                result.words.append(ctx.get(dut.words.payload))
                result.word_cycles.append(cycle)
            if valid and (ctx.get(dut.alarm_rct) or ctx.get(dut.alarm_apt)):
                result.valid_while_alarm += 1
            await ctx.tick()
            # Flags seen after the edge: record the cycle whose sample raised them.
            if result.rct_cycle is None and ctx.get(dut.alarm_rct):
                result.rct_cycle = cycle
            if result.apt_cycle is None and ctx.get(dut.alarm_apt):
                result.apt_cycle = cycle
            if result.startup_cycle is None and ctx.get(dut.startup_done):
                result.startup_cycle = cycle
        result.final = {name: ctx.get(getattr(dut, name)) for name in COUNTERS}
        result.final.update(alarm_rct=ctx.get(dut.alarm_rct), alarm_apt=ctx.get(dut.alarm_apt),
                            startup_done=ctx.get(dut.startup_done), healthy=ctx.get(dut.healthy),
                            simulated=ctx.get(dut.simulated))

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(testbench)
    sim.run()
    return result
