"""``rosvd sim waves``: one decomposition through the engine's RTL, traced to one waveform file.

One seeded matrix is streamed through the simulated engine with tracing on; the waveform
is copied out of the simulator's run directory to ``output`` and the output words are
compared with the bit-exact model, so the trace shows a run known to be right (or the
first wrong one). Icarus writes FST; Verilator writes FST when its FST writer builds
(Debian ``liblz4-dev``), else VCD, and the file's suffix says which.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from rosvd.hw.svd import model
from rosvd.hw.svd.params import SVDParams
from rosvd.sim.runner import waves_path
from rosvd.sim.svd_bench import TOP, run_svd
from rosvd.sim.svd_cases import random_matrices

#: The simulator whose waveform is always FST.
DEFAULT_SIMULATOR = "icarus"


def default_output(params: SVDParams, simulator: str) -> Path:
    return Path(f"{TOP}-n{params.n}-u{params.units}-{simulator}")


def model_words(params: SVDParams, matrix: np.ndarray) -> list[int]:
    """The engine's output words for ``matrix`` as the model computes them."""
    result = model.decompose(params, matrix[None])
    return [int(w) for w in np.concatenate([result.sigma[0], result.vectors[0].ravel()])]


def record_waves(params: SVDParams, simulator: str = DEFAULT_SIMULATOR, seed: int = 0,
                 output: str | Path | None = None) -> dict:
    """Trace one decomposition of seeded matrix ``seed``; returns where the waveform is and
    how the run compared with the model. ``output`` gets the format's suffix if it has none
    (default: ``rosvd_svd-n<N>-u<U>-<simulator>.<fst|vcd>`` in the working directory)."""
    matrix = random_matrices(params, 1, seed)[0]
    with tempfile.TemporaryDirectory(prefix="rosvd-waves-") as scratch:
        matrices_in, out = Path(scratch) / "in.npy", Path(scratch) / "out.json"
        np.save(matrices_in, matrix[None])
        results = run_svd(simulator, params, "rosvd.sim.svd_replay", "svd_replay", waves=True,
                          ROSVD_REPLAY_IN=matrices_in, ROSVD_REPLAY_OUT=out)
        (record,) = json.loads(out.read_text())
        trace = waves_path(simulator, results.parent, TOP)
        if not trace.is_file():
            raise RuntimeError(f"{simulator} left no waveform at {trace}")
        target = Path(output) if output is not None else default_output(params, simulator)
        if not target.suffix:
            target = target.with_suffix(trace.suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(trace, target)
    expected = model_words(params, matrix)
    wrong = [i for i, (got, want) in enumerate(zip(record["words"], expected, strict=True)) if got != want]
    return {"waves": str(target.resolve()), "format": target.suffix.lstrip("."),
            "bytes": target.stat().st_size, "simulator": simulator, "seed": seed,
            "cycles": record["cycles"], "sweeps_run": record["sweeps_run"],
            "matches_model": not wrong, "first_mismatched_word": wrong[0] if wrong else None,
            "params": dataclasses.asdict(params)}
