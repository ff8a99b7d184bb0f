# amaranth: UnusedElaboratable=no
"""AnglePipeline in Amaranth's simulator equals model.skip_rotation + model.cordic_cos_sin."""
from __future__ import annotations

import math

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from rosvd.hw.svd import model
from rosvd.hw.svd.cordic import AnglePipeline
from rosvd.hw.svd.params import SVDParams

SMALL = SVDParams(n=8, units=4, data_width=8, cordic_width=22, cordic_iters=16, skip_shift=10)
#: Extremes of the CORDIC parameters: widest fraction, iterations == width, inputs
#: narrower than ``input_bits`` (normalising shift always 0); and the fewest iterations.
WIDE = SVDParams(n=8, units=4, data_width=4, guard_bits=0, cs_frac=24, cordic_width=30,
                 cordic_iters=30, skip_shift=1)
SHORT = SVDParams(n=64, units=32, data_width=12, cs_frac=8, cordic_width=12, cordic_iters=4,
                  skip_shift=30)
PARAM_SETS = {"default": SVDParams(), "small": SMALL, "wide": WIDE, "short": SHORT}

MAX_EXAMPLES = 25
CASES_PER_EXAMPLE = 12


def dot_max(params: SVDParams) -> int:
    """Largest alpha/beta the port holds."""
    return (1 << (params.dot_width - 1)) - 1


def model_angle(params: SVDParams, alpha: int, beta: int, gamma: int) -> tuple[int, int, int]:
    """(c, s, skip) the model uses for one pair, skip applied."""
    a, b, g = (np.array([v], dtype=np.int64) for v in (alpha, beta, gamma))
    skip = bool(model.skip_rotation(params, a, b, g)[0])
    if skip:
        return 1 << params.cs_frac, 0, 1
    c, s = model.cordic_cos_sin(params, a, b, g)
    return int(c[0]), int(s[0]), 0


def scramble_inputs(ctx, dut: AnglePipeline, params: SVDParams, step: int):
    """Drive ``dut``'s operands and tag with in-range values that change with ``step``."""
    ctx.set(dut.alpha, (step * 0x9E3779B97F4A7C15) % (dot_max(params) + 1))
    ctx.set(dut.beta, (step * 0xC2B2AE3D27D4EB4F) % (dot_max(params) + 1))
    ctx.set(dut.gamma, (step * 0x165667B19E3779F9) % (1 << (params.dot_width - 1)))
    ctx.set(dut.tag, step % (1 << len(dut.tag)))


def rtl_angle(params: SVDParams, cases, *, gaps=None, reset_at: int | None = None):
    """Run ``cases`` (alpha, beta, gamma) through one AnglePipeline.

    Pair ``i`` is issued with tag ``i`` (modulo the tag width), then ``gaps(i)`` idle
    cycles (default 0: back to back). Inputs are scrambled in idle cycles, to show
    they are sampled only with ``start``. With ``reset_at``, reset is held high for one
    cycle that many cycles after the first issue. Returns the DUT and
    ``[(tag, c, s, skip, done cycle)]`` in output order, and the issue cycle of each pair.
    """
    tag_bits = 8
    dut = AnglePipeline(params, tag_shape=tag_bits)
    results, issued = [], []

    async def drive(ctx):
        cycle = 0
        for i, (alpha, beta, gamma) in enumerate(cases):
            ctx.set(dut.alpha, alpha)
            ctx.set(dut.beta, beta)
            ctx.set(dut.gamma, gamma)
            ctx.set(dut.tag, i % (1 << tag_bits))
            ctx.set(dut.start, 1)
            issued.append(cycle)
            await ctx.tick()
            cycle += 1
            ctx.set(dut.start, 0)
            for _ in range(gaps(i) if gaps else 0):
                scramble_inputs(ctx, dut, params, cycle)
                await ctx.tick()
                cycle += 1
        scramble_inputs(ctx, dut, params, cycle)

    async def watch(ctx):
        cycle = 0
        last = (issued[-1] if issued else 0) + dut.latency + 4
        while not issued or cycle <= last:
            if reset_at is not None and cycle == reset_at:
                ctx.set(sync.rst, 1)
            elif reset_at is not None and cycle == reset_at + 1:
                ctx.set(sync.rst, 0)
            if ctx.get(dut.done):
                results.append((ctx.get(dut.tag_out), ctx.get(dut.c), ctx.get(dut.s),
                                ctx.get(dut.skip), cycle))
            await ctx.tick()
            cycle += 1
            if issued:
                last = issued[-1] + dut.latency + 4

    top = Module()
    top.domains.sync = sync = ClockDomain()      # its reset is driven by the testbench
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(drive)
    sim.add_testbench(watch, background=False)
    sim.run()
    return dut, results, issued


