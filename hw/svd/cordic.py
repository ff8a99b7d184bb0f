"""Rotation angle of a Jacobi pair: skip test and CORDIC ``(cos θ, sin θ)``, bit-exact with the model."""
from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .model import cordic_constants
from .params import SVDParams, clog2

#: Register stages before the first CORDIC iteration: wide differences and bit
#: lengths; normalising shift amount and skip test; the shift; the sign fold.
PREPARE_STAGES = 4
#: Register stages after the last CORDIC iteration: rounding to ``cs_frac``.
FINISH_STAGES = 1


def bit_length(value):
    """``int.bit_length`` of an unsigned value (combinational, logarithmic depth)."""
    width = len(value)
    if width <= 1:
        return value
    low_width = 1 << (clog2(width) - 1)
    high, low = value[low_width:], value[:low_width]
    return Mux(high.any(), bit_length(high) + low_width, bit_length(low))


class RotationAngle(wiring.Component):
    """Computes ``skip``, ``c`` and ``s`` for one column pair as :mod:`.model` does.

    ``skip`` equals :func:`.model.skip_rotation`; when it is low, ``(c, s)`` equals
    :func:`.model.cordic_cos_sin` (Q2.cs_frac); when it is high, ``c = 1 << cs_frac``
    and ``s = 0``.

    Ports:

    * ``start`` (in): one-cycle strobe; ``alpha``, ``beta`` (unsigned sums of squares)
      and ``gamma`` (signed cross sum) are sampled in that cycle only. They are dot
      products of two columns, so ``gamma**2 <= alpha*beta`` (Cauchy-Schwarz); the
      normalisation relies on it, and other inputs give unspecified ``c``, ``s``.
    * ``done`` (out): one-cycle strobe exactly :attr:`latency` clock cycles after the
      ``start`` cycle, ``latency = 2 * cordic_iters + PREPARE_STAGES + FINISH_STAGES``
      (37 with the defaults). ``c``, ``s`` and ``skip`` are valid from that cycle and
      hold until the next ``done``.

    Throughput: one pair per :attr:`latency` cycles; ``start`` is accepted in the
    ``done`` cycle (back to back) or any later cycle. A ``start`` while a pair is in
    flight is ignored (no extra ``done``; the pair in flight is unaffected).

    Datapath: the normalising arithmetic right shift of ``(beta - alpha, 2 gamma)`` by
    ``max(bit_length(alpha | beta) + 1 - input_bits, 0)``, a sign fold into the right
    half plane, then one iterative CORDIC stage (one iteration per cycle, shared by the
    ``cordic_iters`` vectoring and the ``cordic_iters`` rotation iterations), then
    round half up to ``cs_frac``. Constants come from :func:`.model.cordic_constants`.

    Reset: returns to idle, the pair in flight is dropped, ``c``, ``s``, ``skip`` read 0.
    """

    def __init__(self, params: SVDParams):
        self.params = p = params
        self.constants = cordic_constants(p)
        self.latency = 2 * p.cordic_iters + PREPARE_STAGES + FINISH_STAGES
        super().__init__({
            "start": In(1),
            "alpha": In(unsigned(p.dot_width - 1)),
            "beta": In(unsigned(p.dot_width - 1)),
            "gamma": In(signed(p.dot_width)),
            "c": Out(signed(p.cs_width)),
            "s": Out(signed(p.cs_width)),
            "skip": Out(1),
            "done": Out(1),
        })

    def elaborate(self, platform):
        p, const = self.params, self.constants
        m = Module()
        in_bits = const.input_bits
        last_iter = p.cordic_iters - 1

        # Stage 1: the wide operands: beta - alpha, 2 gamma, and the bit lengths that
        # the normalising shift and the skip test need.
        x_wide = Signal(signed(p.dot_width))           # beta - alpha
        y_wide = Signal(signed(p.dot_width + 1))       # 2 gamma
        ab_or = Signal(unsigned(p.dot_width - 1))      # alpha | beta: bounds |x| and |gamma|
        ab_bits = Signal(range(2 * p.dot_width))       # bl(alpha) + bl(beta)
        gamma_bits = Signal(range(p.dot_width + 1))    # bl(|gamma|)
        gamma_zero = Signal()
        # Stage 2: normalising shift and skip decision.
        shift = Signal(range(p.dot_width + 2))
        skip = Signal()
        # CORDIC state (cordic_width bits, see params: gain * sqrt 2 < 4 and angles < 2 rad).
        x = Signal(signed(p.cordic_width))
        y = Signal(signed(p.cordic_width))
        z = Signal(signed(p.cordic_width))
        step_index = Signal(range(p.cordic_iters))
        rotation_mode = Signal()

        # One CORDIC iteration: counter-clockwise when rotating towards z = 0 from
        # z >= 0 (rotation mode), or towards y = 0 from y < 0 (vectoring mode).
        atan = Array(Const(step, signed(p.cordic_width)) for step in const.atan_table)
        step = atan[step_index]
        ccw = Mux(rotation_mode, z >= 0, y < 0)
        x_shifted, y_shifted = x >> step_index, y >> step_index
        x_next = Mux(ccw, x - y_shifted, x + y_shifted)
        y_next = Mux(ccw, y + x_shifted, y - x_shifted)
        z_next = Mux(ccw, z - step, z + step)

        drop = p.cordic_frac - p.cs_frac
        half = 1 << (drop - 1)

        m.d.sync += self.done.eq(0)
        with m.FSM(name="phase"):
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [
                        x_wide.eq(self.beta - self.alpha),
                        y_wide.eq(self.gamma << 1),
                        ab_or.eq(self.alpha | self.beta),
                        gamma_zero.eq(self.gamma == 0),
                    ]
                    if p.skip_shift is not None:
                        magnitude = Mux(self.gamma < 0, -self.gamma, self.gamma)
                        m.d.sync += [ab_bits.eq(bit_length(self.alpha) + bit_length(self.beta)),
                                     gamma_bits.eq(bit_length(magnitude[:p.dot_width - 1]))]
                    m.next = "NORMALISE"
            with m.State("NORMALISE"):
                # shift = max(bl(alpha | beta) + 1 - input_bits, 0)
                m.d.sync += shift.eq(bit_length(ab_or[in_bits - 1:]))
                if p.skip_shift is None:
                    m.d.sync += skip.eq(gamma_zero)
                else:
                    # 2 bl(|gamma|) + 2T + 2 <= bl(alpha) + bl(beta)
                    threshold = 2 * p.skip_shift + 2
                    m.d.sync += skip.eq(gamma_zero | (2 * gamma_bits + threshold <= ab_bits))
                m.next = "LOAD"
            with m.State("LOAD"):
                m.d.sync += [x.eq(x_wide >> shift), y.eq(y_wide >> shift)]
                m.next = "FOLD"
            with m.State("FOLD"):
                # into the right half plane: (x, y) and (-x, -y) give the same tan 2 theta
                with m.If(x < 0):
                    m.d.sync += [x.eq(-x), y.eq(-y)]
                m.d.sync += [z.eq(0), step_index.eq(0), rotation_mode.eq(0)]
                m.next = "ITERATE"
            with m.State("ITERATE"):
                m.d.sync += [x.eq(x_next), y.eq(y_next), z.eq(z_next), step_index.eq(step_index + 1)]
                with m.If(step_index == last_iter):
                    m.d.sync += step_index.eq(0)
                    with m.If(rotation_mode):
                        m.next = "ROUND"
                    with m.Else():
                        # theta = 2 theta >> 1; rotate (x0, 0) by it.
                        m.d.sync += [x.eq(const.rotation_x0), y.eq(0), z.eq(z_next >> 1),
                                     rotation_mode.eq(1)]
            with m.State("ROUND"):
                m.d.sync += [
                    self.c.eq(Mux(skip, 1 << p.cs_frac, (x + half) >> drop)),
                    self.s.eq(Mux(skip, 0, (y + half) >> drop)),
                    self.skip.eq(skip),
                    self.done.eq(1),
                ]
                m.next = "IDLE"
        return m
