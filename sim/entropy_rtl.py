"""Run the entropy source's Verilog (platform-independent path) on raw-bit sequences.

``rtl_replay(params, {name: bits})`` exports ``EntropySource(params)`` with no platform
(so ``raw_bit`` is the noise input and ``simulated`` reads 1), builds it for Verilator
(cached per parameter set) and replays each sequence through :mod:`rosvd.sim.entropy_tb`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from rosvd.hw.entropy.params import EntropyParams
from rosvd.hw.entropy.source import EntropySource
from rosvd.sim.entropy_tb import IN_ENV, OUT_ENV
from rosvd.sim.runner import run_cocotb
from rosvd.sim.verilog import export

TOP = "rosvd_entropy"
TEST_MODULE = "rosvd.sim.entropy_tb"
BUILD_ROOT = Path(os.environ.get("ROSVD_SIM_BUILD", Path("build") / "sim")).resolve()


def build_dir(params: EntropyParams) -> Path:
    text = json.dumps(dataclasses.asdict(params), sort_keys=True)
    return BUILD_ROOT / f"{TOP}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"


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
    arrays = {}
    for name, bits in sequences.items():
        if "." in name:
            raise ValueError(f"rtl_replay: sequence names may not contain '.', got {name!r}")
        arrays[name] = np.asarray(bits, dtype=np.uint8)
        if ready and name in ready:
            arrays[f"{name}.ready"] = np.asarray(ready[name], dtype=np.uint8)
        if host_reset_at and name in host_reset_at:
            arrays[f"{name}.reset"] = np.asarray(sorted(host_reset_at[name]), dtype=np.int64)
    with tempfile.TemporaryDirectory(prefix="rosvd-entropy-") as scratch:
        bits_in, out = Path(scratch) / "in.npz", Path(scratch) / "out.json"
        np.savez(bits_in, **arrays)
        run_cocotb(simulator, verilog, TOP, TEST_MODULE, directory, testcase="entropy_replay",
                   params=dataclasses.asdict(params),
                   extra_env={IN_ENV: str(bits_in), OUT_ENV: str(out)})
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
    arrays = {}
    for name, bits in sequences.items():
        if "." in name:
            raise ValueError(f"rtl_register_replay: sequence names may not contain '.', got {name!r}")
        arrays[name] = np.asarray(bits, dtype=np.uint8)
        if host_reset_at and name in host_reset_at:
            arrays[f"{name}.reset"] = np.asarray(sorted(host_reset_at[name]), dtype=np.int64)
        if hold and name in hold:
            arrays[f"{name}.hold"] = np.asarray(hold[name], dtype=np.uint8)
    with tempfile.TemporaryDirectory(prefix="rosvd-entropy-regs-") as scratch:
        bits_in, out = Path(scratch) / "in.npz", Path(scratch) / "out.json"
        np.savez(bits_in, **arrays)
        run_cocotb(simulator, verilog, REGS_TOP, TEST_MODULE, directory, testcase="entropy_registers",
                   params=dataclasses.asdict(params),
                   extra_env={IN_ENV: str(bits_in), OUT_ENV: str(out),
                              REGS_ENV: json.dumps(REGISTERS)})
        return json.loads(out.read_text())
