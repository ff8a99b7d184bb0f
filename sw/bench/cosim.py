"""``rosvd bench cosim``: how fast the RTL runs where the host can drive it, in one run.

Two figures on the same seeded matrices, each checked word for word against the
specification model (:data:`rosvd.device_selftest.reference_decompose`):

* **Verilator, the whole top through the driver**: :class:`rosvd.driver.core.CoreDriver`
  over the simulation bridge (:class:`rosvd.driver.sim_bridge.SimBridge`), as
  ``--device rtl`` runs it. The clock runs from the first matrix sent to the last result
  and its registers read, so it includes every AXI4-Lite read the driver makes and every
  socket round trip of the bridge; the Verilator build and the simulation's start-up are
  outside it (paid once per device) and reported as ``verilator_startup_s``.
* **Amaranth's Python simulator, the engine alone**: :func:`rosvd.sim.svd_pysim.rtl_decompose`,
  timed inside its testbench from the first input to the last output (elaboration and the
  simulator's compilation are outside it, as the build is for Verilator).

The Amaranth side simulates less (the engine without the bus, the stream adapters or the
entropy source) through a cheaper testbench, so the ratio understates Verilator's lead if
anything. ``verilator_vs_amaranth`` is the ratio of the two rates measured in this run.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from rosvd.bench.svd import BENCH_SEED
from rosvd.hw.svd.params import SVDParams

#: The issue's goal for Verilator's lead over Amaranth's simulator.
GOAL_RATIO = 50.0


def _verilator_top(params: SVDParams, batch: np.ndarray, simulator: str, seed: int) -> dict:
    from rosvd.device_selftest import mismatched, rtl_core_params
    from rosvd.driver.core import CoreDriver
    from rosvd.driver.sim_bridge import SimBridge

    started = time.perf_counter()
    with SimBridge(rtl_core_params(params), simulator=simulator, seed=seed) as bridge:
        ready = time.perf_counter()
        driver = CoreDriver(bridge, bridge, expect=params, pause=bridge.idle, timeout=60.0)
        before = bridge.requests
        clock = time.perf_counter()
        result = driver.decompose(batch)
        seconds = time.perf_counter() - clock
        requests = bridge.requests - before
    return {"seconds": seconds, "startup_s": ready - started, "requests": requests,
            "cycles": driver.cycles[-len(batch):], "mismatched": mismatched(params, result, batch)}


def _amaranth_engine(params: SVDParams, batch: np.ndarray) -> dict:
    from rosvd.device_selftest import mismatched
    from rosvd.driver.core import unpack_results
    from rosvd.sim.svd_pysim import rtl_decompose

    run = rtl_decompose(params, batch)
    result = unpack_results(params, run.words, run.sweeps_run)
    return {"seconds": run.wall_s, "cycles": run.cycles, "mismatched": mismatched(params, result, batch)}


def bench_cosim(params: SVDParams, *, matrices: int = 8, amaranth_matrices: int = 1,
                simulator: str = "verilator", seed: int = BENCH_SEED, progress=None) -> dict:
    """Both figures as one JSON-serialisable dict (see the module docstring)."""
    from rosvd.sim.svd_cases import random_matrices

    if matrices < 1 or amaranth_matrices < 1:
        raise ValueError(f"--matrices and --amaranth-matrices must be at least 1, not {matrices} and"
                         f" {amaranth_matrices}")
    if amaranth_matrices > matrices:
        raise ValueError(f"--amaranth-matrices ({amaranth_matrices}) cannot exceed --matrices ({matrices}):"
                         " Amaranth runs the first of the same matrices")
    say = progress or (lambda text: None)
    batch = random_matrices(params, matrices, seed)
    say(f"{simulator}: the top through the driver, {matrices} matrices (a first run builds the simulator)")
    fast = _verilator_top(params, batch, simulator, seed)
    say(f"amaranth: the engine, {amaranth_matrices} matrices")
    slow = _amaranth_engine(params, batch[:amaranth_matrices])
    fast_rate, slow_rate = matrices / fast["seconds"], amaranth_matrices / slow["seconds"]
    ratio = fast_rate / slow_rate
    return {
        "params": dataclasses.asdict(params),
        "simulator": simulator,
        "matrices": matrices,
        "amaranth_matrices": amaranth_matrices,
        "seed": seed,
        f"{simulator}_top_driver_decompositions_per_s": round(fast_rate, 4),
        f"{simulator}_top_cycles_per_s": round(sum(fast["cycles"]) / fast["seconds"]),
        f"{simulator}_startup_s": round(fast["startup_s"], 2),
        f"{simulator}_bridge_requests_per_decomposition": fast["requests"] / matrices,
        "amaranth_engine_decompositions_per_s": round(slow_rate, 4),
        "amaranth_engine_cycles_per_s": round(sum(slow["cycles"]) / slow["seconds"]),
        f"{simulator}_vs_amaranth": round(ratio, 2),
        "goal_ratio": GOAL_RATIO,
        "meets_goal": ratio >= GOAL_RATIO,
        f"{simulator}_mismatched": fast["mismatched"],
        "amaranth_mismatched": slow["mismatched"],
        "agree": not fast["mismatched"] and not slow["mismatched"],
        "reference": "rosvd.hw.svd.model.decompose",
        "timed": {simulator: "first matrix sent to the last result and its CYCLES/SWEEPS_RUN read, through"
                             " CoreDriver and the simulation bridge; build and start-up excluded",
                  "amaranth": "first input to last output inside the testbench; elaboration and"
                              " compilation excluded"},
    }
