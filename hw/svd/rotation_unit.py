"""One Jacobi rotation unit: dot products, and the rotation by an angle computed elsewhere."""
from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .delay import delayed
from .params import SVDParams
from .products import PIECE_LATENCY, Term, multiplier_block, pipelined_sum, product_terms

#: Adder levels that join a product's pieces (:func:`.products.pipelined_sum`). Two
#: cover every product here on either block: four pieces (24 x 24 on 18 x 18 blocks) or
#: a rotation's two products of two pieces each and its rounding constant.
SUM_LEVELS = 2
#: Register stages from ``accumulate`` to the accumulators holding the new sum: the
#: pieces' operands and products, the adder levels, the accumulator.
MAC_LATENCY = PIECE_LATENCY + SUM_LEVELS + 1
#: Register stages from ``rotate`` to ``rotated``: the pieces' operands and products,
#: the adder levels (products and rounding constant in one tree), then the shift and
#: saturation (a sum and the saturating comparisons in one cycle were a long path).
ROTATE_LATENCY = PIECE_LATENCY + SUM_LEVELS + 1


def saturated(value, width: int):
    """``value`` clamped to a signed ``width``-bit range (combinational).

    It is in range when the bits above the sign all equal the sign: a test of a few
    LUTs, not two comparisons with carry chains."""
    low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if len(value) <= width:
        return value
    sign = value[-1]
    in_range = (value[width - 1:] == 0) | (value[width - 1:] == (1 << (len(value) - width + 1)) - 1)
    return Mux(in_range, value[:width].as_signed(), Mux(sign, low, high))


