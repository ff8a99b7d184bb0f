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
from rosvd.sim.svd_cases import edge_cases
from rosvd.sim.svd_tb import selected_edge_cases

TEST_MODULE = "rosvd.sim.svd_tb"

#: Parameter sets: the default product configuration, and two small ones covering the
#: fused datapath (one pair per unit) and the multiplexed one with early exit.
PARAM_SETS = {
    "default": SVDParams(),
    "n8u4": SVDParams(n=8, units=4),
    "n8u2-skip": SVDParams(n=8, units=2, sweeps=6, skip_shift=10, data_width=12),
}
#: Random matrices per (parameter set, simulator) in the default suite. Measured on 2
#: cores (random input): Verilator ~1 s per n=32 matrix (+~60 s build); Icarus about
#: 80 s per random n=32 matrix and 1.3 s at n=8 (event-driven: random data toggles the
#: whole datapath; edge cases toggle less). So Icarus carries 25 at n=8 (its 10,000 at
#: n=8 are in `make test-long`; 75 more went there as the API's tests joined the suite),
#: and at n=32 the edge cases and the cycle count; its random
#: n=32 matrices, and 10,000 n=32 matrices on Verilator, are in `make test-long` too.
RANDOM_MATRICES = {
    "default": {"verilator": 200},
    "n8u4": {"verilator": 40, "icarus": 25},
    "n8u2-skip": {"verilator": 40, "icarus": 40},
}
#: Runs the edge cases are split into, where one run of them all would be the suite's
#: longest test (pytest-xdist spreads runs, not the matrices inside one), and how many
#: of those runs the default suite takes (the others run in `make test-long`): Icarus
#: at n=32 takes about 30 s per edge case, and covers them all at n=8.
EDGE_CASE_RUNS = {("icarus", "default"): 3}
DEFAULT_EDGE_CASE_RUNS = {("icarus", "default"): 1}
#: Random matrices ``svd_cycles`` times (before the zero matrix), where not the default 2.
CYCLES_MATRICES = {("icarus", "default"): 1}
#: Cycle counts the default suite leaves to ``make test-long``: Icarus at n=32 (~190 s)
#: repeats what Verilator checks at n=32 and Icarus itself at n=8, both in the default suite.
SLOW_CYCLE_COUNTS = {("icarus", "default")}
#: Matrices per simulator run: runs are what pytest-xdist spreads over workers.
PER_RUN = 25
#: The long sweep (``-m slow``): (simulator, parameter set, matrices, matrices per run).
#: Icarus runs its 10,000 at n=8 (at n=32 they would take a week) and two dozen at n=32.
SLOW_RUNS = [("verilator", "default", 10_000, 500), ("icarus", "n8u4", 10_000, 500),
             ("icarus", "default", 24, 4)]


def runs(counts: dict[str, int], per_run: int):
    """(simulator, first seed offset, matrices) per run, covering every count exactly."""
    return [(simulator, start, min(per_run, total - start))
            for simulator, total in counts.items() for start in range(0, total, per_run)]


def params_dict(params: SVDParams) -> dict:
    return dataclasses.asdict(params)


def run_svd(simulator: str, params: SVDParams, testcase: str, **env) -> Path:
    return svd_bench.run_svd(simulator, params, TEST_MODULE, testcase, **env)


#: The engine as exported for the Fmax stand-in: ECP5 MULT18X18D and DP16KD cells
#: instantiated with their registers, simulated with sim/models/MULT18X18D.v and DP16KD.v.
#: The edge cases and the cycle count exercise both cell models in every phase in the
#: default suite; the random matrices, the same check again, join ``make test-long``.
ECP5_PARAM_SET = "n8u4"
ECP5_MATRICES = 20


@pytest.mark.heavy
@pytest.mark.parametrize("testcase", [pytest.param("svd_random", marks=pytest.mark.slow),
                                      "svd_edge_cases,svd_cycles"])
def test_ecp5_export_with_instantiated_multipliers(testcase, tmp_path):
    out = tmp_path / "cycles.json"
    svd_bench.run_svd("icarus", PARAM_SETS[ECP5_PARAM_SET], TEST_MODULE, testcase, platform=ECP5_EXPORT,
                      ROSVD_TB_MATRICES=ECP5_MATRICES, ROSVD_TB_SEED=77, ROSVD_TB_CYCLES_OUT=out)
    verilog = (svd_bench.build_dir(PARAM_SETS[ECP5_PARAM_SET], ECP5_EXPORT) / "rosvd_svd.v").read_text()
    assert verilog.count("MULT18X18D #(") == 4 * 24, "24 blocks per unit: 12 for the MACs, 12 for rotations"
    assert verilog.count("DP16KD #(") == 2 * PARAM_SETS[ECP5_PARAM_SET].n, "one block RAM per slot memory"
    if "svd_cycles" in testcase:
        report = json.loads(out.read_text())
        assert [m["cycles"] for m in report["matrices"]] == [m["cycle_estimate"] for m in report["matrices"]]


