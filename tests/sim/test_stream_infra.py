"""The cocotb infrastructure (export, runner, stream drivers) on a stand-in design.

:class:`rosvd.sim.passthrough.Passthrough` runs on both simulators under every idle x
backpressure pattern, with each word checked; the runner must report failures, reuse
builds and record waves.
"""
import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from rosvd.hw.svd.model import decompose
from rosvd.hw.svd.params import SVDParams
from rosvd.sim import svd_tb
from rosvd.sim.build_root import build_root
from rosvd.sim.passthrough import SELFTEST_ENV, Passthrough, ReplayEngine, output_layout
from rosvd.sim.runner import (
    SIMULATORS,
    CocotbFailure,
    parse_results,
    run_cocotb,
    verilator_fst_available,
)
from rosvd.sim.stream import (
    always,
    burst_pattern,
    cycle_pattern,
    never,
    random_pattern,
    signed_field,
    unpack,
)
from rosvd.sim.svd_cases import edge_cases
from rosvd.sim.verilog import export

BUILD_ROOT = build_root()
TOP = "passthrough"
TEST_MODULE = "rosvd.sim.passthrough"
#: One dict builds the design and reaches the testbench (ROSVD_TB_PARAMS).
PARAM_SETS = [{"width": 8, "last_every": 3}, {"width": 17, "last_every": 1}]


def build(params, suffix=""):
    build_dir = BUILD_ROOT / f"{TOP}-w{params['width']}-l{params['last_every']}{suffix}"
    return export(lambda: Passthrough(**params), TOP, build_dir), build_dir


@pytest.mark.parametrize("params", PARAM_SETS, ids=lambda p: f"w{p['width']}-l{p['last_every']}")
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_passthrough_every_word_under_stalls(simulator, params, capfd):
    verilog, build_dir = build(params)
    results = run_cocotb(simulator, verilog, TOP, TEST_MODULE, build_dir, params=params)
    total, failures = parse_results(results)
    assert total == 11 and failures == []      # 9 pattern pairs, throughput, 1 skipped self-test
    # Nothing on stdout, even from the simulator subprocesses (fd level): a command's results
    # are alone there. The build's and the run's output are in their logs.
    out, err = capfd.readouterr()
    assert out == "" and f"results {results}" in err
    assert (results.parent / "sim.log").stat().st_size > 0 and (build_dir / simulator / "build.log").is_file()


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_failing_testcase_raises(simulator):
    params = PARAM_SETS[0]
    verilog, build_dir = build(params)
    with pytest.raises(CocotbFailure, match=r"(?s)1 of 1 cocotb testcases failed.*deliberate_failure"):
        run_cocotb(simulator, verilog, TOP, TEST_MODULE, build_dir, params=params,
                   extra_env={SELFTEST_ENV: "1"}, testcase="deliberate_failure")


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_waves_recorded(simulator, capsys):
    params = PARAM_SETS[0]
    verilog, build_dir = build(params)
    results = run_cocotb(simulator, verilog, TOP, TEST_MODULE, build_dir, params=params,
                         waves=True, testcase="full_throughput")
    waves = [line.split("waves: ", 1)[1] for line in capsys.readouterr().err.splitlines()
             if "[rosvd.sim] waves: " in line]
    assert len(waves) == 1 and Path(waves[0]).parent == results.parent
    expected = ".fst" if simulator == "icarus" or verilator_fst_available() else ".vcd"
    assert Path(waves[0]).suffix == expected and Path(waves[0]).stat().st_size > 100
    assert results.parent.parent.parent.name == f"{simulator}-waves"


def test_unknown_simulator_is_refused(tmp_path):
    with pytest.raises(ValueError, match="simulator must be one of"):
        run_cocotb("modelsim", tmp_path / "x.v", TOP, TEST_MODULE, tmp_path)


def test_export_rewrites_only_on_change(tmp_path):
    first = export(Passthrough(8, 3), TOP, tmp_path)
    stamp = first.stat().st_mtime_ns
    assert export(lambda: Passthrough(8, 3), TOP, tmp_path).stat().st_mtime_ns == stamp
    text = first.read_text()
    assert "module passthrough(" in text and "i__payload" in text and "o__ready" in text
    export(Passthrough(8, 4), TOP, tmp_path)
    assert first.read_text() != text
    assert [p.name for p in tmp_path.iterdir()] == ["passthrough.v"]


def test_export_refuses_non_components(tmp_path):
    with pytest.raises(TypeError, match="Amaranth component"):
        export(lambda: 42, TOP, tmp_path)


