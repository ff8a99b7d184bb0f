# amaranth: UnusedElaboratable=no
"""IterativeSqrt in Amaranth's simulator equals math.isqrt (and model.isqrt)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from rosvd.hw.svd import model
from rosvd.hw.svd.isqrt import IterativeSqrt


def rtl_isqrt(width: int, values, *, gap: int = 0):
    """Run ``values`` through one IterativeSqrt, back to back (start in the ``done``
    cycle) plus ``gap`` idle cycles. ``value`` is scrambled outside the start cycle.
    Returns ``[(root, cycles from start to done)]``."""
    dut = IterativeSqrt(width)
    results = []

    async def testbench(ctx):
        for value in values:
            ctx.set(dut.value, value)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            ctx.set(dut.value, ~value & ((1 << width) - 1))
            cycles = 1
            while not ctx.get(dut.done):
                assert cycles <= dut.latency + 4, "done never came"
                await ctx.tick()
                cycles += 1
            results.append((ctx.get(dut.root), cycles))
            for _ in range(gap):
                await ctx.tick()
                assert not ctx.get(dut.done), "done is a one-cycle strobe"
                assert ctx.get(dut.root) == results[-1][0]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return dut, results


def check(width: int, values, **kwargs):
    dut, results = rtl_isqrt(width, values, **kwargs)
    assert dut.latency == (width + 1) // 2 + 1
    for value, (root, cycles) in zip(values, results, strict=True):
        assert root == math.isqrt(value), value
        assert cycles == dut.latency


def edge_values(width: int) -> list[int]:
    top = (1 << width) - 1
    roots = [0, 1, 2, 3, math.isqrt(top) - 1, math.isqrt(top)] + [1 << k for k in range((width + 1) // 2)]
    values = {0, 1, 2, 3, 4, top, top - 1, 1 << (width - 1), (1 << (width - 1)) - 1}
    for r in roots:
        values |= {r * r - 1, r * r, r * r + 1, (r + 1) * (r + 1) - 1}
    return sorted(v for v in values if 0 <= v <= top)


@pytest.mark.parametrize("width", [2, 3, 4, 5, 10])
def test_exhaustive_small_widths(width):
    check(width, list(range(1 << width)))


@pytest.mark.parametrize("width", [54, 55, 61])
def test_edges_and_random_wide(width):
    """Edge values and random magnitudes; also equal to ``model.isqrt`` (exact below 2**62)."""
    rng = np.random.default_rng(width)
    magnitudes = rng.integers(0, width, size=64)
    random = [int(v) >> int(s) for v, s in zip(rng.integers(0, 1 << width, size=64, dtype=np.uint64),
                                               magnitudes, strict=True)]
    values = edge_values(width) + random
    check(width, values, gap=1)
    assert model.isqrt(np.array(values, dtype=np.int64)).tolist() == [math.isqrt(v) for v in values]


@settings(max_examples=10, deadline=None)
@given(st.integers(2, 64).flatmap(lambda w: st.tuples(
    st.just(w), st.lists(st.integers(0, (1 << w) - 1), min_size=1, max_size=16))))
def test_random_widths_and_values(case):
    width, values = case
    check(width, values)


def test_rejects_bad_width():
    for width in (1, 0, -3, 2.0):
        with pytest.raises(ValueError, match="IterativeSqrt width must be an integer >= 2"):
            IterativeSqrt(width)


def test_converts_to_verilog():
    assert "module" in verilog.convert(IterativeSqrt(55), name="isqrt")
