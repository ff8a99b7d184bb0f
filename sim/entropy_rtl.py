"""Run the entropy source's Verilog (platform-independent path) on raw-bit sequences.

``rtl_replay(params, {name: bits})`` exports ``EntropySource(params)`` with no platform
(so ``raw_bit`` is the noise input and ``simulated`` reads 1), builds it for Verilator
(cached per parameter set) and replays each sequence through :mod:`rosvd.sim.entropy_tb`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from rosvd.hw.entropy.params import EntropyParams
from rosvd.hw.entropy.source import EntropySource
from rosvd.sim.build_root import build_root
from rosvd.sim.entropy_tb import IN_ENV, OUT_ENV
from rosvd.sim.runner import run_cocotb
from rosvd.sim.verilog import export

TOP = "rosvd_entropy"
TEST_MODULE = "rosvd.sim.entropy_tb"


def build_dir(params: EntropyParams) -> Path:
    text = json.dumps(dataclasses.asdict(params), sort_keys=True)
    return build_root() / f"{TOP}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"


def rtl_replay(params: EntropyParams, sequences: Mapping[str, np.ndarray], *,
               ready: Mapping[str, np.ndarray] | None = None,
               host_reset_at: Mapping[str, Iterable[int]] | None = None,
               simulator: str = "verilator") -> dict[str, dict]:
    """Replay each sequence after a domain reset; per name the testbench's record.

    Record: ``words``, ``word_cycles``, ``rct_cycle``/``apt_cycle``/``startup_cycle`` (cycle
    whose sample raised the flag, or ``None``), ``valid_while_alarm``, ``final`` counters.
    """
    if params.sample_period != 1:
        raise ValueError("rtl_replay drives one sample per cycle: sample_period must be 1")
    directory = build_dir(params)
    verilog = export(lambda: EntropySource(params), TOP, directory)
    arrays = _named_arrays("rtl_replay", sequences, {
        "ready": _as_each(ready, np.uint8),
        "reset": _as_each(host_reset_at, np.int64, sort=True),
    })
    return _replay(simulator, verilog, TOP, directory, "entropy_replay", params, arrays)


def _as_each(per_name: Mapping | None, dtype, sort: bool = False) -> dict[str, np.ndarray]:
    """``per_name``'s values as arrays of ``dtype`` (sorted when ``sort``); {} for None."""
    return {name: np.asarray(sorted(values) if sort else values, dtype=dtype)
            for name, values in (per_name or {}).items()}


def _named_arrays(caller: str, sequences: Mapping[str, np.ndarray],
                  extras: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The testbench's input arrays: each sequence's bits under its name, and each extra
    that names it under ``name.suffix`` (why names may not hold a dot)."""
    arrays = {}
    for name, bits in sequences.items():
        if "." in name:
            raise ValueError(f"{caller}: sequence names may not contain '.', got {name!r}")
        arrays[name] = np.asarray(bits, dtype=np.uint8)
        for suffix, per_name in extras.items():
            if name in per_name:
                arrays[f"{name}.{suffix}"] = per_name[name]
    return arrays


def _replay(simulator: str, verilog, top: str, directory, testcase: str, params: EntropyParams,
            arrays: dict[str, np.ndarray], extra_env: Mapping[str, str] | None = None) -> dict:
    """Run ``testcase`` over ``arrays`` (handed over in an .npz) and return its JSON record."""
    with tempfile.TemporaryDirectory(prefix=f"rosvd-{top}-") as scratch:
        bits_in, out = Path(scratch) / "in.npz", Path(scratch) / "out.json"
        np.savez(bits_in, **arrays)
        run_cocotb(simulator, verilog, top, TEST_MODULE, directory, testcase=testcase,
                   params=dataclasses.asdict(params),
                   extra_env={IN_ENV: str(bits_in), OUT_ENV: str(out), **(extra_env or {})})
        return json.loads(out.read_text())


REGS_TOP = "rosvd_entropy_regs"
REGS_ENV = "ROSVD_ENTROPY_REGS"


def rtl_register_replay(params: EntropyParams, sequences: Mapping[str, np.ndarray], *,
                        host_reset_at: Mapping[str, Iterable[int]] | None = None,
                        hold: Mapping[str, np.ndarray] | None = None, fifo_depth: int = 16,
                        simulator: str = "verilator") -> dict[str, dict]:
    """Replay sequences through ``EntropyRegisters`` (testcase ``entropy_registers``):
    per name ``{"reads": [[cycle, register, value], ...]}`` polling STATUS, DATA and
    UNDERFLOWS in turn, with a host reset (CONTROL write) in the listed cycles and no
    DATA read where ``hold`` is 1."""
    from rosvd.hw.entropy.registers import REGISTERS, EntropyRegisters

    if params.sample_period != 1:
        raise ValueError("rtl_register_replay drives one sample per cycle: sample_period must be 1")
    directory = build_dir(params).with_name(build_dir(params).name.replace(TOP, REGS_TOP)
                                            + f"-d{fifo_depth}")
    verilog = export(lambda: EntropyRegisters(params, fifo_depth=fifo_depth), REGS_TOP, directory)
    arrays = _named_arrays("rtl_register_replay", sequences, {
        "reset": _as_each(host_reset_at, np.int64, sort=True),
        "hold": _as_each(hold, np.uint8),
    })
    return _replay(simulator, verilog, REGS_TOP, directory, "entropy_registers", params, arrays,
                   {REGS_ENV: json.dumps(REGISTERS)})
