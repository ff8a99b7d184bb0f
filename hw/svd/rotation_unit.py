"""One Jacobi rotation unit: dot products, and the rotation by an angle computed elsewhere."""
from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .params import SVDParams

#: Register stages from ``accumulate`` to the accumulators holding the new sum: input,
#: partial products (one DSP48 or 18x18 multiplier stage each), their sum (the exact
#: product), accumulator.
MAC_LATENCY = 4
#: Bits of a multiplier's narrow signed port (DSP48E1 B, ECP5 MULT18X18D). A dot-product
#: operand is split into its low ``MULTIPLIER_PORT_BITS - 1`` bits, unsigned, and the
#: signed rest, so each partial product is one DSP48E1 (25 x 18) on Xilinx.
MULTIPLIER_PORT_BITS = 18
#: Register stages from ``rotate`` to ``rotated``: inputs (with the pre-added sum),
#: products, the sum of two products with the rounding constant, then the shift and
#: saturation (the sum and the saturating comparisons in one cycle were a long path).
ROTATE_LATENCY = 4


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

        # Dot products: exact, so the order of accumulation is irrelevant. Each product
        # x * y is taken as (x_high * y) << low_bits + x_low * y, the two partial
        # products registered before they are summed: a wide multiply in one cycle
        # (several 18x18 multipliers and their adders) was the engine's longest path.
        prod_width = 2 * p.col_width
        low_bits = min(MULTIPLIER_PORT_BITS - 1, p.col_width - 1)
        high_bits = p.col_width - low_bits
        dot_top = Signal(signed(p.col_width))
        dot_bottom = Signal(signed(p.col_width))
        in_valid, partial_valid, prod_valid = Signal(), Signal(), Signal()
        # Inputs are taken only with ``accumulate`` (the rotation's only with ``rotate``):
        # else, without a multiplexer ahead of them, the two sets would be one register
        # driving every multiplier of the unit, from afar.
        with m.If(self.accumulate):
            m.d.sync += [dot_top.eq(self.dot_top), dot_bottom.eq(self.dot_bottom)]
        # The cross product has its own copies, which also load with ``clear`` (harmless:
        # only valid rows are accumulated) so that Yosys keeps them apart: each input
        # register then feeds half as many multipliers.
        cross_top = Signal(signed(p.col_width))
        cross_bottom = Signal(signed(p.col_width))
        with m.If(self.accumulate | self.clear):
            m.d.sync += [cross_top.eq(self.dot_top), cross_bottom.eq(self.dot_bottom)]
        m.d.sync += [in_valid.eq(self.accumulate), partial_valid.eq(in_valid),
                     prod_valid.eq(partial_valid)]
        products = []
        for name, x, y in (("tt", dot_top, dot_top), ("bb", dot_bottom, dot_bottom),
                           ("tb", cross_top, cross_bottom)):
            x_low, x_high = x.as_unsigned()[:low_bits], x[low_bits:].as_signed()
            low = Signal(signed(low_bits + 1 + p.col_width), name=f"partial_{name}_low")
            high = Signal(signed(high_bits + p.col_width), name=f"partial_{name}_high")
            product = Signal(signed(prod_width), name=f"prod_{name}")
            m.d.sync += [low.eq(x_low * y), high.eq(x_high * y),
                         product.eq((high << low_bits) + low)]
            products.append(product)
        tt, bb, tb = products
        acc_alpha = Signal(signed(p.dot_width))
        acc_beta = Signal(signed(p.dot_width))
        with m.If(self.clear):
            m.d.sync += [acc_alpha.eq(0), acc_beta.eq(0), self.gamma.eq(0)]
        with m.Elif(prod_valid):
            m.d.sync += [acc_alpha.eq(acc_alpha + tt), acc_beta.eq(acc_beta + bb),
                         self.gamma.eq(self.gamma + tb)]
        m.d.comb += [self.alpha.eq(acc_alpha), self.beta.eq(acc_beta)]

        # Angle of the current pair, held for the rotate phase.
        c = Signal(signed(p.cs_width))
        s = Signal(signed(p.cs_width))
        with m.If(self.angle_load):
            m.d.sync += [c.eq(self.c), s.eq(self.s)]

        # Rotation: x' = rnd(c x - s y), y' = rnd(s x + c y), rnd = round half up, saturate.
        # Three products instead of four (a complex multiply): k1 = c (x + y),
        # k2 = x (s - c), k3 = y (c + s); x' = k1 - k3, y' = k1 + k2. The products are
        # exact, so the result is the model's bit for bit. With col_width <= 24 each
        # product fits one DSP48 (25 x 18; x + y uses its pre-adder), and s - c, c + s
        # lie in [-2, 2) (|theta| <= pi/4), so they keep the cs_width of c and s.
        half = 1 << (p.cs_frac - 1)
        c_plus_s = Signal(signed(p.cs_width))
        s_minus_c = Signal(signed(p.cs_width))
        m.d.sync += [c_plus_s.eq(c + s), s_minus_c.eq(s - c)]
        in_valid, product_valid, sum_valid = Signal(), Signal(), Signal()
        m.d.sync += [in_valid.eq(self.rotate), product_valid.eq(in_valid),
                     sum_valid.eq(product_valid), self.rotated.eq(sum_valid)]
        for top, bottom, top_out, bottom_out, width in (
                (self.a_top, self.a_bottom, self.a_top_out, self.a_bottom_out, p.col_width),
                (self.v_top, self.v_bottom, self.v_top_out, self.v_bottom_out, p.v_width)):
            product_width = width + 1 + p.cs_width
            x = Signal(signed(width), name=f"{top_out.name}_x")
            y = Signal(signed(width), name=f"{top_out.name}_y")
            x_plus_y = Signal(signed(width + 1), name=f"{top_out.name}_x_plus_y")
            with m.If(self.rotate):
                m.d.sync += [x.eq(top), y.eq(bottom), x_plus_y.eq(top + bottom)]
            k1, k2, k3 = (Signal(signed(product_width), name=f"{top_out.name}_k{i}") for i in (1, 2, 3))
            m.d.sync += [k1.eq(c * x_plus_y), k2.eq(x * s_minus_c), k3.eq(y * c_plus_s)]
            top_sum = Signal(signed(product_width + 1), name=f"{top_out.name}_sum")
            bottom_sum = Signal(signed(product_width + 1), name=f"{bottom_out.name}_sum")
            m.d.sync += [top_sum.eq(k1 - k3 + half), bottom_sum.eq(k1 + k2 + half)]
            m.d.sync += [
                top_out.eq(saturated(top_sum >> p.cs_frac, width)),
                bottom_out.eq(saturated(bottom_sum >> p.cs_frac, width)),
            ]

        return m
