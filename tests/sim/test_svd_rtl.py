"""The SVD engine's Verilog on Verilator and Icarus equals the model word for word.

Each case exports ``SVDEngine(params)`` (cached per parameter set) and runs one
testcase of :mod:`rosvd.sim.svd_tb`; the parameter dict that built the design reaches
the testbench through ``ROSVD_TB_PARAMS``. Random matrices are split into chunks with
their own seeds so pytest-xdist can spread them over cores.
"""
import dataclasses
import json
from pathlib import Path

import pytest

from rosvd.bench.hw_report import ECP5_EXPORT
from rosvd.hw.svd.params import SVDParams
from rosvd.sim import svd_bench
from rosvd.sim.runner import SIMULATORS

TEST_MODULE = "rosvd.sim.svd_tb"

#: Parameter sets: the default product configuration, and two small ones covering the
#: fused datapath (one pair per unit) and the multiplexed one with early exit.
PARAM_SETS = {
    "default": SVDParams(),
    "n8u4": SVDParams(n=8, units=4),
    "n8u2-skip": SVDParams(n=8, units=2, sweeps=6, skip_shift=10, data_width=12),
}
#: Random matrices per (parameter set, simulator) in the default suite. Measured on 2
#: cores (random input): Verilator ~0.45 s per n=32 matrix (+~60 s build); Icarus
#: ~18 s per n=32 matrix, 3.2 s at n=16, 0.7 s at n=8 (event-driven: random data
#: toggles the whole datapath). So Icarus carries its 200 at n=8 and a handful at
#: n=32 in the default suite; `make test-long` runs 10,000 n=32 matrices on both.
RANDOM_MATRICES = {
    "default": {"verilator": 200, "icarus": 4},
    "n8u4": {"verilator": 40, "icarus": 200},
    "n8u2-skip": {"verilator": 40, "icarus": 40},
}
#: The long sweep (``-m slow``): 10,000 per simulator; Icarus at n=8 (about an hour on
#: two cores; at n=32 it would take two days).
SLOW_MATRICES = {"verilator": 10_000, "icarus": 10_000}
SLOW_PARAM_SET = {"verilator": "default", "icarus": "n8u4"}
#: Matrices per simulator run: runs are what pytest-xdist spreads over workers.
PER_RUN, SLOW_PER_RUN = 25, 500


def runs(counts: dict[str, int], per_run: int):
    """(simulator, first seed offset, matrices) per run, covering every count exactly."""
    return [(simulator, start, min(per_run, total - start))
            for simulator, total in counts.items() for start in range(0, total, per_run)]


def params_dict(params: SVDParams) -> dict:
    return dataclasses.asdict(params)


def run_svd(simulator: str, params: SVDParams, testcase: str, **env) -> Path:
    return svd_bench.run_svd(simulator, params, TEST_MODULE, testcase, **env)


#: The engine as exported for the Fmax stand-in: ECP5 MULT18X18D cells instantiated with
#: their registers, simulated with sim/models/MULT18X18D.v.
ECP5_PARAM_SET = "n8u4"
ECP5_MATRICES = 20


@pytest.mark.parametrize("testcase", ["svd_random", "svd_edge_cases,svd_cycles"])
def test_ecp5_export_with_instantiated_multipliers(testcase, tmp_path):
    out = tmp_path / "cycles.json"
    svd_bench.run_svd("icarus", PARAM_SETS[ECP5_PARAM_SET], TEST_MODULE, testcase, platform=ECP5_EXPORT,
                      ROSVD_TB_MATRICES=ECP5_MATRICES, ROSVD_TB_SEED=77, ROSVD_TB_CYCLES_OUT=out)
    verilog = (svd_bench.build_dir(PARAM_SETS[ECP5_PARAM_SET], ECP5_EXPORT) / "rosvd_svd.v").read_text()
    assert verilog.count("MULT18X18D #(") == 4 * 24, "24 blocks per unit: 12 for the MACs, 12 for rotations"
    if "svd_cycles" in testcase:
        report = json.loads(out.read_text())
        assert [m["cycles"] for m in report["matrices"]] == [m["cycle_estimate"] for m in report["matrices"]]


@pytest.mark.parametrize("simulator, name, start, count", [
    pytest.param(simulator, name, start, count, id=f"{simulator}-{name}-{start}")
    for name, counts in RANDOM_MATRICES.items() for simulator, start, count in runs(counts, PER_RUN)])
def test_random_matrices(simulator, name, start, count):
    run_svd(simulator, PARAM_SETS[name], "svd_random", ROSVD_TB_MATRICES=count, ROSVD_TB_SEED=1000 + start)


@pytest.mark.parametrize("name", PARAM_SETS)
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_edge_cases_and_reset(simulator, name):
    run_svd(simulator, PARAM_SETS[name], "svd_edge_cases,svd_reset_mid_matrix")


@pytest.mark.parametrize("name", PARAM_SETS)
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_cycles_match_estimate(simulator, name, tmp_path):
    params = PARAM_SETS[name]
    out = tmp_path / "cycles.json"
    run_svd(simulator, params, "svd_cycles", ROSVD_TB_CYCLES_OUT=out)
    report = json.loads(out.read_text())
    assert report["params"] == params_dict(params)
    assert [m["cycles"] for m in report["matrices"]] == [m["cycle_estimate"] for m in report["matrices"]]


@pytest.mark.slow
@pytest.mark.parametrize("simulator, start, count", [
    pytest.param(*run, id=f"{run[0]}-{run[1]}") for run in runs(SLOW_MATRICES, SLOW_PER_RUN)])
def test_random_matrices_long(simulator, start, count):
    run_svd(simulator, PARAM_SETS[SLOW_PARAM_SET[simulator]], "svd_random",
            ROSVD_TB_MATRICES=count, ROSVD_TB_SEED=50_000 + start)
