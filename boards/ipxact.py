"""``ip/component.xml``: RosvdCore as an IEEE 1685-2009 (``spirit:``) IP-XACT component.

The form Vivado's IP packager writes and its IP catalog reads from an IP repository
(``set_property ip_repo_paths``). Nothing in it is typed twice:

* the VLNV is :data:`rosvd.hw.top.identity.VLNV` (what the PYNQ driver binds to);
* the ports, their directions and widths are read from the elaborated Verilog
  (:func:`rosvd.boards.netlist.top_ports`), and each bus interface's port maps are the
  ports under its prefix (``s_axi_awaddr`` -> logical ``AWADDR``), refused if a suffix
  is not a logical port of the interface (:data:`BUS_INTERFACES`);
* the memory map's registers and fields are :data:`rosvd.hw.top.register_map.REGISTER_MAP`,
  with the const fields' values resolved for the board's platform (``CONFIG_DNA.bits``
  is 57 on 7-series, 96 on UltraScale+).

Access: const/status fields ``read-only``; rw ``read-write``; pulse ``write-only`` (they
read 0); w1c ``read-write`` with ``modifiedWriteValue oneToClear``; status and w1c fields
are ``volatile``.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from rosvd.hw.top.identity import split_vlnv
from rosvd.hw.top.register_map import Access, Kind, RegisterMap

from .netlist import Port

SPIRIT = "http://www.spiritconsortium.org/XMLSchema/SPIRIT/1685-2009"
XILINX = "http://www.xilinx.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{SPIRIT} {SPIRIT}/index.xsd"
#: Vivado's family names in ``xilinx:supportedFamilies``, by Target.family.
XILINX_FAMILY = {"xc7": "zynq", "xcup": "zynquplus"}
#: The address block the memory map holds (Vivado names the segment ``<cell>/s_axi/reg0``).
ADDRESS_BLOCK = "reg0"
FILESET_SYNTH = "xilinx_anylanguagesynthesis_view_fileset"
FILESET_SIM = "xilinx_anylanguagebehavioralsimulation_view_fileset"

_AXI_LITE = ("AWADDR", "AWPROT", "AWVALID", "AWREADY", "WDATA", "WSTRB", "WVALID", "WREADY",
             "BRESP", "BVALID", "BREADY", "ARADDR", "ARPROT", "ARVALID", "ARREADY",
             "RDATA", "RRESP", "RVALID", "RREADY")
_AXIS = ("TDATA", "TVALID", "TREADY", "TLAST", "TKEEP", "TSTRB", "TUSER", "TID", "TDEST")


@dataclass(frozen=True)
class BusInterface:
    """One interface: Vivado's bus definition, its mode, and its ports (by ``prefix``, or
    the one port ``single`` mapped to ``single_logical``)."""

    name: str
    bus: str                    #: xilinx.com library:name of the bus definition
    mode: str                   #: "master" or "slave"
    logical: tuple[str, ...] = ()
    prefix: str | None = None
    single: str | None = None
    single_logical: str | None = None
    memory_map: str | None = None
    parameters: tuple[tuple[str, str], ...] = ()

    def port_map(self, ports: list[Port]) -> list[tuple[str, str]]:
        """``(logical, physical)`` pairs of this interface among ``ports``."""
        if self.single:
            if self.single not in {p.name for p in ports}:
                raise ValueError(f"bus interface {self.name}: no port {self.single!r} in the design")
            return [(self.single_logical, self.single)]
        pairs = []
        for port in ports:
            if port.name.startswith(self.prefix):
                logical = port.name[len(self.prefix):].upper()
                if logical not in self.logical:
                    raise ValueError(f"bus interface {self.name}: port {port.name} is not a logical port "
                                     f"of {self.bus} ({', '.join(self.logical)})")
                pairs.append((logical, port.name))
        if not pairs:
            raise ValueError(f"bus interface {self.name}: no ports named {self.prefix}*")
        return pairs


#: RosvdCore's interfaces, by Vivado's conventions (the names it infers them from).
BUS_INTERFACES = (
    BusInterface("s_axi", "interface:aximm", "slave", _AXI_LITE, prefix="s_axi_", memory_map="s_axi",
                 parameters=(("PROTOCOL", "AXI4LITE"),)),
    BusInterface("s_axis", "interface:axis", "slave", _AXIS, prefix="s_axis_"),
    BusInterface("m_axis", "interface:axis", "master", _AXIS, prefix="m_axis_"),
    BusInterface("aclk", "signal:clock", "slave", single="aclk", single_logical="CLK",
                 parameters=(("ASSOCIATED_BUSIF", "s_axi:s_axis:m_axis"), ("ASSOCIATED_RESET", "aresetn"))),
    BusInterface("aresetn", "signal:reset", "slave", single="aresetn", single_logical="RST",
                 parameters=(("POLARITY", "ACTIVE_LOW"),)),
    BusInterface("interrupt", "signal:interrupt", "master", single="interrupt", single_logical="INTERRUPT",
                 parameters=(("SENSITIVITY", "LEVEL_HIGH"),)),
)


def _q(tag: str, ns: str = SPIRIT) -> str:
    return f"{{{ns}}}{tag}"


def _sub(parent, tag, text=None, ns=SPIRIT, **attrs):
    element = ET.SubElement(parent, _q(tag, ns), {_q(k): v for k, v in attrs.items()})
    if text is not None:
        element.text = str(text)
    return element


def field_access(kind: Kind) -> str:
    return {Kind.CONST: "read-only", Kind.STATUS: "read-only", Kind.RW: "read-write",
            Kind.PULSE: "write-only", Kind.W1C: "read-write"}[kind]


def _register_access(access: Access) -> str:
    return {Access.RO: "read-only", Access.RW: "read-write", Access.W1C: "read-write"}[access]


def _memory_map(parent, name: str, regmap: RegisterMap, constants: dict, span_bytes: int, width: int):
    memory_map = _sub(parent, "memoryMap")
    _sub(memory_map, "name", name)
    block = _sub(memory_map, "addressBlock")
    _sub(block, "name", ADDRESS_BLOCK)
    _sub(block, "baseAddress", "0")
    _sub(block, "range", span_bytes)
    _sub(block, "width", width)
    _sub(block, "usage", "register")
    for reg in regmap:
        register = _sub(block, "register")
        _sub(register, "name", reg.name)
        _sub(register, "description", reg.doc)
        _sub(register, "addressOffset", f"0x{reg.offset:x}")
        _sub(register, "size", width)
        if any(f.kind in (Kind.STATUS, Kind.W1C) for f in reg.fields):
            _sub(register, "volatile", "true")
        _sub(register, "access", _register_access(reg.access))
        value = mask = 0
        for f in reg.fields:
            if f.kind is Kind.STATUS:
                continue
            known = constants[(reg.name, f.name)] if f.kind is Kind.CONST else f.reset
            value |= known << f.lsb
            mask |= f.mask
        if mask:
            reset = _sub(register, "reset")
            _sub(reset, "value", f"0x{value:08x}")
            _sub(reset, "mask", f"0x{mask:08x}")
        for f in reg.fields:
            field = _sub(register, "field")
            _sub(field, "name", f.name)
            _sub(field, "description", f"{f.kind.value}: {f.doc}")
            _sub(field, "bitOffset", f.lsb)
            _sub(field, "bitWidth", f.width)
            if f.kind in (Kind.STATUS, Kind.W1C):
                _sub(field, "volatile", "true")
            _sub(field, "access", field_access(f.kind))
            if f.kind is Kind.W1C:
                _sub(field, "modifiedWriteValue", "oneToClear")


def component_xml(*, vlnv: str, top: str, ports: list[Port], regmap: RegisterMap, constants: dict,
                  addr_width: int, data_width: int, family: str, hdl_path: str, description: str,
                  tie_low: tuple[str, ...] = ()) -> str:
    """The component.xml text. ``constants``: ``{(register, field): value}`` of the const
    fields (:func:`rosvd.hw.top.core.config_constants` for the board's platform);
    ``hdl_path``: the Verilog, relative to component.xml; ``tie_low``: input ports whose
    default driver is 0 (an unconnected pin in the block design)."""
    for name in ("spirit", "xilinx", "xsi"):
        ET.register_namespace(name, {"spirit": SPIRIT, "xilinx": XILINX, "xsi": XSI}[name])
    root = ET.Element(_q("component"), {f"{{{XSI}}}schemaLocation": SCHEMA_LOCATION})
    for key, value in split_vlnv(vlnv).items():
        _sub(root, key, value)

    interfaces = _sub(root, "busInterfaces")
    for bus in BUS_INTERFACES:
        element = _sub(interfaces, "busInterface")
        _sub(element, "name", bus.name)
        library, bus_name = bus.bus.split(":")
        _sub(element, "busType", vendor="xilinx.com", library=library, name=bus_name, version="1.0")
        _sub(element, "abstractionType", vendor="xilinx.com", library=library, name=f"{bus_name}_rtl",
             version="1.0")
        mode = _sub(element, bus.mode)
        if bus.memory_map:
            _sub(mode, "memoryMapRef", memoryMapRef=bus.memory_map)
        port_maps = _sub(element, "portMaps")
        for logical, physical in bus.port_map(ports):
            port_map = _sub(port_maps, "portMap")
            _sub(_sub(port_map, "logicalPort"), "name", logical)
            _sub(_sub(port_map, "physicalPort"), "name", physical)
        if bus.parameters:
            parameters = _sub(element, "parameters")
            for key, value in bus.parameters:
                parameter = _sub(parameters, "parameter")
                _sub(parameter, "name", key)
                _sub(parameter, "value", value, id=f"BUSIFPARAM_VALUE.{bus.name.upper()}.{key}")

    memory_maps = _sub(root, "memoryMaps")
    s_axi = next(bus for bus in BUS_INTERFACES if bus.memory_map)
    _memory_map(memory_maps, s_axi.memory_map, regmap, constants, 1 << addr_width, data_width)

    model = _sub(root, "model")
    views = _sub(model, "views")
    for view, env, fileset in (("xilinx_anylanguagesynthesis", ":vivado.xilinx.com:synthesis", FILESET_SYNTH),
                               ("xilinx_anylanguagebehavioralsimulation", ":vivado.xilinx.com:simulation",
                                FILESET_SIM)):
        element = _sub(views, "view")
        _sub(element, "name", view)
        _sub(element, "envIdentifier", env)
        _sub(element, "language", "Verilog")
        _sub(element, "modelName", top)
        _sub(element, "fileSetRef").append(_text_element("localName", fileset))
    model_ports = _sub(model, "ports")
    for port in ports:
        element = _sub(model_ports, "port")
        _sub(element, "name", port.name)
        wire = _sub(element, "wire")
        _sub(wire, "direction", port.direction)
        if port.width > 1 or port.msb != port.lsb:
            vector = _sub(wire, "vector")
            _sub(vector, "left", port.msb)
            _sub(vector, "right", port.lsb)
        if port.name in tie_low:
            _sub(_sub(wire, "driver"), "defaultValue", 0)

    file_sets = _sub(root, "fileSets")
    for fileset in (FILESET_SYNTH, FILESET_SIM):
        element = _sub(file_sets, "fileSet")
        _sub(element, "name", fileset)
        file = _sub(element, "file")
        _sub(file, "name", hdl_path)
        _sub(file, "fileType", "verilogSource")
    _sub(root, "description", description)

    extensions = _sub(root, "vendorExtensions")
    core = _sub(extensions, "coreExtensions", ns=XILINX)
    families = _sub(core, "supportedFamilies", ns=XILINX)
    family_element = _sub(families, "family", XILINX_FAMILY[family], ns=XILINX)
    family_element.set(_q("lifeCycle", XILINX), "Production")
    taxonomies = _sub(core, "taxonomies", ns=XILINX)
    _sub(taxonomies, "taxonomy", "/UserIP", ns=XILINX)
    _sub(core, "displayName", "RosvdCore", ns=XILINX)
    _sub(core, "coreRevision", "1", ns=XILINX)

    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _text_element(tag: str, text: str):
    element = ET.Element(_q(tag))
    element.text = text
    return element
