"""One Jacobi rotation unit: dot products, rotation angle, and the rotation itself."""
from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .cordic import RotationAngle
from .isqrt import IterativeSqrt
from .params import SVDParams

#: Register stages from ``accumulate`` to the accumulators holding the new sum:
#: product register, then accumulator register (maps onto a DSP48's MREG + PREG).
MAC_LATENCY = 2
#: Register stages from ``rotate`` to ``rotated``: product register, then the
#: register after adding the two products, rounding and saturating.
ROTATE_LATENCY = 2


def saturated(value, width: int):
    """``value`` clamped to a signed ``width``-bit range (combinational)."""
    low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return Mux(value < low, low, Mux(value > high, high, value))


class RotationUnit(wiring.Component):
    """Processes one column pair ``(top, bottom)`` at a time, one row per cycle.

    Three phases, driven by the engine's controller:

    * *dot*: pulse ``clear``, then present rows on ``dot_top``/``dot_bottom`` with
      ``accumulate``; ``MAC_LATENCY``
      cycles after the last row, ``alpha``, ``beta``, ``gamma`` hold the exact sums.
    * *angle*: pulse ``angle_start``; ``angle_done`` strobes ``angle_latency`` cycles
      later with ``c``, ``s`` and ``skip`` (identical to the model's pair rotation).
    * *rotate*: present rows of ``a`` and ``v`` with ``rotate``; ``ROTATE_LATENCY``
      cycles later ``rotated`` strobes with the rotated, rounded, saturated rows.
    * *norm* (after the last sweep): after a dot phase, pulse ``norm_start``;
      ``norm_done`` strobes with ``sigma_top = isqrt(alpha)``, ``sigma_bottom = isqrt(beta)``
      after ``norm_latency`` cycles.

    Throughput: one row per cycle in the dot and rotate phases. Reset clears the
    pipeline valid flags; the accumulators are cleared by ``clear``.
    """

    def __init__(self, params: SVDParams):
        self.params = p = params
        self._angle = RotationAngle(params)
        self._sqrt = IterativeSqrt(p.dot_width - 1)
        self.angle_latency = self._angle.latency
        self.norm_latency = 2 * self._sqrt.latency + 2
        super().__init__({
            "a_top": In(signed(p.col_width)), "a_bottom": In(signed(p.col_width)),
            "v_top": In(signed(p.v_width)), "v_bottom": In(signed(p.v_width)),
            "dot_top": In(signed(p.col_width)), "dot_bottom": In(signed(p.col_width)),
            "clear": In(1), "accumulate": In(1),
            "alpha": Out(unsigned(p.dot_width - 1)), "beta": Out(unsigned(p.dot_width - 1)),
            "gamma": Out(signed(p.dot_width)),
            "angle_start": In(1), "angle_done": Out(1), "skip": Out(1),
            "rotate": In(1), "rotated": Out(1),
            "a_top_out": Out(signed(p.col_width)), "a_bottom_out": Out(signed(p.col_width)),
            "v_top_out": Out(signed(p.v_width)), "v_bottom_out": Out(signed(p.v_width)),
            "norm_start": In(1), "norm_done": Out(1),
            "sigma_top": Out(unsigned(p.sigma_width)), "sigma_bottom": Out(unsigned(p.sigma_width)),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        m.submodules.angle = angle = self._angle
        m.submodules.sqrt = sqrt = self._sqrt

        # Dot products: exact, so the order of accumulation is irrelevant.
        prod_width = 2 * p.col_width
        tt, bb, tb = (Signal(signed(prod_width), name=n) for n in ("prod_tt", "prod_bb", "prod_tb"))
        prod_valid = Signal()
        m.d.sync += [
            tt.eq(self.dot_top * self.dot_top), bb.eq(self.dot_bottom * self.dot_bottom),
            tb.eq(self.dot_top * self.dot_bottom), prod_valid.eq(self.accumulate),
        ]
        acc_alpha = Signal(signed(p.dot_width))
        acc_beta = Signal(signed(p.dot_width))
        with m.If(self.clear):
            m.d.sync += [acc_alpha.eq(0), acc_beta.eq(0), self.gamma.eq(0)]
        with m.Elif(prod_valid):
            m.d.sync += [acc_alpha.eq(acc_alpha + tt), acc_beta.eq(acc_beta + bb),
                         self.gamma.eq(self.gamma + tb)]
        m.d.comb += [self.alpha.eq(acc_alpha), self.beta.eq(acc_beta)]

        # Angle.
        m.d.comb += [
            angle.start.eq(self.angle_start), angle.alpha.eq(self.alpha),
            angle.beta.eq(self.beta), angle.gamma.eq(self.gamma),
            self.angle_done.eq(angle.done), self.skip.eq(angle.skip),
        ]

        # Rotation: x' = rnd(c x - s y), y' = rnd(s x + c y), rnd = round half up, saturate.
        half = 1 << (p.cs_frac - 1)
        stage_valid = Signal()
        m.d.sync += [stage_valid.eq(self.rotate), self.rotated.eq(stage_valid)]
        for top, bottom, top_out, bottom_out, width in (
                (self.a_top, self.a_bottom, self.a_top_out, self.a_bottom_out, p.col_width),
                (self.v_top, self.v_bottom, self.v_top_out, self.v_bottom_out, p.v_width)):
            product_width = width + p.cs_width
            ct, sb, st, cb = (Signal(signed(product_width), name=f"{top_out.name}_{n}")
                              for n in ("ct", "sb", "st", "cb"))
            m.d.sync += [ct.eq(angle.c * top), sb.eq(angle.s * bottom),
                         st.eq(angle.s * top), cb.eq(angle.c * bottom)]
            m.d.sync += [
                top_out.eq(saturated((ct - sb + half) >> p.cs_frac, width)),
                bottom_out.eq(saturated((st + cb + half) >> p.cs_frac, width)),
            ]

        # Norms: sigma = isqrt(alpha), then isqrt(beta), on one iterative square root.
        m.d.sync += self.norm_done.eq(0)
        with m.FSM(name="norm"):
            with m.State("IDLE"):
                m.d.comb += [sqrt.start.eq(self.norm_start), sqrt.value.eq(self.alpha)]
                with m.If(self.norm_start):
                    m.next = "TOP"
            with m.State("TOP"):
                with m.If(sqrt.done):
                    m.d.sync += self.sigma_top.eq(sqrt.root)
                    m.next = "START_BOTTOM"
            with m.State("START_BOTTOM"):
                m.d.comb += [sqrt.start.eq(1), sqrt.value.eq(self.beta)]
                m.next = "BOTTOM"
            with m.State("BOTTOM"):
                with m.If(sqrt.done):
                    m.d.sync += [self.sigma_bottom.eq(sqrt.root), self.norm_done.eq(1)]
                    m.next = "IDLE"
        return m
