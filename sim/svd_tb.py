"""cocotb testbench of the SVD engine (top ``rosvd_svd``), checked word by word against the model.

Run it through :func:`rosvd.sim.runner.run_cocotb` with ``test_module="rosvd.sim.svd_tb"``
(see ``tests/sim/test_svd_rtl.py``). Environment:

==========================  ==========================================================
``ROSVD_TB_PARAMS``         JSON of the :class:`SVDParams` fields the design was built with
``ROSVD_TB_MATRICES``       random matrices in ``svd_random`` (default 4)
``ROSVD_TB_SEED``           seed of the random matrices and stall patterns (default 1)
``ROSVD_TB_CYCLES_OUT``     file ``svd_cycles`` writes its JSON measurement to
``ROSVD_TB_CYCLES_MATRICES`` random matrices timed by ``svd_cycles`` (default 2)
``ROSVD_TB_EDGE_CASES``     comma-separated names of the edge cases ``svd_edge_cases``
                            streams (default: all), so a slow simulator can split them
``ROSVD_TB_ENGINE``         ``module:Class`` whose ``cycle_estimate`` the run is held to
                            (default ``rosvd.hw.svd.engine:SVDEngine``; stand-ins differ)
==========================  ==========================================================

Testcases:

* ``svd_random``: random matrices back to back without reset, input idle gaps and
  output backpressure from a mix of patterns (mostly random on both sides);
* ``svd_edge_cases``: :func:`rosvd.sim.svd_cases.edge_cases`, back to back, stalled;
* ``svd_reset_mid_matrix``: reset after half a matrix, then a whole one decomposes;
* ``svd_cycles``: no stalls, one matrix at a time; cycles from the first accepted input
  element to the last result word, equal to ``SVDEngine.cycle_estimate``.

Interface assumed (``rosvd.hw.svd.engine.SVDEngine``): clock ``clk``, synchronous
active-high ``rst``; ``matrix`` stream in (signed ``data_width``, n*n row-major);
``result`` stream out (``{data: signed(out_width), last}``, ``output_words`` words);
``busy``. Mismatching inputs are saved as ``mismatch_<case>.npy`` in the run directory.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import cocotb
import numpy as np
from amaranth.hdl import signed, unsigned
from amaranth.lib import data
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, SimTimeoutError, with_timeout
from cocotb.utils import get_sim_steps

from rosvd.hw.svd.model import decompose
from rosvd.hw.svd.params import SVDParams
from rosvd.sim.runner import tb_params
from rosvd.sim.stream import (
    StreamSink,
    StreamSource,
    burst_pattern,
    field,
    never,
    random_pattern,
)
from rosvd.sim.svd_cases import edge_cases, random_matrices

CLOCK_NS = 10
MATRICES_ENV = "ROSVD_TB_MATRICES"
SEED_ENV = "ROSVD_TB_SEED"
CYCLES_OUT_ENV = "ROSVD_TB_CYCLES_OUT"
CYCLES_MATRICES_ENV = "ROSVD_TB_CYCLES_MATRICES"
EDGE_CASES_ENV = "ROSVD_TB_EDGE_CASES"
ENGINE_ENV = "ROSVD_TB_ENGINE"
DEFAULT_ENGINE = "rosvd.hw.svd.engine:SVDEngine"
#: Model batch size: the model runs ahead of the simulation in chunks of this many matrices.
MODEL_CHUNK = 64

#: (idle, backpressure) per matrix, cycled: random stalls dominate, the rest cover
#: full throughput on either side and long bursts.
STALL_MIX = (("random", "random"), ("none", "none"), ("random", "random"),
             ("random", "none"), ("none", "random"), ("burst", "burst"))


def stall_pattern(kind: str, seed: int):
    if kind == "none":
        return never()
    if kind == "random":
        return random_pattern(seed, p=0.3)
    if kind == "burst":
        return burst_pattern(seed, mean_run=12, p=0.4)
    raise ValueError(f"unknown stall pattern {kind!r}")


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def random_cases(params: SVDParams, count: int, seed: int) -> dict[str, np.ndarray]:
    """The matrices ``svd_random`` streams, in order."""
    return {f"random{seed}_{i}": m for i, m in enumerate(random_matrices(params, count, seed))}


def selected_edge_cases(cases: dict[str, np.ndarray], names: str | None) -> list[str]:
    """The names in ``names`` (comma-separated; all of ``cases`` when empty), checked."""
    if not names:
        return list(cases)
    chosen = [name.strip() for name in names.split(",")]
    unknown = [name for name in chosen if name not in cases]
    if unknown:
        raise ValueError(f"{EDGE_CASES_ENV}: unknown edge cases {unknown}; known: {list(cases)}")
    return chosen


def cycles_cases(params: SVDParams, count: int, seed: int) -> dict[str, np.ndarray]:
    """The matrices ``svd_cycles`` times, in order: ``count`` random ones, then zero."""
    cases = {f"random{i}": m for i, m in enumerate(random_matrices(params, count, seed))}
    cases["zero"] = edge_cases(params)["zero"]
    return cases


def reset_cases(params: SVDParams, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``svd_reset_mid_matrix``: the matrix cut off by reset, and the one decomposed after it."""
    first, second = random_matrices(params, 2, seed + 1000)
    return first, second