def test_passthrough_rejects_bad_parameters():
    with pytest.raises(ValueError, match="last_every must be >= 1, not 0"):
        Passthrough(8, 0)


def test_patterns():
    take = lambda pattern, n=12: list(itertools.islice(pattern, n))   # noqa: E731
    assert take(never()) == [False] * 12
    assert take(always()) == [True] * 12
    assert take(cycle_pattern("0011"), 6) == [False, False, True, True, False, False]
    assert take(random_pattern(3, 0.5), 200) == take(random_pattern(3, 0.5), 200)
    assert 60 < sum(take(random_pattern(3, 0.5), 200)) < 140
    assert not any(take(random_pattern(3, 0.0)))
    bursts = take(burst_pattern(5, mean_run=4), 400)
    assert any(bursts) and not all(bursts)
    with pytest.raises(ValueError, match="only stalls"):
        cycle_pattern("11")
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        random_pattern(1, 1.0)


def test_payload_slicing():
    layout = output_layout(8)                        # data: signed(9) at bit 0, last at bit 9
    assert unpack(layout, (1 << 9) | 0x1FF) == {"data": -1, "last": 1}
    assert unpack(layout, 0x0FF) == {"data": 255, "last": 0}
    assert signed_field(0b1000_0000, 4, 4) == -8
    assert signed_field(0b0111_0000, 4, 4) == 7


# The SVD testbench itself, against a stand-in with the engine's ports ------------------
REPLAY_PARAMS = SVDParams(n=8, units=4)
SVD_TOP = "rosvd_svd"
REPLAY_ENGINE = "rosvd.sim.passthrough:ReplayEngine"


def run_replay(simulator, name, cases, testcase, latency=5, **env):
    """Run ``testcase`` of svd_tb on a ReplayEngine holding the model results of ``cases``."""
    model = decompose(REPLAY_PARAMS, np.stack(list(cases.values())))
    engine = ReplayEngine(REPLAY_PARAMS, [model.words(i) for i in range(len(cases))], latency)
    build_dir = BUILD_ROOT / f"svd-replay-{name}"
    verilog = export(engine, SVD_TOP, build_dir)
    env = {svd_tb.ENGINE_ENV: REPLAY_ENGINE, **{k: str(v) for k, v in env.items()}}
    return run_cocotb(simulator, verilog, SVD_TOP, "rosvd.sim.svd_tb", build_dir, testcase=testcase,
                      params=dataclasses.asdict(REPLAY_PARAMS), extra_env=env)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_svd_tb_checks_every_word(simulator):
    cases = svd_tb.random_cases(REPLAY_PARAMS, 6, seed=3)
    run_replay(simulator, "random", cases, "svd_random", ROSVD_TB_MATRICES=6, ROSVD_TB_SEED=3)
    with pytest.raises(CocotbFailure, match=r"matrix random4_0: \d+ words differ; first sigma\[0\]"):
        run_replay(simulator, "random", cases, "svd_random", ROSVD_TB_MATRICES=6, ROSVD_TB_SEED=4)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_svd_tb_measures_cycles(simulator, tmp_path):
    cases = svd_tb.cycles_cases(REPLAY_PARAMS, 2, seed=1)
    out = tmp_path / "cycles.json"
    run_replay(simulator, "cycles", cases, "svd_cycles", ROSVD_TB_CYCLES_MATRICES=2, ROSVD_TB_SEED=1,
               ROSVD_TB_CYCLES_OUT=out)
    report = json.loads(out.read_text())
    expected = svd_tb.engine_for_estimates(REPLAY_PARAMS, REPLAY_ENGINE).cycle_estimate()
    assert [m["case"] for m in report["matrices"]] == ["random0", "random1", "zero"]
    assert [m["cycles"] for m in report["matrices"]] == [expected] * 3
    assert report["params"] == dataclasses.asdict(REPLAY_PARAMS) and report["simulator"]


def test_svd_tb_edge_cases_and_reset():
    run_replay("icarus", "edge", edge_cases(REPLAY_PARAMS), "svd_edge_cases")
    _, after_reset = svd_tb.reset_cases(REPLAY_PARAMS, seed=1)
    run_replay("icarus", "reset", {"after_reset": after_reset}, "svd_reset_mid_matrix")


def test_svd_tb_watchdog_stops_a_stuck_engine():
    cases = svd_tb.cycles_cases(REPLAY_PARAMS, 2, seed=1)
    with pytest.raises(CocotbFailure, match="watchdog: no completion within"):
        run_replay("icarus", "stuck", cases, "svd_cycles", latency=1 << 20, ROSVD_TB_CYCLES_MATRICES=2)
