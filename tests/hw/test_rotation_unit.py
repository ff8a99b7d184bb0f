# amaranth: UnusedElaboratable=no
"""RotationUnit's rotate phase in Amaranth's simulator equals :func:`model.rotate`, clamp included.

In-range inputs never reach the clamp (``hw/svd/params.py``: a column word is bounded by
the spectral norm, ``v`` by 1); the params promise that it is implemented anyway, "so an
out-of-model state cannot wrap". Here column words and vector elements anywhere in their
formats (up to the extremes, which no in-range input produces) are rotated by angles
the angle pipeline can give (``|theta| <= pi/4``, from :func:`model.cordic_cos_sin`), on
both multiplier datapaths (the DSP48E1's pre-adder form and four plain products), and
must come out saturated exactly as the model saturates; the test also checks that the
cases overflow the format in both directions, so the clamp is exercised, not just present.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from amaranth.sim import Simulator

from rosvd.hw.svd import model
from rosvd.hw.svd.params import SVDParams
from rosvd.hw.svd.products import DSP48E1, MULT18X18D
from rosvd.hw.svd.rotation_unit import ROTATE_LATENCY, RotationUnit

PARAMS = SVDParams(n=8, units=4)
BLOCKS = {"dsp48e1": DSP48E1, "mult18x18": dataclasses.replace(MULT18X18D, primitive=None)}


class _Platform:
    def __init__(self, block):
        self.multiplier_block = block


class UnitOn(RotationUnit):
    """A rotation unit elaborated for a given multiplier block (the simulator passes no platform)."""

    def __init__(self, params, block):
        super().__init__(params)
        self._block = block

    def elaborate(self, platform):
        return super().elaborate(_Platform(self._block))


def rtl_rotate(params: SVDParams, block, c: int, s: int, rows):
    """Load ``(c, s)``, rotate ``rows`` of ``(a_top, a_bottom, v_top, v_bottom)`` back to back;
    return the rotated rows in order and the cycles from each ``rotate`` to its ``rotated``."""
    dut = UnitOn(params, block)
    out, latencies = [], []

    async def bench(ctx):
        ctx.set(dut.c, c)
        ctx.set(dut.s, s)
        ctx.set(dut.angle_load, 1)
        await ctx.tick()
        ctx.set(dut.angle_load, 0)
        ctx.set(dut.c, 0)           # held inside the unit from angle_load
        ctx.set(dut.s, 0)
        await ctx.tick()
        issued = []
        for cycle in range(len(rows) + ROTATE_LATENCY + 2):
            if cycle < len(rows):
                for port, value in zip((dut.a_top, dut.a_bottom, dut.v_top, dut.v_bottom), rows[cycle],
                                       strict=True):
                    ctx.set(port, value)
                ctx.set(dut.rotate, 1)
                issued.append(cycle)
            else:
                ctx.set(dut.rotate, 0)
            await ctx.tick()
            if ctx.get(dut.rotated):
                out.append(tuple(ctx.get(port) for port in (dut.a_top_out, dut.a_bottom_out,
                                                            dut.v_top_out, dut.v_bottom_out)))
                latencies.append(cycle + 1 - issued[len(out) - 1])

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out, latencies


def model_rotate(params: SVDParams, c: int, s: int, rows):
    x = np.array(rows, dtype=np.int64)
    a_top, a_bottom = model.rotate(params, x[:, 0], x[:, 1], np.int64(c), np.int64(s), params.col_width)
    v_top, v_bottom = model.rotate(params, x[:, 2], x[:, 3], np.int64(c), np.int64(s), params.v_width)
    return [tuple(int(v) for v in row) for row in zip(a_top, a_bottom, v_top, v_bottom, strict=True)]


def unclamped(params: SVDParams, c: int, s: int, top: int, bottom: int) -> tuple[int, int]:
    half = 1 << (params.cs_frac - 1)
    return (c * top - s * bottom + half) >> params.cs_frac, (s * top + c * bottom + half) >> params.cs_frac


def angles(params: SVDParams) -> list[tuple[int, int]]:
    """``(c, s)`` from the model's CORDIC: theta = +-pi/4 (the largest gain), small, zero."""
    big = (1 << (params.dot_width - 1)) - 1
    cases = [(big, big, big), (big, big, -big), (1000, 1000, 999), (4000, 1000, 1), (1000, 4000, -1900)]
    alpha, beta, gamma = (np.array([case[i] for case in cases], dtype=np.int64) for i in range(3))
    c, s = model.cordic_cos_sin(params, alpha, beta, gamma)
    return [*zip(c.tolist(), s.tolist(), strict=True), (1 << params.cs_frac, 0)]


def state_rows(params: SVDParams, seed: int) -> list[tuple[int, int, int, int]]:
    """Rows anywhere in the column-word and vector formats, extremes first."""
    def extremes(width):
        low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
        return [low, low + 1, -1, 0, 1, high // 2, high - 1, high]

    a_ext, v_ext = extremes(params.col_width), extremes(params.v_width)
    rows = [(a_ext[i], a_ext[j], v_ext[i], v_ext[j]) for i in range(8) for j in (0, 3, 7, 5)]
    rng = np.random.default_rng(seed)
    a_half, v_half = 1 << (params.col_width - 1), 1 << (params.v_width - 1)
    for _ in range(16):
        rows.append((int(rng.integers(-a_half, a_half)), int(rng.integers(-a_half, a_half)),
                     int(rng.integers(-v_half, v_half)), int(rng.integers(-v_half, v_half))))
    return rows


@pytest.mark.parametrize("block", BLOCKS)
def test_out_of_model_state_is_clamped_as_the_model_clamps(block):
    params = PARAMS
    rows = state_rows(params, seed=len(block))
    overflow = set()
    for index, (c, s) in enumerate(angles(params)):
        got, latencies = rtl_rotate(params, BLOCKS[block], c, s, rows)
        assert got == model_rotate(params, c, s, rows), (c, s)
        assert latencies == [ROTATE_LATENCY] * len(rows)
        for top, bottom, v_top, v_bottom in rows:
            for value, width in [(v, params.col_width) for v in unclamped(params, c, s, top, bottom)] + \
                                [(v, params.v_width) for v in unclamped(params, c, s, v_top, v_bottom)]:
                if value >= 1 << (width - 1):
                    overflow.add(("high", width, index))
                elif value < -(1 << (width - 1)):
                    overflow.add(("low", width, index))
    # the clamp is reached, both ways, in both formats, at theta = +-pi/4
    for direction in ("high", "low"):
        for width in (params.col_width, params.v_width):
            assert {(direction, width, 0), (direction, width, 1)} <= overflow, (direction, width)
