"""Sticky flags and the interrupt output."""
from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class StickyFlags(wiring.Component):
    """``width`` sticky bits: a bit of ``set`` raises its flag at the next edge, a bit of
    ``clear`` lowers it; set wins when both come in one cycle (no event is lost).
    ``flags`` are flip-flops. Reset: all clear."""

    def __init__(self, width: int):
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"StickyFlags: width must be a positive int, not {width!r}")
        super().__init__({"set": In(width), "clear": In(width), "flags": Out(width)})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.flags.eq((self.flags & ~self.clear) | self.set)
        return m


class InterruptController(wiring.Component):
    """Pending bits raised by the rising edge of each ``sources`` bit (a pulse or a level:
    a level raises its bit once, when it rises), cleared by ``clear`` (write-1-to-clear
    from the register file; a rising edge in the same cycle wins). ``pending`` is
    visible whether or not enabled; ``irq`` = any pending bit whose ``enable`` bit is set,
    registered: a level-high interrupt, one cycle after the edge that set its bit (two
    after the source's edge). Reset: nothing pending, ``irq`` low."""

    def __init__(self, width: int):
        self.flags = StickyFlags(width)
        super().__init__({"sources": In(width), "enable": In(width), "clear": In(width),
                          "pending": Out(width), "irq": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.flags = flags = self.flags
        previous = Signal.like(self.sources)
        m.d.sync += [previous.eq(self.sources), self.irq.eq((flags.flags & self.enable).any())]
        m.d.comb += [flags.set.eq(self.sources & ~previous), flags.clear.eq(self.clear),
                     self.pending.eq(flags.flags)]
        return m
