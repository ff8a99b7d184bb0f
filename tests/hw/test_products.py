"""Products built from multiplier blocks (:mod:`rosvd.hw.svd.products`) are exact, with
the same latency whichever block they are built from."""
from __future__ import annotations

import dataclasses
import random

import pytest
from amaranth.hdl import Const, Module, Signal, signed
from amaranth.sim import Simulator

from rosvd.hw.svd.products import (
    DSP48E1,
    MULT18X18D,
    MultiplierPiece,
    Term,
    chunks,
    pipelined_sum,
    product_terms,
)
from rosvd.sim.product_harness import ProductHarness

#: ECP5's 18 x 18 decomposition with the pieces inferred, so Amaranth can simulate it.
MULT18X18_INFERRED = dataclasses.replace(MULT18X18D, primitive=None)
BLOCKS = {"dsp48e1": DSP48E1, "mult18x18": MULT18X18_INFERRED}


def extremes(width: int) -> list[int]:
    low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return [low, low + 1, -1, 0, 1, high - 1, high]


def operands(width: int, rng: random.Random, count: int) -> list[int]:
    values = extremes(width) * 2
    values += [rng.randrange(-(1 << (width - 1)), 1 << (width - 1)) for _ in range(count - len(values))]
    rng.shuffle(values)
    return values


@pytest.mark.parametrize("width", [2, 17, 18, 19, 24, 25, 35, 36, 40])
@pytest.mark.parametrize("port_bits", [18, 25])
def test_chunks_fit_the_port_and_add_up_to_the_value(width, port_bits):
    value = Signal(signed(width))
    parts = chunks(value, port_bits)
    sums = Signal(signed(width + 1))
    m = Module()
    m.d.comb += sums.eq(sum(chunk.as_signed() << shift if chunk.shape().signed else chunk << shift
                            for chunk, shift in parts))
    for chunk, _ in parts:
        assert chunk.shape().width + (0 if chunk.shape().signed else 1) <= port_bits
    assert len(parts) == max(1, -(-(width - 1) // (port_bits - 1)))
    mismatches = []

    async def testbench(ctx):
        for x in operands(width, random.Random(width), 200):
            ctx.set(value, x)
            if ctx.get(sums) != x:
                mismatches.append(x)

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    assert not mismatches, mismatches[:8]


def run_harness(harness: ProductHarness, widths: tuple[int, int], enables: list[int], seed: int):
    """Drive random operands each cycle with ``enables``; return (got, expected) per cycle
    once the pipeline is full."""
    rng = random.Random(seed)
    cycles = len(enables)
    a, c = operands(widths[0], rng, cycles), operands(widths[0], rng, cycles)
    b, d = operands(widths[1], rng, cycles), operands(widths[1], rng, cycles)
    pairs = []

    async def testbench(ctx):
        held = None
        history = []
        for cycle in range(cycles):
            ctx.set(harness.a, a[cycle])
            ctx.set(harness.b, b[cycle])
            ctx.set(harness.c, c[cycle])
            ctx.set(harness.d, d[cycle])
            ctx.set(harness.enable, enables[cycle])
            if enables[cycle]:
                held = a[cycle] * b[cycle] - c[cycle] * d[cycle] + harness.constant
            history.append(held)
            await ctx.tick()
            back = cycle + 1 - harness.latency      # the cycle whose operands ``out`` shows
            if back >= 0 and history[back] is not None:
                pairs.append((ctx.get(harness.out), history[back]))

    sim = Simulator(harness)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return pairs


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("widths,levels", [((24, 24), 3), ((25, 18), 2), ((19, 18), 2), ((18, 18), 2),
                                           ((36, 30), 4)])
def test_product_difference_is_exact_at_the_fixed_latency(block, widths, levels):
    harness = ProductHarness(*widths, constant=1 << 15, levels=levels, block=BLOCKS[block])
    enables = [1] * 150 + [0, 0, 1, 0, 0, 0, 1, 1, 0] * 10
    pairs = run_harness(harness, widths, enables, seed=sum(widths) + levels)
    assert len(pairs) > 200
    assert all(got == expected for got, expected in pairs), [p for p in pairs if p[0] != p[1]][:5]


def test_operands_hold_while_enable_is_low():
    harness = ProductHarness(24, 18, constant=0, levels=2, block=DSP48E1)
    pairs = run_harness(harness, (24, 18), [1, 1, 1] + [0] * 12, seed=3)
    assert len({expected for _, expected in pairs[-8:]}) == 1
    assert all(got == expected for got, expected in pairs)


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
@pytest.mark.parametrize("widths,pieces", [((24, 24), {"dsp48e1": 2, "mult18x18": 4}),
                                           ((25, 18), {"dsp48e1": 1, "mult18x18": 2}),
                                           ((18, 25), {"dsp48e1": 1, "mult18x18": 2}),
                                           ((18, 18), {"dsp48e1": 1, "mult18x18": 1})])
def test_pieces_per_product(widths, pieces):
    """The operand needing fewer blocks on the wide port: one DSP48E1 for 25 x 18 either way."""
    for name, block in BLOCKS.items():
        m = Module()
        terms = product_terms(m, block, Signal(signed(widths[0])), Signal(signed(widths[1])), 1, "p")
        assert len(terms) == pieces[name], name


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_a_constant_rides_in_the_zero_low_bits_of_a_shifted_piece():
    """x' = k1 - k3 + half on 18x18 pieces: five terms fit two adder levels because the rounding
    constant joins the high piece of k1 for free; without room for it they would not."""
    m = Module()
    terms = product_terms(m, MULT18X18_INFERRED, Signal(signed(25)), Signal(signed(18)), 1, "k1")
    k3 = product_terms(m, MULT18X18_INFERRED, Signal(signed(24)), Signal(signed(18)), 1, "k3")
    terms += [-t for t in k3]
    pipelined_sum(m, [*terms, Term(Const(1 << 15))], 2, "fits")
    with pytest.raises(ValueError, match="5 terms need more than 2 adder levels"):
        pipelined_sum(m, [*terms, Term(Const(1 << 20))], 2, "no_room")


def test_a_piece_wider_than_its_block_is_refused():
    with pytest.raises(ValueError, match="does not fit one MULT18X18D"):
        MultiplierPiece(MULT18X18D, 19, 18)
