"""Cycles of a decomposition, measured at the engine's ports."""
from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

#: Bits of the free-running cycle count and of CYCLES.
CYCLE_WIDTH = 32
#: Decompositions started and not finished: the one in the engine, and the next whose
#: first element the engine's input register may already have taken.
MAX_IN_FLIGHT = 2


class DecompositionTimer(wiring.Component):
    """``start`` (first element of a matrix taken) and ``finish`` (last result word
    taken) pulses in; ``cycles`` = finish cycle - start cycle + 1 of the latest finished
    decomposition (so without stalls it equals ``SVDEngine.cycle_estimate``), modulo
    2**32. Starts are queued (up to :data:`MAX_IN_FLIGHT`), so a next matrix entering
    before the previous one's last word leaves is timed from its own start. ``done``:
    some decomposition finished and none is under way. ``cycles`` and ``done`` change at
    the edge ending the ``finish`` cycle. Reset: ``cycles`` 0, ``done`` low."""

    def __init__(self):
        self._starts = SyncFIFO(width=CYCLE_WIDTH, depth=MAX_IN_FLIGHT)
        super().__init__({"start": In(1), "finish": In(1), "cycles": Out(CYCLE_WIDTH), "done": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.starts = starts = self._starts
        now = Signal(CYCLE_WIDTH)
        finished = Signal()
        m.d.sync += now.eq(now + 1)
        m.d.comb += [starts.w_data.eq(now), starts.w_en.eq(self.start),
                     starts.r_en.eq(self.finish),
                     self.done.eq(finished & ~starts.r_rdy)]
        with m.If(self.finish & starts.r_rdy):
            m.d.sync += [self.cycles.eq(now - starts.r_data + 1), finished.eq(1)]
        return m
