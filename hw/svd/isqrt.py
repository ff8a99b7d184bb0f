"""Bit-serial integer square root: ``floor(sqrt(value))``, one result bit per cycle."""
from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class IterativeSqrt(wiring.Component):
    """``root = math.isqrt(value)`` by the non-restoring digit-by-digit method.

    Each cycle adds or subtracts the trial ``(root << 2) | 1`` (``| 3`` when adding)
    by the sign of the previous remainder, and the new remainder's sign is the next
    root bit: one carry chain behind a register, where the restoring method's compare
    then selected a remainder through a wide multiplexer (the stand-in's longest path).

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
        # Radicand, padded to 2 bits per result bit and consumed from the top. Its next
        # two bits also wait in a register of their own (``pair``, equal to the top two),
        # which can sit by the adder: the shift register is loaded from wherever
        # ``value`` comes from, and its top bits had 3 ns of routing to the adder.
        radicand = Signal(unsigned(2 * digits))
        padded = Signal(unsigned(2 * digits))
        pair = Signal(2)
        m.d.comb += padded.eq(self.value)
        # Signed partial remainder; non-restoring keeps |remainder| < 2**(digits + 1).
        remainder = Signal(signed(digits + 3))
        count = Signal(range(digits + 1))
        busy = Signal()

        shifted = Cat(pair, remainder).as_signed()     # (remainder << 2) | next two bits
        # remainder >= 0: subtract (root << 2) | 1, i.e. add 4 (~root) + 3 in two's
        # complement; remainder < 0: add (root << 2) | 3. Either way one addition whose
        # operand is root, inverted or not by the remainder's sign: ``addend``, a
        # register set with the root bit that decides both, so that the inversion sits
        # behind the carry chain instead of in front of it.
        def addend_for(root, subtract):
            return Cat(Const(3, 2), root ^ subtract.replicate(digits), subtract.replicate(3))
        addend = Signal(signed(digits + 5))
        following = Signal(signed(digits + 3))
        m.d.comb += following.eq(shifted + addend)
        fits = ~following[-1]                   # the root bit, and the next step subtracts
        root_next = Cat(fits, self.root)[:digits]
        m.d.sync += self.done.eq(0)
        with m.If(busy):
            m.d.sync += [
                radicand.eq(radicand << 2),
                pair.eq(radicand[-4:-2]),
                remainder.eq(following),
                self.root.eq(root_next),
                addend.eq(addend_for(root_next, fits)),
                count.eq(count - 1),
            ]
            with m.If(count == 1):
                m.d.sync += [busy.eq(0), self.done.eq(1)]
        with m.Elif(self.start):
            m.d.sync += [
                radicand.eq(padded), pair.eq(padded[-2:]), remainder.eq(0), self.root.eq(0),
                addend.eq(addend_for(Const(0, digits), Const(1))),
                count.eq(digits), busy.eq(1),
            ]
        return m