def engine_for_estimates(params: SVDParams, spec: str | None = None):
    """An instance of the class named ``module:Class`` (default: the real engine), used
    only for its documented ``cycle_estimate``, never elaborated."""
    import importlib

    module, _, name = (spec or os.environ.get(ENGINE_ENV) or DEFAULT_ENGINE).partition(":")
    engine = getattr(importlib.import_module(module), name)(params)
    engine._MustUse__silence = True          # not meant to be elaborated: no UnusedElaboratable
    return engine


def result_layout(params: SVDParams) -> data.StructLayout:
    """Result payload as the interface specifies it (not imported from the engine)."""
    return data.StructLayout({"data": signed(params.out_width), "last": unsigned(1)})


def describe_word(params: SVDParams, index: int) -> str:
    if index < params.n:
        return f"sigma[{index}]"
    vector, element = divmod(index - params.n, params.n)
    return f"v[{vector}][{element}]"


class SVDTB:
    """Clock, reset, matrix source, result sink and the model checker around one engine."""

    def __init__(self, dut):
        self.dut = dut
        self.params = SVDParams(**tb_params())
        layout = result_layout(self.params)
        self.data_field = layout["data"]
        self.last_field = layout["last"]
        self.source = StreamSource(dut, "matrix", dut.clk)
        self.sink = StreamSink(dut, "result", dut.clk)
        self.period_steps = get_sim_steps(CLOCK_NS, "ns")
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
        self.engine = engine_for_estimates(self.params)
        self.log = dut._log

    async def reset(self, cycles: int = 4):
        self.dut.rst.value = 1
        self.source.idle_bus()
        self.sink.idle_bus()
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def busy(self) -> int:
        await ReadOnly()
        value = int(self.dut.busy.value)
        await RisingEdge(self.dut.clk)
        return value

    def is_last(self, raw: int) -> bool:
        return bool(field(raw, self.last_field.offset, 1))

    def timeout_ns(self, matrices: int) -> int:
        """Generous per-stream budget: stalls at most triple the stall-free latency."""
        per_matrix = self.engine.cycle_estimate() + self.params.n * self.params.n + self.params.output_words
        return (3 * per_matrix * matrices + 1000) * CLOCK_NS

    def check(self, name: str, matrix: np.ndarray, expected: list[int], raw_words: list[int]):
        """Compare one decomposition's words with the model; explain the first difference."""
        p = self.params
        got = [field(w, self.data_field.offset, self.data_field.width, signed=True) for w in raw_words]
        lasts = [self.is_last(w) for w in raw_words]
        problems = []
        if len(raw_words) != p.output_words:
            problems.append(f"{len(raw_words)} words, expected {p.output_words}")
        if lasts and (not lasts[-1] or any(lasts[:-1])):
            problems.append(f"last set on words {[i for i, v in enumerate(lasts) if v]}, "
                            f"expected only on word {p.output_words - 1}")
        differ = [i for i, (g, e) in enumerate(zip(got, expected, strict=False)) if g != e]
        if differ:
            i = differ[0]
            problems.append(f"{len(differ)} words differ; first {describe_word(p, i)} (word {i}): "
                            f"got {got[i]}, expected {expected[i]}")
        if problems:
            path = Path.cwd() / f"mismatch_{name}.npy"
            np.save(path, matrix)
            raise AssertionError(f"matrix {name}: " + "; ".join(problems) + f" (input saved to {path})")

    async def stream(self, names: list[str], matrices: np.ndarray, stalls, seed: int):
        """Send ``matrices`` back to back while receiving and checking each result.

        ``stalls(i) -> (idle_kind, backpressure_kind)`` picks the patterns of matrix i.
        Returns the stamps (sim steps) of each matrix's first input and last output.
        """
        firsts: list[int] = []

        async def feed():
            for i, matrix in enumerate(matrices):
                idle, _ = stalls(i)
                await self.source.send(matrix.ravel().tolist(), idle=stall_pattern(idle, seed * 7919 + 2 * i))
                firsts.append(self.source.stamps[0])

        async def drain():
            lasts = []
            for start in range(0, len(matrices), MODEL_CHUNK):
                chunk = matrices[start:start + MODEL_CHUNK]
                model = decompose(self.params, chunk)
                for j in range(len(chunk)):
                    i = start + j
                    _, backpressure = stalls(i)
                    words = await self.sink.receive(
                        self.params.output_words, until=self.is_last,
                        backpressure=stall_pattern(backpressure, seed * 7919 + 2 * i + 1))
                    self.check(names[i], matrices[i], model.words(j), words)
                    lasts.append(self.sink.stamps[-1])
            return lasts

        feeder = cocotb.start_soon(feed())
        lasts = await drain()
        await feeder
        return firsts, lasts

    async def guarded(self, body, matrices: int):
        """Run a test body under a watchdog sized for ``matrices`` decompositions."""
        budget = self.timeout_ns(matrices)
        try:
            return await with_timeout(body, budget, "ns")
        except SimTimeoutError:
            raise AssertionError(f"watchdog: no completion within {budget // CLOCK_NS} cycles "
                                 f"({matrices} matrices); a stream is stuck") from None