@pytest.mark.parametrize("simulator, name, start, count", [
    pytest.param(simulator, name, start, count, id=f"{simulator}-{name}-{start}")
    for name, counts in RANDOM_MATRICES.items() for simulator, start, count in runs(counts, PER_RUN)])
def test_random_matrices(simulator, name, start, count):
    run_svd(simulator, PARAM_SETS[name], "svd_random", ROSVD_TB_MATRICES=count, ROSVD_TB_SEED=1000 + start)


def heavy_on(simulator: str, name: str):
    """The ``heavy`` mark for Icarus at n=32 (minutes per run), else none."""
    return [pytest.mark.heavy] if (simulator, PARAM_SETS[name].n) == ("icarus", 32) else []


def edge_run_marks(simulator: str, name: str, part: int):
    """``heavy`` as :func:`heavy_on`; ``slow`` past the DEFAULT_EDGE_CASE_RUNS."""
    default_runs = DEFAULT_EDGE_CASE_RUNS.get((simulator, name))
    slow = [pytest.mark.slow] if default_runs is not None and part >= default_runs else []
    return heavy_on(simulator, name) + slow


def edge_case_runs(simulator: str, name: str) -> list[list[str]]:
    """The edge cases' names, dealt into EDGE_CASE_RUNS runs (default one)."""
    names = list(edge_cases(PARAM_SETS[name]))
    runs = EDGE_CASE_RUNS.get((simulator, name), 1)
    return [names[first::runs] for first in range(runs)]


def test_edge_case_runs_cover_every_case_once():
    for simulator in SIMULATORS:
        for name in PARAM_SETS:
            dealt = [case for run in edge_case_runs(simulator, name) for case in run]
            assert sorted(dealt) == sorted(edge_cases(PARAM_SETS[name]))


def test_edge_case_selection_keeps_order_and_refuses_unknown_names():
    cases = edge_cases(PARAM_SETS["n8u4"])
    assert selected_edge_cases(cases, None) == list(cases)
    assert selected_edge_cases(cases, "rank_one, zero") == ["rank_one", "zero"]
    with pytest.raises(ValueError, match="unknown edge cases \\['rank_three'\\]"):
        selected_edge_cases(cases, "zero,rank_three")


@pytest.mark.parametrize("simulator, name, part", [
    pytest.param(simulator, name, part, id=f"{simulator}-{name}-{part}",
                 marks=edge_run_marks(simulator, name, part))
    for simulator in SIMULATORS for name in PARAM_SETS
    for part in range(len(edge_case_runs(simulator, name)))])
def test_edge_cases_and_reset(simulator, name, part):
    """Every edge case, and (in the first run) a reset in the middle of a matrix."""
    testcase = "svd_edge_cases,svd_reset_mid_matrix" if part == 0 else "svd_edge_cases"
    run_svd(simulator, PARAM_SETS[name], testcase,
            ROSVD_TB_EDGE_CASES=",".join(edge_case_runs(simulator, name)[part]))


@pytest.mark.parametrize("simulator, name", [
    pytest.param(simulator, name, id=f"{simulator}-{name}", marks=heavy_on(simulator, name) + (
        [pytest.mark.slow] if (simulator, name) in SLOW_CYCLE_COUNTS else []))
    for simulator in SIMULATORS for name in PARAM_SETS])
def test_cycles_match_estimate(simulator, name, tmp_path):
    params = PARAM_SETS[name]
    out = tmp_path / "cycles.json"
    count = CYCLES_MATRICES.get((simulator, name), 2)
    run_svd(simulator, params, "svd_cycles", ROSVD_TB_CYCLES_OUT=out, ROSVD_TB_CYCLES_MATRICES=count)
    report = json.loads(out.read_text())
    assert report["params"] == params_dict(params)
    assert [m["case"] for m in report["matrices"]] == [f"random{i}" for i in range(count)] + ["zero"]
    assert [m["cycles"] for m in report["matrices"]] == [m["cycle_estimate"] for m in report["matrices"]]


def slow_runs():
    """(simulator, parameter set, first seed offset, matrices) per run of the long sweep."""
    return [(simulator, name, start, count) for simulator, name, total, per_run in SLOW_RUNS
            for _, start, count in runs({simulator: total}, per_run)]


@pytest.mark.slow
@pytest.mark.parametrize("simulator, name, start, count", [
    pytest.param(*run, id=f"{run[0]}-{run[1]}-{run[2]}") for run in slow_runs()])
def test_random_matrices_long(simulator, name, start, count):
    run_svd(simulator, PARAM_SETS[name], "svd_random", ROSVD_TB_MATRICES=count, ROSVD_TB_SEED=50_000 + start)
