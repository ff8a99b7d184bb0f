"""``vivado/build.tcl``: the Vivado project, block design and bitstream of one board.

Run as ``vivado -mode batch -source vivado/build.tcl`` from anywhere: paths are relative
to the script. It creates a project for the board's part (and board part, which carries
the PS presets), adds the bundle's ``ip/`` as an IP repository, builds the block design
(:func:`build_tcl` lists the cells and nets), validates it, makes the wrapper, runs
synthesis, checks the ring-oscillator cells and the pblock sites in the synthesised
netlist (so a name that Vivado changed stops the build there, not as a silent
unconstrained ring), implements, writes the bitstream and copies ``<bd>.bit`` and
``<bd>.hwh`` side by side into ``overlay/``, as ``pynq.Overlay`` expects.

Never run here: Vivado is not installed; the tests run this script in a Tcl interpreter
whose Vivado commands are stubs that record their calls (``tests/boards/vivado_stub.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

from rosvd.hw.top.identity import AXI_DMA_VLNV

from .targets import Target

#: The block design; its wrapper is ``<BD_NAME>_wrapper`` and the overlay files ``<BD_NAME>.bit/.hwh``.
BD_NAME = "rosvd"
CORE_CELL = "rosvd_core_0"
DMA_CELL = "axi_dma_0"
#: Where the core's cells sit in the implemented design (the BD wrapper's instance, the
#: IP's instance, the packager's ``inst``): the constraint check prefixes RTL names with it.
CORE_PATH = f"{BD_NAME}_i/{CORE_CELL}/inst/"


@dataclass(frozen=True)
class ProcessingSystem:
    """The PS cell and the pins the design uses, by their Vivado names."""

    vlnv: str
    cell: str
    rule: str
    rule_config: str
    config: tuple[tuple[str, str], ...]
    master: str             #: AXI master for the control bus
    master_clk: str
    slave: str              #: high-performance AXI slave into DDR
    slave_clk: str
    fclk: str
    resetn: str
    irq: str
    address_space: str = "Data"


PS7 = ProcessingSystem(
    vlnv="xilinx.com:ip:processing_system7:5.5", cell="processing_system7_0",
    rule="xilinx.com:bd_rule:processing_system7",
    rule_config='make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" Slave "Disable"',
    config=(("PCW_USE_M_AXI_GP0", "1"), ("PCW_USE_S_AXI_HP0", "1"), ("PCW_S_AXI_HP0_DATA_WIDTH", "64"),
            ("PCW_USE_FABRIC_INTERRUPT", "1"), ("PCW_IRQ_F2P_INTR", "1"),
            ("PCW_FPGA0_PERIPHERAL_FREQMHZ", "100")),
    master="M_AXI_GP0", master_clk="M_AXI_GP0_ACLK", slave="S_AXI_HP0", slave_clk="S_AXI_HP0_ACLK",
    fclk="FCLK_CLK0", resetn="FCLK_RESET0_N", irq="IRQ_F2P")
# zynq_ultra_ps_e's version moves with Vivado releases (3.3 ... 3.5): the newest installed is taken.
ZYNQMP = ProcessingSystem(
    vlnv="xilinx.com:ip:zynq_ultra_ps_e", cell="zynq_ultra_ps_e_0",
    rule="xilinx.com:bd_rule:zynq_ultra_ps_e", rule_config='apply_board_preset "1"',
    config=(("PSU__USE__M_AXI_GP0", "1"), ("PSU__USE__M_AXI_GP1", "0"), ("PSU__USE__M_AXI_GP2", "0"),
            ("PSU__USE__S_AXI_GP2", "1"), ("PSU__USE__IRQ0", "1"), ("PSU__FPGA_PL0_ENABLE", "1"),
            ("PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ", "100")),
    master="M_AXI_HPM0_FPD", master_clk="maxihpm0_fpd_aclk", slave="S_AXI_HP0_FPD",
    slave_clk="saxihp0_fpd_aclk", fclk="pl_clk0", resetn="pl_resetn0", irq="pl_ps_irq0")


@dataclass(frozen=True)
class Board:
    """A board the bundle is built for: its target (:mod:`.targets`) and Vivado board part."""

    key: str
    target: str
    board_part: str
    ps: ProcessingSystem
    board_connections: str | None = None
    note: str = ""


BOARDS = {b.key: b for b in (
    Board("pynq-z2", "xc7z020", "tul.com.tw:pynq-z2:part0:1.0", PS7,
          note="the PYNQ-Z2 board files (TUL) must be installed in Vivado's board store"),
    Board("kv260", "xck26", "xilinx.com:kv260_som:part0:1.4", ZYNQMP,
          board_connections="som240_1_connector xilinx.com:kv260_carrier:som240_1_connector:1.3"),
    Board("zcu104", "xczu7ev", "xilinx.com:zcu104:part0:1.1", ZYNQMP),
)}

#: AXI DMA (PG021) in simple mode: no scatter-gather, 32-bit streams both ways.
DMA_CONFIG = (("c_include_sg", "0"), ("c_include_mm2s", "1"), ("c_include_s2mm", "1"),
              ("c_sg_length_width", "26"), ("c_m_axi_mm2s_data_width", "32"),
              ("c_m_axis_mm2s_tdata_width", "32"), ("c_m_axi_s2mm_data_width", "32"),
              ("c_s_axis_s2mm_tdata_width", "32"), ("c_mm2s_burst_size", "16"),
              ("c_s2mm_burst_size", "16"))
#: Interrupts into the PS, in xlconcat order (bit 0 first).
INTERRUPTS = ((CORE_CELL, "interrupt"), (DMA_CELL, "mm2s_introut"), (DMA_CELL, "s2mm_introut"))


def board(key: str) -> Board:
    """The board called ``key``; :class:`ValueError` naming the valid keys otherwise."""
    if key not in BOARDS:
        raise ValueError(f"unknown board {key!r}; valid boards: {', '.join(BOARDS)}")
    return BOARDS[key]


def _dict(pairs) -> str:
    return "[list " + " ".join(f"CONFIG.{k} {{{v}}}" for k, v in pairs) + "]"


def _intf(a: str, b: str) -> str:
    return f"connect_bd_intf_net [get_bd_intf_pins {a}] [get_bd_intf_pins {b}]"


def _pins(*pins: str) -> str:
    return " ".join(f"[get_bd_pins {p}]" for p in pins)


def build_tcl(b: Board, target: Target, *, vlnv: str, xdc_name: str, ring_checks: list[tuple[str, int]],
              sites: list[str], dna_primitive: str, ip_cell_path: str = CORE_PATH) -> str:
    """The script. ``ring_checks``: ``(get_cells filter, expected count)`` pairs checked in
    the synthesised netlist; ``sites``: the pblock ranges, whose corner sites must exist."""
    ps = b.ps
    p = ps.cell
    corner_sites = sorted({end for site in sites for end in site.split(":")})
    lines = [
        f"# Generated by `rosvd boards build --board {b.key}` (rosvd.boards.vivado): do not edit.",
        f"# {target.board}, {target.part}. Run: vivado -mode batch -source vivado/build.tcl",
        "# Never run: written and checked without Vivado (docs/boards.md).",
        "",
        "set bundle [file normalize [file join [file dirname [info script]] ..]]",
        "set project_dir [file join $bundle vivado project]",
        "set overlay_dir [file join $bundle overlay]",
        "set jobs [expr {[info exists ::env(ROSVD_VIVADO_JOBS)] ? $::env(ROSVD_VIVADO_JOBS) : 2}]",
        "",
        "# -- project ----------------------------------------------------------------",
        f"create_project rosvd_{b.key.replace('-', '_')} $project_dir -part {target.part} -force",
        f"set_property board_part {b.board_part} [current_project]",
    ]
    if b.board_connections:
        lines.append(f"set_property board_connections {{{b.board_connections}}} [current_project]")
    lines += [
        "set_property target_language Verilog [current_project]",
        "set_property ip_repo_paths [list [file join $bundle ip]] [current_project]",
        "update_ip_catalog",
        f"add_files -fileset constrs_1 -norecurse [file join $bundle constraints {xdc_name}]",
        "# The IP is synthesised out of context: its cells exist from link on, so implementation only.",
        f"set_property used_in_synthesis false [get_files {xdc_name}]",
        "",
        "# -- block design -----------------------------------------------------------",
        f"create_bd_design {BD_NAME}",
        f"create_bd_cell -type ip -vlnv {ps.vlnv} {p}",
        f"apply_bd_automation -rule {ps.rule} -config {{{ps.rule_config}}} [get_bd_cells {p}]",
        f"set_property -dict {_dict(ps.config)} [get_bd_cells {p}]",
        f"create_bd_cell -type ip -vlnv {vlnv} {CORE_CELL}",
        f"create_bd_cell -type ip -vlnv {AXI_DMA_VLNV} {DMA_CELL}",
        f"set_property -dict {_dict(DMA_CONFIG)} [get_bd_cells {DMA_CELL}]",
        "create_bd_cell -type ip -vlnv xilinx.com:ip:axi_interconnect:2.1 ctrl_interconnect",
        "set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {2}] [get_bd_cells ctrl_interconnect]",
        "create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect:1.0 mem_smartconnect",
        "set_property -dict [list CONFIG.NUM_SI {2} CONFIG.NUM_MI {1}] [get_bd_cells mem_smartconnect]",
        "create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset:5.0 rst_ps",
        "create_bd_cell -type ip -vlnv xilinx.com:ip:xlconcat:2.1 irq_concat",
        f"set_property -dict [list CONFIG.NUM_PORTS {{{len(INTERRUPTS)}}}] [get_bd_cells irq_concat]",
        "# entropy_raw_bit is the simulation input; on the board the rings are used: tie it low.",
        "create_bd_cell -type ip -vlnv xilinx.com:ip:xlconstant:1.1 entropy_tie",
        "set_property -dict [list CONFIG.CONST_VAL {0} CONFIG.CONST_WIDTH {1}] [get_bd_cells entropy_tie]",
        "",
        "# control bus: PS master -> interconnect -> RosvdCore s_axi, AXI DMA S_AXI_LITE",
        _intf(f"{p}/{ps.master}", "ctrl_interconnect/S00_AXI"),
        _intf("ctrl_interconnect/M00_AXI", f"{CORE_CELL}/s_axi"),
        _intf("ctrl_interconnect/M01_AXI", f"{DMA_CELL}/S_AXI_LITE"),
        "# streams: DMA MM2S -> s_axis, m_axis -> DMA S2MM",
        _intf(f"{DMA_CELL}/M_AXIS_MM2S", f"{CORE_CELL}/s_axis"),
        _intf(f"{CORE_CELL}/m_axis", f"{DMA_CELL}/S_AXIS_S2MM"),
        "# DMA memory ports -> SmartConnect -> PS high-performance port into DDR",
        _intf(f"{DMA_CELL}/M_AXI_MM2S", "mem_smartconnect/S00_AXI"),
        _intf(f"{DMA_CELL}/M_AXI_S2MM", "mem_smartconnect/S01_AXI"),
        _intf("mem_smartconnect/M00_AXI", f"{p}/{ps.slave}"),
        "# one clock, one reset",
        "connect_bd_net " + _pins(
            f"{p}/{ps.fclk}", f"{p}/{ps.master_clk}", f"{p}/{ps.slave_clk}", f"{CORE_CELL}/aclk",
            f"{DMA_CELL}/s_axi_lite_aclk", f"{DMA_CELL}/m_axi_mm2s_aclk", f"{DMA_CELL}/m_axi_s2mm_aclk",
            "ctrl_interconnect/ACLK", "ctrl_interconnect/S00_ACLK", "ctrl_interconnect/M00_ACLK",
            "ctrl_interconnect/M01_ACLK", "mem_smartconnect/aclk", "rst_ps/slowest_sync_clk"),
        "connect_bd_net " + _pins(f"{p}/{ps.resetn}", "rst_ps/ext_reset_in"),
        "connect_bd_net " + _pins(
            "rst_ps/peripheral_aresetn", f"{CORE_CELL}/aresetn", f"{DMA_CELL}/axi_resetn",
            "ctrl_interconnect/S00_ARESETN", "ctrl_interconnect/M00_ARESETN", "ctrl_interconnect/M01_ARESETN",
            "mem_smartconnect/aresetn"),
        "connect_bd_net " + _pins("rst_ps/interconnect_aresetn", "ctrl_interconnect/ARESETN"),
        "# interrupts -> xlconcat -> PS",
    ]
    for index, (cell, pin) in enumerate(INTERRUPTS):
        lines.append("connect_bd_net " + _pins(f"{cell}/{pin}", f"irq_concat/In{index}"))
    lines += [
        "connect_bd_net " + _pins("irq_concat/dout", f"{p}/{ps.irq}"),
        "connect_bd_net " + _pins("entropy_tie/dout", f"{CORE_CELL}/entropy_raw_bit"),
        "",
        "assign_bd_address",
        "validate_bd_design",
        "save_bd_design",
        f"generate_target all [get_files {BD_NAME}.bd]",
        f"add_files -norecurse [make_wrapper -files [get_files {BD_NAME}.bd] -top]",
        f"set_property top {BD_NAME}_wrapper [current_fileset]",
        "update_compile_order -fileset sources_1",
        "",
        "# -- synthesis, then the netlist checks the constraints rely on --------------",
        "launch_runs synth_1 -jobs $jobs",
        "wait_on_run synth_1",
        'if {[get_property PROGRESS [get_runs synth_1]] ne "100%"} { error "rosvd: synthesis failed" }',
        "open_run synth_1 -name rosvd_synth_check",
    ]
    for filter_text, count in ring_checks:
        lines.append(f"if {{[llength [get_cells -hierarchical -filter {{{filter_text}}}]] != {count}}} "
                     f"{{ error {{rosvd: expected {count} cells matching {filter_text}}} }}")
    lines.append(f"if {{[llength [get_cells -hierarchical -filter {{REF_NAME == {dna_primitive}}}]] != 1}} "
                 f"{{ error \"rosvd: expected one {dna_primitive}\" }}")
    lines.append(f"foreach site {{{' '.join(corner_sites)}}} {{")
    lines.append('    if {[llength [get_sites -quiet $site]] != 1} '
                 '{ error "rosvd: pblock site $site is not on this part: edit the SITE_PLANS" }')
    lines += [
        "}",
        "close_design",
        "",
        "# -- implementation, bitstream, overlay files --------------------------------",
        "launch_runs impl_1 -to_step write_bitstream -jobs $jobs",
        "wait_on_run impl_1",
        'if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} { error "rosvd: implementation failed" }',
        "open_run impl_1",
        "file mkdir [file join $bundle reports]",
        "report_timing_summary -file [file join $bundle reports timing_summary.rpt]",
        "report_utilization -file [file join $bundle reports utilization.rpt]",
        "report_drc -file [file join $bundle reports drc.rpt]",
        "set wns [get_property STATS.WNS [get_runs impl_1]]",
        'if {$wns ne "" && $wns < 0} { puts "rosvd: WARNING: timing not met (WNS $wns ns): see reports/" }',
        "file mkdir $overlay_dir",
        f"file copy -force [file join [get_property DIRECTORY [get_runs impl_1]] {BD_NAME}_wrapper.bit] "
        f"[file join $overlay_dir {BD_NAME}.bit]",
        "# The handoff file moved from .srcs to .gen in Vivado 2020.2.",
        "set hwh [glob -nocomplain [file join $project_dir * sources_1 bd "
        f"{BD_NAME} hw_handoff {BD_NAME}.hwh]]",
        'if {[llength $hwh] == 0} { error "rosvd: no hardware handoff (.hwh) file found" }',
        f"file copy -force [lindex $hwh 0] [file join $overlay_dir {BD_NAME}.hwh]",
        f'puts "rosvd: wrote [file join $overlay_dir {BD_NAME}.bit] and {BD_NAME}.hwh"',
        "",
    ]
    return "\n".join(lines)