@cocotb.test()
async def svd_random(dut):
    """Random matrices, back to back without reset, under mixed idle and backpressure."""
    tb = SVDTB(dut)
    count, seed = env_int(MATRICES_ENV, 4), env_int(SEED_ENV, 1)
    cases = random_cases(tb.params, count, seed)
    tb.log.info("svd_random: %d matrices, seed %d, n=%d", count, seed, tb.params.n)

    async def body():
        await tb.reset()
        assert await tb.busy() == 0, "busy after reset"
        await tb.stream(list(cases), np.stack(list(cases.values())),
                        lambda i: STALL_MIX[i % len(STALL_MIX)], seed)
        await ClockCycles(dut.clk, 2)
        assert await tb.busy() == 0, "busy after the last result word"

    await tb.guarded(body(), count)


@cocotb.test()
async def svd_edge_cases(dut):
    """Zero, scaled identities and permutations, rank one and two, full scale, tiny values."""
    tb = SVDTB(dut)
    cases = edge_cases(tb.params)
    seed = env_int(SEED_ENV, 1)
    names = selected_edge_cases(cases, os.environ.get(EDGE_CASES_ENV))

    async def body():
        await tb.reset()
        await tb.stream(names, np.stack([cases[k] for k in names]),
                        lambda i: STALL_MIX[i % len(STALL_MIX)], seed)

    await tb.guarded(body(), len(names))


@cocotb.test()
async def svd_reset_mid_matrix(dut):
    """A half-loaded matrix is discarded by reset; the next whole matrix decomposes exactly."""
    tb = SVDTB(dut)
    p = tb.params
    first, second = reset_cases(p, env_int(SEED_ENV, 1))

    async def body():
        await tb.reset()
        await tb.source.send(first.ravel()[: p.n * p.n // 2].tolist())
        await tb.reset()
        assert await tb.busy() == 0, "busy after reset"
        await tb.stream(["after_reset"], second[None], lambda i: ("random", "random"), 3)

    await tb.guarded(body(), 2)


@cocotb.test()
async def svd_cycles(dut):
    """Stall-free latency per matrix; written as JSON to $ROSVD_TB_CYCLES_OUT."""
    tb = SVDTB(dut)
    p = tb.params
    count, seed = env_int(CYCLES_MATRICES_ENV, 2), env_int(SEED_ENV, 1)
    cases = cycles_cases(p, count, seed)
    model = decompose(p, np.stack(list(cases.values())))
    await tb.reset()
    records = []
    for i, (name, matrix) in enumerate(cases.items()):
        stream = tb.stream([name], matrix[None], lambda _: ("none", "none"), seed)
        firsts, lasts = await tb.guarded(stream, 1)
        cycles = (lasts[0] - firsts[0]) // tb.period_steps + 1
        sweeps = int(model.sweeps_run[i])
        record = {"case": name, "cycles": cycles, "sweeps_run": sweeps,
                  "cycle_estimate": tb.engine.cycle_estimate(sweeps)}
        if hasattr(dut, "sweeps_run"):
            record["sweeps_run_rtl"] = int(dut.sweeps_run.value)
        records.append(record)
        tb.log.info("svd_cycles: %s", record)
    result = {
        "simulator": getattr(cocotb, "SIM_NAME", None),
        "params": dataclasses.asdict(p),
        "clock_ns": CLOCK_NS,
        "seed": seed,
        "cycles_max_sweeps": tb.engine.cycle_estimate(),
        "matrices": records,
    }
    out = os.environ.get(CYCLES_OUT_ENV)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2) + "\n")
        tb.log.info("svd_cycles: wrote %s", out)
    for record in records:
        assert record["cycles"] == record["cycle_estimate"], (
            f"{record['case']}: {record['cycles']} cycles,"
            f" {type(tb.engine).__name__}.cycle_estimate says {record['cycle_estimate']}")
        if "sweeps_run_rtl" in record:
            assert record["sweeps_run_rtl"] == record["sweeps_run"], record
