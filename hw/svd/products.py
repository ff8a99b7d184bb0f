"""Exact products built from an FPGA's hard multiplier blocks, with a latency that is the
same whichever block they are built from.

A product ``a * b`` wider than a block is split into *pieces*: each operand is cut into
signed chunks that fit the block's ports (:func:`chunks`), each pair of chunks is one
block (:class:`MultiplierPiece`), and the pieces, shifted into place, are added by a
pipelined adder tree (:func:`pipelined_sum`). Every piece registers its operands and its
product, the block's own input and output registers, so a block never sits between two
fabric paths. Products are exact, so the result is the same bit for bit whatever the
block; only the number of pieces and the adder tree's shape change with the target.

Which block: the ``multiplier_block`` of the platform given to ``elaborate``
(:class:`.platform.ExportPlatform` when Verilog is exported for one family), else
:data:`DSP48E1`, inferred (simulation, and Xilinx, where Yosys and Vivado pack the
registers around an inferred multiply into the DSP48's AREG/BREG/MREG/PREG).
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

#: Register stages of a piece: operands (the block's input registers), product (its
#: output register).
PIECE_LATENCY = 2


@dataclass(frozen=True)
class MultiplierBlock:
    """A hard multiplier: signed ``wide_bits`` x signed ``narrow_bits``.

    ``primitive`` names the cell instantiated for each piece, with its input and output
    registers; ``None`` writes a plain multiply between registers for the tools to infer.
    ``pre_adder``: the block can add two operands ahead of its multiplier, so a product
    of a sum, ``(x + y) * c``, needs no fabric carry chain in front of the block.
    """

    name: str
    wide_bits: int
    narrow_bits: int
    primitive: str | None = None
    pre_adder: bool = False


#: Xilinx 7-series DSP48E1: 25 x 18 signed (A x B), inferred; its pre-adder (A + D, then
#: the AD register) can take a sum that a register holds before the multiply.
DSP48E1 = MultiplierBlock("DSP48E1", 25, 18, pre_adder=True)
#: Lattice ECP5 MULT18X18D: 18 x 18 signed, instantiated. Yosys maps an inferred ECP5
#: multiply without the block's registers, which leaves its 3.9 ns in a fabric path.
MULT18X18D = MultiplierBlock("MULT18X18D", 18, 18, primitive="MULT18X18D")


def multiplier_block(platform) -> MultiplierBlock:
    """The block products are built from on ``platform`` (:data:`DSP48E1` by default)."""
    return getattr(platform, "multiplier_block", DSP48E1)


def _as_signed(value: Value) -> Value:
    """``value`` as a signed value of the same number (an unsigned one gains a zero bit)."""
    return value if value.shape().signed else Cat(value, Const(0, 1)).as_signed()


def chunks(value: Value, port_bits: int) -> list[tuple[Value, int]]:
    """``value`` (signed) as ``(chunk, shift)`` pairs with ``sum(chunk << shift) == value``,
    each fitting a signed ``port_bits`` port: unsigned ``port_bits - 1``-bit chunks from
    the bottom (zero-extended by the port), then the signed rest."""
    value = _as_signed(Value.cast(value))
    parts, shift = [], 0
    while len(value) - shift > port_bits:
        parts.append((value[shift:shift + port_bits - 1], shift))
        shift += port_bits - 1
    parts.append((value[shift:].as_signed(), shift))
    return parts


def _signed_width(value: Value) -> int:
    """Bits of a signed port that holds ``value`` (an unsigned value needs one more)."""
    shape = value.shape()
    return shape.width + (0 if shape.signed else 1)


class MultiplierPiece(wiring.Component):
    """One block: ``p`` is ``a * b`` of the operands taken ``PIECE_LATENCY`` cycles ago.

    The operands load only while ``enable`` is high and then hold, so ``p`` holds too.
    Data registers have no reset (a block's do not either): what they hold before the
    first ``enable`` is meaningless, and callers track validity themselves.
    """

    def __init__(self, block: MultiplierBlock, a_width: int, b_width: int):
        if a_width > block.wide_bits or b_width > block.narrow_bits:
            raise ValueError(f"{a_width} x {b_width} bits does not fit one {block.name} "
                             f"({block.wide_bits} x {block.narrow_bits})")
        self.block = block
        super().__init__({"a": In(signed(a_width)), "b": In(signed(b_width)), "enable": In(1),
                          "p": Out(signed(a_width + b_width))})

    def elaborate(self, platform):
        m = Module()
        if self.block.primitive == "MULT18X18D":
            self._mult18x18d(m)
        elif self.block.primitive is None:
            a = Signal.like(self.a, reset_less=True)
            b = Signal.like(self.b, reset_less=True)
            with m.If(self.enable):
                m.d.sync += [a.eq(self.a), b.eq(self.b)]
            product = Signal.like(self.p, reset_less=True)
            m.d.sync += product.eq(a * b)
            m.d.comb += self.p.eq(product)
        else:
            raise ValueError(f"no mapping for multiplier primitive {self.block.primitive!r}")
        return m

    def _mult18x18d(self, m: Module):
        """ECP5 sysDSP 18x18 multiplier: A and B registered on CLK0 with CE0 (``enable``),
        P registered on CLK0 with CE1 (always), both operands signed, no reset."""
        port = self.block.wide_bits
        a = Signal(signed(port))
        b = Signal(signed(port))
        p = Signal(signed(2 * port))
        m.d.comb += [a.eq(self.a), b.eq(self.b), self.p.eq(p[:len(self.p)].as_signed())]
        bits = {f"i_A{i}": a[i] for i in range(port)} | {f"i_B{i}": b[i] for i in range(port)}
        bits |= {f"i_C{i}": 0 for i in range(port)} | {f"o_P{i}": p[i] for i in range(2 * port)}
        m.submodules.block = Instance(
            "MULT18X18D",
            p_REG_INPUTA_CLK="CLK0", p_REG_INPUTA_CE="CE0", p_REG_INPUTA_RST="RST0",
            p_REG_INPUTB_CLK="CLK0", p_REG_INPUTB_CE="CE0", p_REG_INPUTB_RST="RST0",
            p_REG_OUTPUT_CLK="CLK0", p_REG_OUTPUT_CE="CE1", p_REG_OUTPUT_RST="RST0",
            p_GSR="DISABLED", p_RESETMODE="SYNC",
            i_CLK0=ClockSignal(), i_CE0=self.enable, i_CE1=1, i_RST0=0,
            i_SIGNEDA=1, i_SIGNEDB=1, i_SOURCEA=0, i_SOURCEB=0,
            **bits)


@dataclass(frozen=True)
class Term:
    """``(-1 if negative else 1) * (value << shift)``, one addend of :func:`pipelined_sum`."""

    value: Value
    shift: int = 0
    negative: bool = False

    def __neg__(self) -> Term:
        return Term(self.value, self.shift, not self.negative)


def product_terms(m: Module, block: MultiplierBlock, a, b, enable, name: str) -> list[Term]:
    """The pieces of ``a * b`` (both signed) as terms, valid ``PIECE_LATENCY`` cycles
    after ``enable``. The operand whose chunks need fewer blocks goes on the wide port."""
    a, b = _as_signed(Value.cast(a)), _as_signed(Value.cast(b))
    plans = [(chunks(x, block.wide_bits), chunks(y, block.narrow_bits)) for x, y in ((a, b), (b, a))]
    wide, narrow = min(plans, key=lambda plan: len(plan[0]) * len(plan[1]))
    terms = []
    for i, (x, x_shift) in enumerate(wide):
        for j, (y, y_shift) in enumerate(narrow):
            piece = MultiplierPiece(block, _signed_width(x), _signed_width(y))
            m.submodules[f"{name}_piece{i}{j}"] = piece
            m.d.comb += [piece.a.eq(x), piece.b.eq(y), piece.enable.eq(enable)]
            terms.append(Term(piece.p, x_shift + y_shift))
    return terms


def _fold_constant(terms: list[Term]) -> list[Term]:
    """A constant ``0 <= c < 2**shift`` joins a positive term with that ``shift`` for free,
    in the term's zero low bits; other constants stay terms of their own."""
    constants = [t for t in terms if isinstance(t.value, Const) and not t.negative and t.shift == 0]
    for constant in constants:
        c = constant.value.value
        host = next((t for t in terms if t is not constant and not t.negative
                     and not isinstance(t.value, Const) and 0 <= c < (1 << t.shift)), None)
        if host is not None:
            joined = Term(Cat(Const(c, host.shift), host.value).as_signed(), 0)
            terms = [joined if t is host else t for t in terms if t is not constant]
    return terms


def _combine(first: Term, second: Term) -> tuple[Value, int, bool]:
    """The sum of two terms as ``(value, shift, negative)`` with the smaller shift."""
    shift = min(first.shift, second.shift)
    x = _as_signed(first.value) << (first.shift - shift)
    y = _as_signed(second.value) << (second.shift - shift)
    if first.negative == second.negative:
        return x + y, shift, first.negative
    return (y - x, shift, False) if first.negative else (x - y, shift, False)


def pipelined_sum(m: Module, terms: list[Term], levels: int, name: str) -> Signal:
    """The exact sum of ``terms`` in a register, ``levels`` cycles after the terms.

    Each level adds terms in pairs, lowest shifts first (each adder is one carry chain);
    a term left without a partner is registered as it is, a constant passed on as it
    is, and a constant is folded into a term's zero low bits where one has room for it
    (:func:`_fold_constant`). The last level's register holds the sum itself.
    """
    terms = _fold_constant(terms)
    if len(terms) > 1 << levels:
        raise ValueError(f"{name}: {len(terms)} terms need more than {levels} adder levels")
    for level in range(levels):
        terms = sorted(_fold_constant(terms), key=lambda t: (isinstance(t.value, Const), t.shift))
        last_level = level == levels - 1
        out = []
        for index in range(0, len(terms), 2):
            pair = terms[index:index + 2]
            if len(pair) == 2:
                value, shift, negative = _combine(*pair)
            elif isinstance(pair[0].value, Const) and not last_level:
                out.append(pair[0])
                continue
            else:
                value, shift, negative = _as_signed(pair[0].value), pair[0].shift, pair[0].negative
            if last_level:
                value = value << shift
                value, shift, negative = (-value if negative else value), 0, False
            register = Signal(signed(len(value)), name=f"{name}_sum{level}_{index // 2}", reset_less=True)
            m.d.sync += register.eq(value)
            out.append(Term(register, shift, negative))
        terms = out
    (result,) = terms
    return result.value
