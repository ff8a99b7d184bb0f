"""Bit-serial integer square root: ``floor(sqrt(value))``, one result bit per cycle."""
from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class IterativeSqrt(wiring.Component):
    """``root = math.isqrt(value)`` by the restoring digit-by-digit method.

    Ports:

    * ``start`` (in): one-cycle strobe; ``value`` (unsigned ``width`` bits) is sampled
      in that cycle only.
    * ``done`` (out): one-cycle strobe exactly :attr:`latency` clock cycles after the
      ``start`` cycle, ``latency = (width + 1) // 2 + 1``: the cycle sampling ``value``,
      then one cycle per result bit.
    * ``root`` (out, ``(width + 1) // 2`` bits): valid from ``done`` until the next
      ``start``.

    Throughput: one root per :attr:`latency` cycles; ``start`` is accepted in the
    ``done`` cycle or later. A ``start`` while a root is in flight is ignored.

    Reset: returns to idle, the root in flight is dropped, ``root`` reads 0.
    """

    def __init__(self, width: int):
        if not isinstance(width, int) or width < 2:
            raise ValueError(f"IterativeSqrt width must be an integer >= 2, not {width!r}")
        self.width = width
        self.root_width = (width + 1) // 2
        self.latency = self.root_width + 1
        super().__init__({
            "start": In(1),
            "value": In(unsigned(width)),
            "root": Out(unsigned(self.root_width)),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        digits = self.root_width
        # Radicand, padded to 2 bits per result bit and consumed from the top.
        radicand = Signal(unsigned(2 * digits))
        # Partial remainder value_so_far - root**2 <= 2 * root < 2**(digits + 1).
        remainder = Signal(unsigned(digits + 1))
        count = Signal(range(digits + 1))
        busy = Signal()

        shifted = Cat(radicand[-2:], remainder)     # (remainder << 2) | next two bits
        trial = Cat(1, 0, self.root)                # (root << 2) | 1
        fits = shifted >= trial

        m.d.sync += self.done.eq(0)
        with m.If(busy):
            m.d.sync += [
                radicand.eq(radicand << 2),
                remainder.eq(Mux(fits, shifted - trial, shifted)),
                self.root.eq(Cat(fits, self.root)),
                count.eq(count - 1),
            ]
            with m.If(count == 1):
                m.d.sync += [busy.eq(0), self.done.eq(1)]
        with m.Elif(self.start):
            m.d.sync += [
                radicand.eq(self.value), remainder.eq(0), self.root.eq(0),
                count.eq(digits), busy.eq(1),
            ]
        return m