def check(params: SVDParams, cases, **kwargs):
    """Every pair comes out once, in order, ``latency`` cycles after its issue, equal to the model."""
    dut, results, issued = rtl_angle(params, cases, **kwargs)
    assert len(results) == len(cases)
    for i, ((alpha, beta, gamma), (tag, c, s, skip, cycle)) in enumerate(zip(cases, results, strict=True)):
        assert tag == i % 256
        assert (c, s, skip) == model_angle(params, alpha, beta, gamma), (alpha, beta, gamma)
        assert cycle == issued[i] + dut.latency


def edge_cases(params: SVDParams) -> list[tuple[int, int, int]]:
    top = dot_max(params)
    in_bits = model.cordic_constants(params).input_bits
    cases = [
        (0, 0, 0), (1, 1, 0), (1, 1, 1), (1, 1, -1), (1, 2, 1), (2, 1, -1), (2, 1, 1),
        (top, top, 0), (top, top, top), (top, top, -top), (top, top, 1), (top, top, -1),
        (top, 0, 0), (0, top, 0), (top, 1, 1), (1, top, -1), (top, 1, -math.isqrt(top)),
        (top - 1, top, top - 1), (top, top - 1, -(top - 1)),
        (5, 5, 5), (5, 5, -5),                              # x = 0: theta = +-pi/4
        (0, 1, 0), (1, 0, 0),
        # gamma at the Cauchy-Schwarz bound, largest magnitude
        (top, top, top), (top, top, -top), (top // 4, top, -(top // 2)),
    ]
    # normalising shift boundaries: |beta - alpha| and |2 gamma| around 2**input_bits
    for d in (-1, 0, 1):
        for magnitude in ((1 << in_bits) + d, (1 << (in_bits - 1)) + d):
            if 0 <= magnitude <= top:
                cases += [(0, magnitude, 0), (magnitude, 0, 1), (magnitude, magnitude, magnitude // 2),
                          (magnitude, magnitude, -(magnitude // 2)), (top, top - magnitude, 3)]
    # |x| == |y| near 2**input_bits after the shift: the vector of largest norm
    # (sqrt 2 * 2**input_bits), so the CORDIC gain uses the datapath's top bit.
    for bits in range(in_bits - 1, params.dot_width - 1):
        x = (1 << bits) - 2
        for alpha in (x, x // 2 + 1, top - x):
            if 0 <= alpha <= top - x and x * x <= 4 * alpha * (alpha + x):
                cases += [(alpha, alpha + x, x // 2), (alpha + x, alpha, -(x // 2)),
                          (alpha + x, alpha, x // 2 - 1), (alpha, alpha + x + 1, -(x // 2))]
    # skip threshold boundaries: 2 bl(|gamma|) + 2T + 2 against bl(alpha) + bl(beta)
    if params.skip_shift is not None:
        for bits in range(params.skip_shift + 2, params.dot_width - 1):
            alpha = beta = (1 << bits) - 1
            for gamma_bits in (bits - params.skip_shift - 2, bits - params.skip_shift - 1,
                               bits - params.skip_shift):
                if gamma_bits >= 1:
                    cases += [(alpha, beta, 1 << (gamma_bits - 1)), (alpha, beta, -((1 << gamma_bits) - 1))]
    # The unit's domain: sums of squares and a cross sum of two columns, so
    # gamma**2 <= alpha * beta (Cauchy-Schwarz); the normalisation relies on it.
    return [c for c in cases if 0 <= c[0] <= top and 0 <= c[1] <= top and c[2] ** 2 <= c[0] * c[1]]


def realistic_cases(params: SVDParams, count: int, seed: int) -> list[tuple[int, int, int]]:
    """Dot products of random column words, some nearly orthogonal or nearly parallel."""
    rng = np.random.default_rng(seed)
    col_max = ((1 << (params.data_width - 1)) << params.guard_bits) * params.n // 4
    cases = []
    for i in range(count):
        scale = int(rng.integers(1, col_max + 1))
        top = rng.integers(-scale, scale + 1, size=params.n)
        bottom = rng.integers(-scale, scale + 1, size=params.n)
        if i % 3 == 1:      # nearly orthogonal: remove the projection
            bottom = bottom - (bottom @ top) * top // max(int(top @ top), 1)
        elif i % 3 == 2:    # nearly parallel
            bottom = top + rng.integers(-2, 3, size=params.n)
        top_list, bottom_list = [int(v) for v in top], [int(v) for v in bottom]
        cases.append((sum(v * v for v in top_list), sum(v * v for v in bottom_list),
                      sum(t * b for t, b in zip(top_list, bottom_list, strict=True))))
    return [c for c in cases if max(c[0], c[1]) <= dot_max(params)]


@st.composite
def pair_sums(draw, params: SVDParams):
    """alpha, beta, gamma with gamma**2 <= alpha*beta, magnitudes log-uniform 0..max."""
    def magnitude(limit):
        bits = draw(st.integers(0, limit.bit_length()))
        return draw(st.integers(0, min((1 << bits) - 1, limit)))

    top = dot_max(params)
    alpha = magnitude(top)
    beta = alpha if draw(st.booleans()) else magnitude(top)
    bound = math.isqrt(alpha * beta)
    kind = draw(st.sampled_from(["zero", "bound", "uniform", "log"]))
    if kind == "zero":
        gamma = 0
    elif kind == "bound":
        gamma = bound
    elif kind == "uniform":
        gamma = draw(st.integers(0, bound))
    else:
        gamma = magnitude(bound)
    if draw(st.booleans()):
        gamma = -gamma
    return alpha, beta, gamma


@pytest.mark.parametrize("name", PARAM_SETS)
def test_edge_and_realistic_cases_match_model(name):
    params = PARAM_SETS[name]
    check(params, edge_cases(params) + realistic_cases(params, 24, seed=len(name)))


@pytest.mark.parametrize("name", ["default", "small"])
def test_random_pairs_match_model(name):
    params = PARAM_SETS[name]

    @settings(max_examples=MAX_EXAMPLES, deadline=None)
    @given(st.lists(pair_sums(params), min_size=1, max_size=CASES_PER_EXAMPLE))
    def run(cases):
        check(params, cases)

    run()


def test_gaps_between_pairs_keep_order_and_spacing():
    cases = edge_cases(SMALL)[:6] + realistic_cases(SMALL, 6, seed=1)
    check(SMALL, cases, gaps=lambda i: (i * 7) % 5)
    check(SMALL, cases, gaps=lambda i: 40 if i % 4 == 3 else 0)


def test_outputs_hold_still_between_pairs_while_the_operands_change():
    """Operands are registered only with ``start``: after a pair, nothing in the
    pipeline toggles, however the inputs move (simulator events, dynamic power)."""
    params = SMALL
    alpha, beta, gamma = realistic_cases(params, 1, seed=3)[0]
    dut = AnglePipeline(params, tag_shape=8)
    seen = []

    async def bench(ctx):
        ctx.set(dut.alpha, alpha)
        ctx.set(dut.beta, beta)
        ctx.set(dut.gamma, gamma)
        ctx.set(dut.tag, 5)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for step in range(2 * dut.latency):
            scramble_inputs(ctx, dut, params, step)
            await ctx.tick()
            seen.append((ctx.get(dut.done), ctx.get(dut.tag_out), ctx.get(dut.c), ctx.get(dut.s),
                         ctx.get(dut.skip)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    done_at = [i for i, sample in enumerate(seen) if sample[0]]
    assert done_at == [dut.latency - 2]          # seen[i] is cycle i + 2; start was cycle 0
    result = seen[done_at[0]][1:]
    assert result == (5, *model_angle(params, alpha, beta, gamma))
    assert {sample[1:] for sample in seen[done_at[0]:]} == {result}


def test_reset_mid_flight_drops_pairs_in_flight_and_later_pairs_are_exact():
    params = SMALL
    cases = edge_cases(params)[:10] + realistic_cases(params, 10, seed=2)
    first, second = cases[:10], cases[10:]
    latency = AnglePipeline(params).latency
    reset_at = 12           # pairs 0..9 issued in cycles 0..9: all in flight, none done
    dut, results, issued = rtl_angle(params, first + second, gaps=lambda i: 6 if i == 9 else 0,
                                     reset_at=reset_at)
    assert latency > reset_at + 1
    # pairs issued before or during reset never come out; those issued after do, exactly
    survivors = [i for i, cycle in enumerate(issued) if cycle > reset_at]
    assert survivors == list(range(10, 20))
    assert [r[0] for r in results] == survivors
    for i, (_tag, c, s, skip, cycle) in zip(survivors, results, strict=True):
        assert (c, s, skip) == model_angle(params, *cases[i])
        assert cycle == issued[i] + latency


def test_latency_formula():
    for params in PARAM_SETS.values():
        assert AnglePipeline(params).latency == 2 * params.cordic_iters + 6   # 5 before, 1 after


def test_converts_to_verilog():
    for params in (SVDParams(), SMALL):
        assert "module" in verilog.convert(AnglePipeline(params), name="angle_pipeline")
