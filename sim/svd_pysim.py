"""Run the SVD engine in Amaranth's own simulator: ``rtl_decompose`` mirrors ``model.decompose``.

Fast enough for small n in unit tests; the cocotb benches (Verilator, Icarus) cover the
product sizes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from rosvd.hw.svd.engine import SVDEngine
from rosvd.hw.svd.model import check_input
from rosvd.hw.svd.params import SVDParams


@dataclass
class RTLRun:
    words: list[list[int]]   #: output words per matrix, stream order
    cycles: list[int]        #: first accepted input to last output word, per matrix
    sweeps_run: list[int]
    #: Wall-clock seconds of the simulation itself, first input to last output (the
    #: elaboration and the simulator's compilation before it are not counted).
    wall_s: float = 0.0


#: A matrix failing to come out within this many times the stall-free cycle count fails the run.
STALL_FACTOR = 10


def rtl_decompose(params: SVDParams, matrices, *, ready_pattern=None, vcd: str | None = None,
                  platform=None) -> RTLRun:
    """Stream each matrix through a fresh-reset engine back to back; collect its output.

    ``ready_pattern(cycle) -> bool`` applies backpressure on the result stream;
    ``platform`` is what the engine is elaborated for (e.g. an
    :class:`~rosvd.hw.svd.platform.ExportPlatform` whose multiplier blocks are inferred).
    """
    x = check_input(params, matrices)
    dut = SVDEngine(params)
    run = RTLRun([], [], [])
    # An engine that never answers fails the run instead of hanging it: no matrix, even
    # under backpressure, takes STALL_FACTOR times the stall-free cycle count.
    limit = STALL_FACTOR * dut.cycle_estimate()

    async def testbench(ctx):
        started = time.perf_counter()
        cycle = 0
        for index, matrix in enumerate(x):
            start = None
            for element in matrix.ravel():
                ctx.set(dut.matrix.payload, int(element))
                ctx.set(dut.matrix.valid, 1)
                offered = cycle
                while True:
                    if cycle - offered > limit:
                        raise RuntimeError(f"engine took no element of matrix {index} in {cycle - offered} "
                                           f"cycles (more than {limit}): the previous output never drained?")
                    accepted = ctx.get(dut.matrix.ready)
                    await ctx.tick()
                    cycle += 1
                    if accepted:
                        break
                start = cycle - 1 if start is None else start
            ctx.set(dut.matrix.valid, 0)
            words = []
            while True:
                if cycle - start > limit:
                    raise RuntimeError(f"engine gave {len(words)} of {params.output_words} words "
                                       f"in {cycle - start} cycles (more than {limit})")
                ready = 1 if ready_pattern is None else int(bool(ready_pattern(cycle)))
                ctx.set(dut.result.ready, ready)
                valid, payload = ctx.get(dut.result.valid), ctx.get(dut.result.payload)
                await ctx.tick()
                cycle += 1
                if valid and ready:
                    words.append(payload.data)
                    if payload.last:
                        break
            ctx.set(dut.result.ready, 0)
            run.words.append(words)
            run.cycles.append(cycle - start)
            run.sweeps_run.append(ctx.get(dut.sweeps_run))
        run.wall_s = time.perf_counter() - started

    sim = Simulator(Fragment.get(dut, platform))
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return run
