"""Rotation angle of Jacobi pairs: skip test and CORDIC ``(cos θ, sin θ)``, bit-exact with the model.

One :class:`AnglePipeline` is fully unrolled (one register stage per CORDIC iteration,
each with fixed shifts), so it accepts a new pair every cycle; the engine shares it
among several rotation units, which feed it in turn.
"""
from __future__ import annotations

from amaranth.hdl import Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .model import cordic_constants, skip_margin
from .params import SVDParams, clog2

#: Register stages before the first CORDIC iteration: the operands as they arrive (the
#: engine selects them by issue slot); wide differences and bit lengths; normalising
#: shift amount and skip test; the shift; the sign fold.
PREPARE_STAGES = 5
#: Bits of a digit of the normalising shift amount: stage 2 shifts by whole digits,
#: stage 3 by at most SHIFT_DIGIT_BITS more.
SHIFT_DIGIT_BITS = 8
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


def angle_latency(params: SVDParams) -> int:
    """Cycles from a pair's ``start`` to its ``done`` in :class:`AnglePipeline`."""
    return PREPARE_STAGES + 2 * params.cordic_iters + FINISH_STAGES


class AnglePipeline(wiring.Component):
    """Computes ``skip``, ``c`` and ``s`` for column pairs as :mod:`.model` does.

    ``skip`` equals :func:`.model.skip_rotation`; when it is low, ``(c, s)`` equals
    :func:`.model.cordic_cos_sin` (Q2.cs_frac); when it is high, ``c = 1 << cs_frac``
    and ``s = 0``.

    Ports:

    * ``start`` (in): ``alpha``, ``beta`` (unsigned sums of squares), ``gamma`` (signed
      cross sum) and ``tag`` (any value the caller uses to recognise the result) are
      sampled in every cycle with ``start`` high (and held otherwise, so the stages
      do not toggle between pairs). They are dot products of two
      columns, so ``gamma**2 <= alpha*beta`` (Cauchy-Schwarz); the normalisation
      relies on it, and other inputs give unspecified ``c``, ``s``.
    * ``done`` (out): high exactly :attr:`latency` cycles after each ``start`` cycle,
      ``latency = PREPARE_STAGES + 2 * cordic_iters + FINISH_STAGES`` (38 with the
      defaults); ``c``, ``s``, ``skip`` and ``tag_out`` (the pair's ``tag``) are valid
      in that cycle only.

    Throughput: one pair per cycle; pairs may be issued back to back or with gaps, and
    come out in order with the same spacing. There is no backpressure.

    Datapath: the normalising arithmetic right shift of ``(beta - alpha, 2 gamma)`` by
    ``max(bit_length(alpha | beta) + 1 - input_bits, 0)``, a sign fold into the right
    half plane, ``cordic_iters`` vectoring stages, ``cordic_iters`` rotation stages
    (stage ``i`` shifts by the constant ``i``), then round half up to ``cs_frac``.
    Constants come from :func:`.model.cordic_constants`.

    Reset: every pair in flight is dropped (no ``done`` for it); ``c``, ``s``, ``skip``
    and ``tag_out`` are unspecified while ``done`` is low.
    """

    def __init__(self, params: SVDParams, tag_shape=1):
        self.params = p = params
        self.constants = cordic_constants(p)
        self.latency = angle_latency(p)
        self.tag_shape = Shape.cast(tag_shape)
        super().__init__({
            "start": In(1),
            "alpha": In(unsigned(p.dot_width - 1)),
            "beta": In(unsigned(p.dot_width - 1)),
            "gamma": In(signed(p.dot_width)),
            "tag": In(self.tag_shape),
            "done": Out(1),
            "c": Out(signed(p.cs_width)),
            "s": Out(signed(p.cs_width)),
            "skip": Out(1),
            "tag_out": Out(self.tag_shape),
        })

    def elaborate(self, platform):
        p, const = self.params, self.constants
        m = Module()
        in_bits = const.input_bits

        # Valid flags (reset) and the tag and skip flag travel beside the data.
        valid = [Signal(name=f"valid{i}") for i in range(self.latency)]
        tags = [Signal(self.tag_shape, name=f"tag{i}", reset_less=True) for i in range(self.latency)]
        m.d.sync += valid[0].eq(self.start)
        with m.If(self.start):
            m.d.sync += tags[0].eq(self.tag)
        m.d.sync += [b.eq(a) for a, b in zip(valid, valid[1:], strict=False)]
        m.d.sync += [b.eq(a) for a, b in zip(tags, tags[1:], strict=False)]
        m.d.comb += [self.done.eq(valid[-1]), self.tag_out.eq(tags[-1])]

        def register(shape, name):
            return Signal(shape, name=name, reset_less=True)

        # Stage 0: the operands, registered before any arithmetic: the engine picks them
        # by issue slot, and that multiplexer in front of the 53-bit subtraction and zero
        # test below was a long path.
        alpha = register(unsigned(p.dot_width - 1), "alpha_in")
        beta = register(unsigned(p.dot_width - 1), "beta_in")
        gamma = register(signed(p.dot_width), "gamma_in")
        # They hold between starts, so that no stage toggles between pairs.
        with m.If(self.start):
            m.d.sync += [alpha.eq(self.alpha), beta.eq(self.beta), gamma.eq(self.gamma)]

        # Stage 1: the wide operands: beta - alpha, 2 gamma, and the bit lengths that
        # the normalising shift and the skip test need.
        x_wide = register(signed(p.dot_width), "x_wide")            # beta - alpha
        y_wide = register(signed(p.dot_width + 1), "y_wide")        # 2 gamma
        # The normalising shift is bit_length(excess), excess = (alpha | beta) >> (in_bits - 1)
        # (alpha | beta bounds |x| and |gamma|): SHIFT_DIGIT_BITS-bit digits of excess,
        # whether each is non-zero and its own bit length, here; in stage 2 the highest
        # non-zero digit d gives a coarse shift by d * SHIFT_DIGIT_BITS and the fine
        # shift left for stage 3, bit_length(digit d) <= SHIFT_DIGIT_BITS. One barrel
        # shift over every amount in one stage was a long path.
        excess = (alpha | beta)[in_bits - 1:]
        digits = [excess[i:i + SHIFT_DIGIT_BITS] for i in range(0, len(excess), SHIFT_DIGIT_BITS)]
        digit_any = [register(1, f"excess_any{d}") for d in range(len(digits))]
        digit_bits = [register(range(SHIFT_DIGIT_BITS + 1), f"excess_bits{d}") for d in range(len(digits))]
        gamma_zero = register(1, "gamma_zero")
        m.d.sync += [
            x_wide.eq(beta - alpha),
            y_wide.eq(gamma << 1),
            gamma_zero.eq(gamma == 0),
        ]
        m.d.sync += [flag.eq(digit.any()) for flag, digit in zip(digit_any, digits, strict=True)]
        m.d.sync += [bits.eq(bit_length(digit)) for bits, digit in zip(digit_bits, digits, strict=True)]
        if p.skip_shift is not None:
            ab_bits = register(range(2 * p.dot_width), "ab_bits")          # bl(alpha) + bl(beta)
            gamma_bits = register(range(p.dot_width + 1), "gamma_bits")    # bl(|gamma|)
            magnitude = Mux(gamma < 0, -gamma, gamma)
            m.d.sync += [ab_bits.eq(bit_length(alpha) + bit_length(beta)),
                         gamma_bits.eq(bit_length(magnitude[:p.dot_width - 1]))]

        # Stage 2: the coarse shift by the highest non-zero digit (none: no shift), the
        # fine shift amount, and the skip decision. The fine shift reads only the low
        # cordic_width + SHIFT_DIGIT_BITS bits of a coarse-shifted operand, so those are
        # all it keeps (the same bits the whole shift would have kept).
        kept = p.cordic_width + SHIFT_DIGIT_BITS
        fine = register(range(SHIFT_DIGIT_BITS + 1), "fine_shift")
        skip2 = register(1, "skip2")
        x_wide2 = register(signed(kept), "x_coarse")
        y_wide2 = register(signed(kept), "y_coarse")
        m.d.sync += [fine.eq(0), x_wide2.eq(x_wide), y_wide2.eq(y_wide)]
        for d in range(len(digits)):           # the highest non-zero digit wins
            with m.If(digit_any[d]):
                coarse = d * SHIFT_DIGIT_BITS
                m.d.sync += [fine.eq(digit_bits[d]), x_wide2.eq(x_wide >> coarse),
                             y_wide2.eq(y_wide >> coarse)]
        if p.skip_shift is None:
            m.d.sync += skip2.eq(gamma_zero)
        else:
            # 2 bl(|gamma|) + skip_margin(T) <= bl(alpha) + bl(beta), as model.skip_rotation
            m.d.sync += skip2.eq(gamma_zero | (2 * gamma_bits + skip_margin(p.skip_shift) <= ab_bits))

        # Stage 3: the shift (cordic_width bits: see params, gain * sqrt 2 < 4).
        x3 = register(signed(p.cordic_width), "x_shifted")
        y3 = register(signed(p.cordic_width), "y_shifted")
        skip = register(1, "skip3")
        m.d.sync += [x3.eq(x_wide2 >> fine), y3.eq(y_wide2 >> fine), skip.eq(skip2)]

        # Stage 4: into the right half plane: (x, y) and (-x, -y) give the same tan 2 theta.
        x = register(signed(p.cordic_width), "x_folded")
        y = register(signed(p.cordic_width), "y_folded")
        m.d.sync += [x.eq(Mux(x3 < 0, -x3, x3)), y.eq(Mux(x3 < 0, -y3, y3))]
        skips = [skip]

        def carry_skip():
            following = register(1, f"skip{len(skips) + 3}")
            m.d.sync += following.eq(skips[-1])
            skips.append(following)

        carry_skip()

        # One CORDIC stage per iteration with the constant shift i: counter-clockwise when
        # rotating towards z = 0 from z >= 0 (rotation mode), or towards y = 0 from y < 0
        # (vectoring mode). Angles in cordic_frac fraction bits per radian (< 2 rad).
        def iteration(x, y, z, i, rotation_mode, name):
            ccw = z >= 0 if rotation_mode else y < 0
            step = const.atan_table[i]
            x_next = register(signed(p.cordic_width), f"{name}_x{i}")
            y_next = register(signed(p.cordic_width), f"{name}_y{i}")
            z_next = register(signed(p.cordic_width), f"{name}_z{i}")
            m.d.sync += [
                x_next.eq(Mux(ccw, x - (y >> i), x + (y >> i))),
                y_next.eq(Mux(ccw, y + (x >> i), y - (x >> i))),
                z_next.eq(Mux(ccw, z - step, z + step)),
            ]
            carry_skip()
            return x_next, y_next, z_next

        z = 0
        for i in range(p.cordic_iters):
            x, y, z = iteration(x, y, z, i, False, "vector")
        # theta = 2 theta >> 1; rotate (x0, 0) by it.
        x, y, z = const.rotation_x0, 0, z >> 1
        for i in range(p.cordic_iters):
            x, y, z = iteration(x, y, z, i, True, "rotate")

        # Finish: round half up to cs_frac; a skipped pair is the identity.
        drop = p.cordic_frac - p.cs_frac
        half = 1 << (drop - 1)
        skip = skips[-1]        # the flag beside the last CORDIC stage
        m.d.sync += [
            self.c.eq(Mux(skip, 1 << p.cs_frac, (x + half) >> drop)),
            self.s.eq(Mux(skip, 0, (y + half) >> drop)),
            self.skip.eq(skip),
        ]
        return m
