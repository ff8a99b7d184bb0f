"""What Vivado will see in the bundle's Verilog, read from the text Amaranth wrote.

Two readings, both of the Verilog itself rather than of the Python that produced it:

* :func:`top_ports`: the top module's ports, direction and width, as Vivado's IP
  packager reads them;
* :func:`hierarchy`: every cell under the top with its hierarchical name and type, named
  as Vivado's synthesis names them: an instance keeps its name (``ro0_lut0``, escaped
  names lose the backslash: ``ro0_sync$38``), a ``reg`` becomes a flip-flop cell
  ``<name>_reg`` (one bit) or ``<name>_reg[i]``. The constraint check
  (:func:`rosvd.boards.checks.check_xdc`) matches the XDC's patterns against these names.

A tiny reader for the subset Amaranth's Verilog backend emits (one declaration per line,
instances at two spaces' indent), not a Verilog parser: it raises when the top module is
missing rather than guess.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_IDENT = r"(?:\\\S+|[A-Za-z_][\w$]*)"
_MODULE = re.compile(rf"^module ({_IDENT})\s*\((.*?)\);\n(.*?)^endmodule", re.S | re.M)
_PORT = re.compile(rf"^  (input|output|inout) (?:wire |reg )?(?:\[(\d+):(\d+)\] )?({_IDENT})\s*;", re.M)
_REG = re.compile(rf"^  reg (?:signed )?(?:\[(\d+):(\d+)\] )?({_IDENT})\s*(?:=[^;]*)?;", re.M)
_INSTANCE = re.compile(rf"^  ({_IDENT})\s+(?:#\(\n(?:    .*\n)*?  \)\s*)?({_IDENT})\s*\(\n", re.M)
_CLOCKED = re.compile(rf"^  always @\(posedge [^)]*\)\n\s+({_IDENT})\s*(?:\[[^\]]*\]\s*)?<=", re.M)
_KEYWORDS = {"assign", "always", "initial", "wire", "reg", "input", "output", "inout", "module"}


def _name(identifier: str) -> str:
    return identifier[1:] if identifier.startswith("\\") else identifier


@dataclass(frozen=True)
class Port:
    name: str
    direction: str      #: "in", "out" or "inout" (IP-XACT's words)
    width: int
    msb: int = 0
    lsb: int = 0


@dataclass(frozen=True)
class Cell:
    name: str           #: hierarchical name under the top, "/"-separated
    ref: str            #: the primitive (LUT1, DNA_PORT, FDRE...) or module it instantiates
    is_primitive: bool


def modules(text: str) -> dict[str, str]:
    """``{module name: body}`` of every module in ``text``."""
    return {_name(m.group(1)): m.group(3) for m in _MODULE.finditer(text)}


def top_ports(text: str, top: str) -> list[Port]:
    """The ports of module ``top``, in declaration order."""
    body = modules(text).get(top)
    if body is None:
        raise ValueError(f"no module {top!r} in the Verilog")
    ports = []
    for direction, msb, lsb, name in _PORT.findall(body):
        msb_i, lsb_i = (int(msb), int(lsb)) if msb else (0, 0)
        ports.append(Port(_name(name), {"input": "in", "output": "out"}.get(direction, direction),
                          abs(msb_i - lsb_i) + 1, msb_i, lsb_i))
    return ports


def hierarchy(text: str, top: str) -> list[Cell]:
    """Every cell under ``top``: submodule instances, primitives, and ``reg`` flip-flops."""
    bodies = modules(text)
    if top not in bodies:
        raise ValueError(f"no module {top!r} in the Verilog")
    cells: list[Cell] = []

    def walk(module: str, prefix: str) -> None:
        body = bodies[module]
        clocked = {_name(name) for name in _CLOCKED.findall(body)}
        for msb, lsb, reg in _REG.findall(body):
            name = _name(reg)
            if name not in clocked:
                continue
            if msb:
                for bit in range(min(int(msb), int(lsb)), max(int(msb), int(lsb)) + 1):
                    cells.append(Cell(f"{prefix}{name}_reg[{bit}]", "FF", True))
            else:
                cells.append(Cell(f"{prefix}{name}_reg", "FF", True))
        for kind, instance in _INSTANCE.findall(body):
            if kind in _KEYWORDS:
                continue
            ref, name = _name(kind), _name(instance)
            child = ref in bodies
            cells.append(Cell(f"{prefix}{name}", ref, not child))
            if child:
                walk(ref, f"{prefix}{name}/")

    walk(top, "")
    return cells
