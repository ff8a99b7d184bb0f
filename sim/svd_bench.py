"""Run the engine's Verilog from Python: output words and measured cycles (demo, bench)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np

from rosvd.hw.svd.engine import SVDEngine
from rosvd.hw.svd.model import check_input
from rosvd.hw.svd.params import SVDParams
from rosvd.hw.svd.platform import ExportPlatform
from rosvd.sim.build_root import build_root
from rosvd.sim.runner import run_cocotb
from rosvd.sim.verilog import export

TOP = "rosvd_svd"
#: Simulation models of vendor cells, one Verilog file per cell.
MODELS_DIR = Path(__file__).parent / "models"


def build_dir(params: SVDParams, platform: ExportPlatform | None = None) -> Path:
    text = json.dumps(dataclasses.asdict(params), sort_keys=True)
    digest = hashlib.sha1(text.encode()).hexdigest()[:10]
    suffix = f"-{platform.name}" if platform is not None else ""
    return build_root() / f"{TOP}-n{params.n}-u{params.units}-{digest}{suffix}"


def primitive_models(platform: ExportPlatform | None) -> str:
    """Simulation models (``sim/models/<cell>.v``) of the cells the engine instantiates on
    ``platform``: with them its exported Verilog simulates as it would be synthesised."""
    cells = () if platform is None else platform.primitives
    return "\n".join((MODELS_DIR / f"{cell}.v").read_text() for cell in cells)


def run_svd(simulator: str, params: SVDParams, test_module: str, testcase: str, *,
            platform: ExportPlatform | None = None, waves: bool | None = None, **env) -> Path:
    """Export (cached), build (cached) and run one cocotb testcase on the engine, as
    elaborated for ``platform`` (default: generic, multipliers inferred); returns the
    results xml, in the run's own directory (where a traced run leaves its waveform)."""
    directory = build_dir(params, platform)
    verilog = export(lambda: SVDEngine(params), TOP, directory, platform=platform,
                     extra=primitive_models(platform))
    return run_cocotb(simulator, verilog, TOP, test_module, directory, testcase=testcase, waves=waves,
                      params=dataclasses.asdict(params), extra_env={k: str(v) for k, v in env.items()})


def rtl_decompose(params: SVDParams, matrices, simulator: str = "verilator") -> list[dict]:
    """Stream ``matrices`` through the RTL; per matrix ``words``, ``cycles``, ``sweeps_run``."""
    x = check_input(params, matrices)
    with tempfile.TemporaryDirectory(prefix="rosvd-replay-") as scratch:
        matrices_in, out = Path(scratch) / "in.npy", Path(scratch) / "out.json"
        np.save(matrices_in, x)
        run_svd(simulator, params, "rosvd.sim.svd_replay", "svd_replay",
                ROSVD_REPLAY_IN=matrices_in, ROSVD_REPLAY_OUT=out)
        return json.loads(out.read_text())


def measure_cycles(params: SVDParams, simulator: str = "verilator", seed: int = 1) -> dict:
    """Stall-free cycles per decomposition from the testbench's ``svd_cycles`` testcase."""
    with tempfile.TemporaryDirectory(prefix="rosvd-cycles-") as scratch:
        out = Path(scratch) / "cycles.json"
        run_svd(simulator, params, "rosvd.sim.svd_tb", "svd_cycles",
                ROSVD_TB_CYCLES_OUT=out, ROSVD_TB_SEED=seed)
        report = json.loads(out.read_text())
    cycles = [m["cycles"] for m in report["matrices"]]
    return {"cycles": max(cycles), "cycles_per_matrix": cycles, "cycles_simulator": simulator,
            "cycles_formula": report["cycles_max_sweeps"]}
