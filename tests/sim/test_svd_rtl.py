"""The SVD engine's Verilog on Verilator and Icarus equals the model word for word.

Each case exports ``SVDEngine(params)`` (cached per parameter set) and runs one
testcase of :mod:`rosvd.sim.svd_tb`; the parameter dict that built the design reaches
the testbench through ``ROSVD_TB_PARAMS``. Random matrices are split into chunks with
their own seeds so pytest-xdist can spread them over cores.
"""
import dataclasses
import hashlib
import json
import os
from pathlib import Path

import pytest
from rosvd.hw.svd.engine import SVDEngine
from rosvd.hw.svd.params import SVDParams
from rosvd.sim.runner import SIMULATORS, run_cocotb
from rosvd.sim.verilog import export

BUILD_ROOT = Path(os.environ.get("ROSVD_SIM_BUILD", Path(__file__).resolve().parents[2] / "build" / "sim"))
TOP = "rosvd_svd"
TEST_MODULE = "rosvd.sim.svd_tb"

#: name -> (params, random matrices in the default suite). The default set carries the
#: 200-matrix requirement; the small sets cover the fused (one pair per unit) and the
#: multiplexed datapath with early exit.
PARAM_SETS = {
    "default": (SVDParams(), 200),
    "n8u4": (SVDParams(n=8, units=4), 40),
    "n8u2-skip": (SVDParams(n=8, units=2, sweeps=6, skip_shift=10, data_width=12), 40),
}
CHUNKS = 4                      # random matrices per param set are split into this many runs
SLOW_MATRICES, SLOW_CHUNKS = 10_000, 20


def params_dict(params: SVDParams) -> dict:
    return dataclasses.asdict(params)


def run_svd(simulator: str, params: SVDParams, testcase: str, **env) -> Path:
    digest = hashlib.sha1(json.dumps(params_dict(params), sort_keys=True).encode()).hexdigest()[:10]
    build_dir = BUILD_ROOT / f"{TOP}-n{params.n}-u{params.units}-{digest}"
    verilog = export(lambda: SVDEngine(params), TOP, build_dir)
    return run_cocotb(simulator, verilog, TOP, TEST_MODULE, build_dir, testcase=testcase,
                      params=params_dict(params), extra_env={k: str(v) for k, v in env.items()})


def chunk_cases(param_sets, chunks):
    return [pytest.param(name, chunk, count, id=f"{name}-{chunk}")
            for name, (_, count) in param_sets.items() for chunk in range(chunks)]


@pytest.mark.parametrize("name, chunk, total", chunk_cases(PARAM_SETS, CHUNKS))
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_random_matrices(simulator, name, chunk, total):
    params, _ = PARAM_SETS[name]
    run_svd(simulator, params, "svd_random", ROSVD_TB_MATRICES=total // CHUNKS, ROSVD_TB_SEED=1000 + chunk)


@pytest.mark.parametrize("name", PARAM_SETS)
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_edge_cases_and_reset(simulator, name):
    run_svd(simulator, PARAM_SETS[name][0], "svd_edge_cases,svd_reset_mid_matrix")


@pytest.mark.parametrize("name", PARAM_SETS)
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_cycles_match_estimate(simulator, name, tmp_path):
    params = PARAM_SETS[name][0]
    out = tmp_path / "cycles.json"
    run_svd(simulator, params, "svd_cycles", ROSVD_TB_CYCLES_OUT=out)
    report = json.loads(out.read_text())
    assert report["params"] == params_dict(params)
    assert [m["cycles"] for m in report["matrices"]] == [m["cycle_estimate"] for m in report["matrices"]]


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(SLOW_CHUNKS))
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_random_matrices_long(simulator, chunk):
    run_svd(simulator, SVDParams(), "svd_random",
            ROSVD_TB_MATRICES=SLOW_MATRICES // SLOW_CHUNKS, ROSVD_TB_SEED=50_000 + chunk)
