"""A stream register slice: every signal a consumer sees comes from a flip-flop."""
from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


class StreamRegister(wiring.Component):
    """Registers a ``lib.stream`` in both directions at full throughput (a skid buffer).

    ``i.ready`` and ``o.valid``/``o.payload`` are flip-flops, so neither the producer's
    valid nor the consumer's ready reaches the other side's logic in the same cycle.
    One word a cycle passes when ``o.ready`` stays high; when ``o.ready`` falls, the
    word already accepted waits in a second register (the skid) and ``i.ready`` falls a
    cycle later. Latency: one cycle from ``i`` to ``o``. Words are never dropped or
    duplicated; reset empties both registers.
    """

    def __init__(self, shape):
        super().__init__({
            "i": In(stream.Signature(shape)),
            "o": Out(stream.Signature(shape)),
        })
        self._shape = shape

    def elaborate(self, platform):
        m = Module()
        skid_valid = Signal()
        skid_payload = Signal(self._shape)
        m.d.comb += self.i.ready.eq(~skid_valid)
        with m.If(self.o.ready | ~self.o.valid):
            # The output register takes the skid's word first, then the input's.
            with m.If(skid_valid):
                m.d.sync += [self.o.payload.eq(skid_payload), self.o.valid.eq(1), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        with m.Elif(self.i.valid & self.i.ready):
            m.d.sync += [skid_payload.eq(self.i.payload), skid_valid.eq(1)]
        return m