class RotationUnit(wiring.Component):
    """Processes one column pair ``(top, bottom)`` at a time, one row per cycle.

    Three phases, driven by the engine's controller:

    * *dot*: pulse ``clear``, then present rows on ``dot_top``/``dot_bottom`` with
      ``accumulate``; ``MAC_LATENCY``
      cycles after the last row, ``alpha``, ``beta``, ``gamma`` hold the exact sums.
    * *angle*: the engine hands ``alpha``, ``beta``, ``gamma`` to a shared
      :class:`~.cordic.AnglePipeline` and presents its result on ``c`` and ``s`` with
      ``angle_load``; the unit holds them until the next ``angle_load``.
    * *rotate*: at least one cycle after ``angle_load``, present rows of ``a`` and
      ``v`` with ``rotate``; ``ROTATE_LATENCY`` cycles later ``rotated`` strobes with
      the rotated, rounded, saturated rows.

    Throughput: one row per cycle in the dot and rotate phases. Reset clears the
    pipeline valid flags; the accumulators are cleared by ``clear``.
    """

    def __init__(self, params: SVDParams):
        self.params = p = params
        super().__init__({
            "a_top": In(signed(p.col_width)), "a_bottom": In(signed(p.col_width)),
            "v_top": In(signed(p.v_width)), "v_bottom": In(signed(p.v_width)),
            "dot_top": In(signed(p.col_width)), "dot_bottom": In(signed(p.col_width)),
            "clear": In(1), "accumulate": In(1),
            "alpha": Out(unsigned(p.dot_width - 1)), "beta": Out(unsigned(p.dot_width - 1)),
            "gamma": Out(signed(p.dot_width)),
            "angle_load": In(1), "c": In(signed(p.cs_width)), "s": In(signed(p.cs_width)),
            "rotate": In(1), "rotated": Out(1),
            "a_top_out": Out(signed(p.col_width)), "a_bottom_out": Out(signed(p.col_width)),
            "v_top_out": Out(signed(p.v_width)), "v_bottom_out": Out(signed(p.v_width)),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()

        block = multiplier_block(platform)

        # Dot products: exact, so the order of accumulation is irrelevant. Each product
        # is built from the platform's multiplier blocks (:mod:`.products`); its pieces
        # take their operands only with ``accumulate`` (the rotation's only with
        # ``rotate``), in the blocks' own input registers.
        products = [
            pipelined_sum(m, product_terms(m, block, x, y, self.accumulate, f"dot_{name}"),
                          SUM_LEVELS, f"prod_{name}")
            for name, x, y in (("tt", self.dot_top, self.dot_top),
                               ("bb", self.dot_bottom, self.dot_bottom),
                               ("tb", self.dot_top, self.dot_bottom))]
        tt, bb, tb = products
        prod_valid = delayed(m, self.accumulate, MAC_LATENCY - 1, "prod_valid")
        acc_alpha = Signal(signed(p.dot_width))
        acc_beta = Signal(signed(p.dot_width))
        with m.If(self.clear):
            m.d.sync += [acc_alpha.eq(0), acc_beta.eq(0), self.gamma.eq(0)]
        with m.Elif(prod_valid):
            m.d.sync += [acc_alpha.eq(acc_alpha + tt), acc_beta.eq(acc_beta + bb),
                         self.gamma.eq(self.gamma + tb)]
        m.d.comb += [self.alpha.eq(acc_alpha), self.beta.eq(acc_beta)]

        # Angle of the current pair, held for the rotate phase, with the sum and
        # difference the rotation's products need.
        c = Signal(signed(p.cs_width))
        s = Signal(signed(p.cs_width))
        c_plus_s = Signal(signed(p.cs_width))
        s_minus_c = Signal(signed(p.cs_width))
        with m.If(self.angle_load):
            m.d.sync += [c.eq(self.c), s.eq(self.s),
                         c_plus_s.eq(self.c + self.s), s_minus_c.eq(self.s - self.c)]

        # Rotation: x' = rnd(c x - s y), y' = rnd(s x + c y), rnd = round half up, saturate.
        # The products are exact, so every form below is the model's bit for bit.
        # On a block with a pre-adder, three products instead of four (a complex
        # multiply): k1 = c (x + y), k2 = x (s - c), k3 = y (c + s); x' = k1 - k3,
        # y' = k1 + k2. On a DSP48E1 each is one block (x + y <= 25 bits on its A port);
        # s - c and c + s lie in [-2, 2) (|theta| <= pi/4), so they keep the cs_width of
        # c and s. Without a pre-adder, x + y would be a carry chain between the
        # operand registers and the blocks, so the four products are taken directly.
        half = Const(1 << (p.cs_frac - 1))
        m.d.sync += self.rotated.eq(delayed(m, self.rotate, ROTATE_LATENCY - 1, "rotate_valid"))
        def products(name, *pairs):
            return [product_terms(m, block, x, y, self.rotate, f"{name}_k{i}")
                    for i, (x, y) in enumerate(pairs, start=1)]

        for top, bottom, top_out, bottom_out, width in (
                (self.a_top, self.a_bottom, self.a_top_out, self.a_bottom_out, p.col_width),
                (self.v_top, self.v_bottom, self.v_top_out, self.v_bottom_out, p.v_width)):
            name = top_out.name
            if block.pre_adder:
                k1, k2, k3 = products(name, (top + bottom, c), (top, s_minus_c), (bottom, c_plus_s))
                top_terms, bottom_terms = [*k1, *(-t for t in k3)], [*k1, *k2]
            else:
                cx, sy, sx, cy = products(name, (top, c), (bottom, s), (top, s), (bottom, c))
                top_terms, bottom_terms = [*cx, *(-t for t in sy)], [*sx, *cy]
            top_sum = pipelined_sum(m, [*top_terms, Term(half)], SUM_LEVELS, top_out.name)
            bottom_sum = pipelined_sum(m, [*bottom_terms, Term(half)], SUM_LEVELS, bottom_out.name)
            m.d.sync += [
                top_out.eq(saturated(top_sum >> p.cs_frac, width)),
                bottom_out.eq(saturated(bottom_sum >> p.cs_frac, width)),
            ]

        return m
