"""The simple register port between a bus slave and the register decode.

Seen from the bus side (the driver of the strobes): ``addr`` (word index, byte offset / 4),
``r_stb``, ``w_stb``, ``w_data``, ``w_strb`` out; ``r_data``, ``r_err``, ``w_err`` in.

Timing contract: a strobe in cycle ``t`` (at most one of ``r_stb``/``w_stb``) is answered
in cycle ``t + 1``: a read's value on ``r_data`` with ``r_err`` (illegal address), a
write's ``w_err`` (illegal address or a read-only register; the write then changed
nothing). A write takes effect at the edge ending cycle ``t``. The answers hold until
the next strobe.
"""
from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

#: Bits of a register and of the data bus.
DATA_WIDTH = 32
#: Byte strobes of a data word.
STROBE_WIDTH = DATA_WIDTH // 8
#: Bytes per register word: register ``i`` sits at byte offset ``WORD_BYTES * i``.
WORD_BYTES = DATA_WIDTH // 8


class RegisterPortSignature(wiring.Signature):
    """Register port of ``addr_width`` word-address bits (see the module docstring)."""

    def __init__(self, addr_width: int):
        if not isinstance(addr_width, int) or addr_width < 1:
            raise ValueError(f"RegisterPortSignature: addr_width must be a positive int, not {addr_width!r}")
        self.addr_width = addr_width
        super().__init__({
            "addr": Out(addr_width),
            "r_stb": Out(1),
            "r_data": In(DATA_WIDTH),
            "r_err": In(1),
            "w_stb": Out(1),
            "w_data": Out(DATA_WIDTH),
            "w_strb": Out(STROBE_WIDTH),
            "w_err": In(1),
        })

    def __eq__(self, other):
        return isinstance(other, RegisterPortSignature) and other.addr_width == self.addr_width

    def __hash__(self):
        return hash((type(self), self.addr_width))


class ReadPortSignature(wiring.Signature):
    """A read-only window: ``addr``/``r_stb`` out, ``r_data`` in, answered one cycle later."""

    def __init__(self, addr_width: int):
        self.addr_width = addr_width
        super().__init__({
            "addr": Out(addr_width),
            "r_stb": Out(1),
            "r_data": In(DATA_WIDTH),
        })

    def __eq__(self, other):
        return isinstance(other, ReadPortSignature) and other.addr_width == self.addr_width

    def __hash__(self):
        return hash((type(self), self.addr_width))
