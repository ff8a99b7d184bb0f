"""A test harness for :mod:`rosvd.hw.svd.products`: ``a * b - c * d + constant`` through
product pieces and a pipelined sum, the shape of a rotation's output (k1 - k3 + half).

Used by the Amaranth simulator tests (blocks inferred) and by the ECP5 place-and-route
test of the same harness exported with instantiated MULT18X18D blocks.
"""
from __future__ import annotations

from amaranth.hdl import Const, Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rosvd.hw.svd.products import PIECE_LATENCY, Term, multiplier_block, pipelined_sum, product_terms


class ProductHarness(wiring.Component):
    """``out`` = ``a*b - c*d + constant`` of the operands taken with ``enable``,
    :attr:`latency` cycles later; ``levels`` adder levels join the pieces."""

    def __init__(self, a_width: int, b_width: int, constant: int, levels: int, block=None):
        self.constant, self.levels, self.block = constant, levels, block
        super().__init__({
            "a": In(signed(a_width)), "b": In(signed(b_width)),
            "c": In(signed(a_width)), "d": In(signed(b_width)), "enable": In(1),
            "out": Out(signed(a_width + b_width + 2 + max(constant.bit_length(), 1))),
        })

    @property
    def latency(self) -> int:
        return PIECE_LATENCY + self.levels

    def elaborate(self, platform):
        m = Module()
        block = self.block or multiplier_block(platform)
        ab = product_terms(m, block, self.a, self.b, self.enable, "ab")
        cd = product_terms(m, block, self.c, self.d, self.enable, "cd")
        total = pipelined_sum(m, [*ab, *(-t for t in cd), Term(Const(self.constant))], self.levels, "sum")
        m.d.comb += self.out.eq(total)
        return m
