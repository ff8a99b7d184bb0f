"""Run RosvdCore's Verilog under cocotb (``rosvd.sim.core_tb``): export, build and run, cached.

The simulated top is :class:`rosvd.sim.noisy_core.NoisyCore`: RosvdCore with its entropy
input driven by a seeded generator inside the design rather than by Python every cycle.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from rosvd.hw.entropy.params import EntropyParams
from rosvd.hw.svd.params import SVDParams
from rosvd.hw.top.core import CoreParams
from rosvd.hw.top.dna import DnaPrimitive
from rosvd.sim.build_root import build_root
from rosvd.sim.noisy_core import NoisyCore
from rosvd.sim.runner import run_cocotb
from rosvd.sim.verilog import export

TOP = "rosvd_core_sim"
TEST_MODULE = "rosvd.sim.core_tb"
#: The bridge testbench (``rosvd.sim.core_bridge_tb``) and the variables that tell it where
#: the host listens, the run's token and how long to wait for a request.
BRIDGE_TEST_MODULE, BRIDGE_TESTCASE = "rosvd.sim.core_bridge_tb", "core_bridge"
BRIDGE_PORT_ENV, BRIDGE_TOKEN_ENV = "ROSVD_BRIDGE_PORT", "ROSVD_BRIDGE_TOKEN"
BRIDGE_IDLE_ENV = "ROSVD_BRIDGE_IDLE_S"


def params_to_dict(params: CoreParams) -> dict:
    return dataclasses.asdict(params)


def params_from_dict(values: dict) -> CoreParams:
    """Inverse of :func:`params_to_dict` (the testbench rebuilds the parameters the design had)."""
    return CoreParams(svd=SVDParams(**values["svd"]), entropy=EntropyParams(**values["entropy"]),
                      fifo_depth=values["fifo_depth"], dna_value=values["dna_value"],
                      dna_primitive=DnaPrimitive(**values["dna_primitive"]))


def build_dir(params: CoreParams) -> Path:
    digest = hashlib.sha1(json.dumps(params_to_dict(params), sort_keys=True).encode()).hexdigest()[:10]
    return build_root() / f"{TOP}-n{params.svd.n}-u{params.svd.units}-{digest}"


def run_core(simulator: str, params: CoreParams, testcase: str | None = None, *,
             waves: bool | None = None, test_module: str = TEST_MODULE, **env) -> Path:
    """Export (cached), build (cached) and run testcases of :mod:`rosvd.sim.core_tb` (or of
    another testbench of the same top, ``test_module``: the build is shared)."""
    directory = build_dir(params)
    verilog = export(lambda: NoisyCore(params), TOP, directory)
    return run_cocotb(simulator, verilog, TOP, test_module, directory, testcase=testcase, waves=waves,
                      params=params_to_dict(params), extra_env={k: str(v) for k, v in env.items()})
