"""Resource and clock-rate estimates on small designs whose mapping is known.

A registered 16x16 signed multiply-accumulate must become exactly one DSP slice with
its registers absorbed, a w-bit counter needs at least w flip-flops, utilisation is
the count over the datasheet capacity, and the ECP5 stand-in gives a plausible Fmax.
Each tool run is its own test so pytest-xdist never repeats one.
"""
import json

import pytest
from amaranth.back import verilog
from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rosvd.boards.synth import (
    SynthesisError,
    classify_cells,
    critical_path,
    ecp5_fmax,
    report,
    xilinx_resources,
)
from rosvd.boards.targets import TARGETS, target

COUNTER_WIDTH = 20


class MultiplyAccumulate(wiring.Component):
    """acc += a*b with registered operands and product; ``clear`` zeroes acc."""

    a: In(signed(16))
    b: In(signed(16))
    clear: In(1)
    acc: Out(signed(48))

    def elaborate(self, platform):
        m = Module()
        a, b, product = Signal(signed(16)), Signal(signed(16)), Signal(signed(32))
        m.d.sync += [a.eq(self.a), b.eq(self.b), product.eq(a * b)]
        with m.If(self.clear):
            m.d.sync += self.acc.eq(0)
        with m.Else():
            m.d.sync += self.acc.eq(self.acc + product)
        return m


class Counter(wiring.Component):
    def __init__(self, width):
        self.width = width
        super().__init__({"enable": In(1), "count": Out(width)})

    def elaborate(self, platform):
        m = Module()
        with m.If(self.enable):
            m.d.sync += self.count.eq(self.count + 1)
        return m


class CounterTop(wiring.Component):
    """A :class:`Counter` one level down, so the flows see a module hierarchy."""

    def __init__(self, width):
        self.width = width
        super().__init__({"enable": In(1), "count": Out(width)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.counter = counter = Counter(self.width)
        m.d.comb += [counter.enable.eq(self.enable), self.count.eq(counter.count)]
        return m


@pytest.fixture
def mac_verilog(tmp_path):
    path = tmp_path / "mac.v"
    path.write_text(verilog.convert(MultiplyAccumulate(), name="mac"))
    return path


@pytest.fixture
def counter_verilog(tmp_path):
    path = tmp_path / "counter.v"
    path.write_text(verilog.convert(CounterTop(COUNTER_WIDTH), name="counter"))
    return path


@pytest.mark.synth
def test_mac_maps_to_one_dsp48e1_on_xc7_with_utilisation_from_capacity(mac_verilog):
    res = xilinx_resources(mac_verilog, "mac", "xc7z020")
    assert res["DSP_by_type"] == {"DSP48E1": 1}
    assert res["DSP"] == 1 and res["BRAM"] == 0 and res["LUTRAM"]["lut"] == 0
    assert res["FF"] < 48, "the accumulator register belongs in the DSP's P register"
    cap = TARGETS["xc7z020"]
    assert res["utilisation_pct"]["DSP"] == round(100 / cap.dsp, 2) == 0.45
    assert res["utilisation_pct"]["LUT"] == round(100 * res["LUT"] / cap.lut, 2)
    assert res["utilisation_pct"]["FF"] == round(100 * res["FF"] / cap.ff, 2)
    assert "URAM" not in res["utilisation_pct"], "the Z-7020 has no UltraRAM"
    assert res["fits"] is True
    assert res["script"].splitlines()[1] == "synth_xilinx -family xc7 -top mac -flatten -noiopad"
    assert res["yosys_version"].startswith("Yosys 0.")


@pytest.mark.synth
def test_mac_maps_to_one_dsp48e2_on_ultrascale(mac_verilog):
    res = xilinx_resources(mac_verilog, "mac", "kv260", progress=False)
    assert (res["target"], res["family"]) == ("xck26", "xcup")
    assert res["DSP_by_type"] == {"DSP48E2": 1}
    assert res["utilisation_pct"]["DSP"] == round(100 / 1248, 2)


@pytest.mark.synth
def test_report_of_a_counter(counter_verilog, capsys):
    result = report(counter_verilog, "counter", "ZCU104")
    assert (result["target"], result["part"]) == ("xczu7ev", "xczu7ev-ffvc1156-2-e")
    assert result["FF"] >= COUNTER_WIDTH
    assert result["DSP"] == 0 and result["BRAM"] == 0
    assert result["utilisation_pct"]["FF"] == round(100 * result["FF"] / 460_800, 2)
    assert 0 < result["fmax_mhz_ecp5_standin"] < 1000 and result["fmax_mhz_xilinx"] is None
    assert result["fmax_source"] == "nextpnr-ecp5 stand-in"
    assert "Vivado" in result["note"]
    assert result["timing"]["io_mode"] == "pins"
    assert result["timing"]["ecp5_utilisation"]["TRELLIS_FF"]["used"] >= COUNTER_WIDTH
    assert json.loads(json.dumps(result)) == result
    progress = capsys.readouterr().err
    assert "[yosys-xcup" in progress and "[nextpnr-ecp5" in progress


@pytest.mark.synth
def test_scan_wrapper_reaches_all_ports_through_four_pins(mac_verilog):
    timing = ecp5_fmax(mac_verilog, "mac", io="scan", progress=False)
    assert timing["io_mode"] == "scan" and timing["port_bits"] == 83
    used = timing["ecp5_utilisation"]
    assert used["TRELLIS_IO"]["used"] == 4, "clock, scan_in, scan_load, scan_out"
    assert used["MULT18X18D"]["used"] >= 1, "the multiplier must survive behind the wrapper"
    assert 0 < timing["fmax_mhz"] < 1000
    assert timing["critical_path"]["ns"] > 0


@pytest.mark.synth
def test_timeout_stops_the_tool(counter_verilog):
    with pytest.raises(SynthesisError, match="timed out"):
        xilinx_resources(counter_verilog, "counter", "xc7z020", timeout_s=0.01, progress=False)


@pytest.mark.synth
def test_missing_clock_port_is_named(counter_verilog):
    with pytest.raises(ValueError, match="no input port 'sysclk'.*'count'"):
        ecp5_fmax(counter_verilog, "counter", clock_port="sysclk", progress=False)


def test_unknown_target_lists_the_valid_ones(counter_verilog):
    with pytest.raises(ValueError, match="xc7z020, xck26, xczu7ev"):
        target("xc7a35t")
    with pytest.raises(ValueError, match="unknown target 'artix'"):
        report(counter_verilog, "counter", "artix")      # refused before any tool runs
    with pytest.raises(ValueError, match="unknown target"):
        xilinx_resources(counter_verilog, "counter", "nope")


def test_target_data():
    assert target("PYNQ-Z2") is TARGETS["xc7z020"]
    assert [t.family for t in TARGETS.values()] == ["xc7", "xcup", "xcup"]
    for t in TARGETS.values():
        assert t.bram18 == 2 * t.bram36
        assert t.ff == 2 * t.lut, "every Xilinx CLB has two flip-flops per LUT"
        assert t.capacity()["BRAM"] == t.bram36
    assert TARGETS["xc7z020"].dsp_cell == "DSP48E1" and TARGETS["xck26"].dsp_cell == "DSP48E2"


def test_cell_classification_follows_the_slice_rules():
    cells = {"LUT6": 10, "LUT3": 2, "INV": 1, "RAM64M": 2, "RAM32X1D": 1, "SRLC32E": 3,
             "RAMB36E1": 1, "RAMB18E1": 3, "FDRE": 5, "FDCE": 2, "LDCE": 1, "DSP48E1": 4,
             "CARRY4": 6, "MUXF7": 2, "BUFG": 1, "$_DFF_P_": 1, "$scopeinfo": 4}
    res = classify_cells(cells, TARGETS["xc7z020"])
    assert res["LUTRAM"]["lut"] == 2 * 4 + 2      # RAM64M: 4 LUTs, RAM32X1D: 2
    assert res["SRL"]["lut"] == 3
    assert res["LUT"] == 13 + 10 + 3              # logic + memory + shift registers
    assert (res["FF"], res["LATCH"], res["DSP"]) == (7, 1, 4)
    assert (res["BRAM"], res["BRAM18"]) == (2.5, 5)
    assert res["other_cells"] == {"$_DFF_P_": 1, "BUFG": 1}, "unmapped cells stay visible"
    assert res["utilisation_pct"]["BRAM"] == round(100 * 2.5 / 140, 2)
    assert res["utilisation_pct"]["LUTRAM"] == round(100 * 13 / 17_400, 2)
    full = classify_cells({"DSP48E1": 221}, TARGETS["xc7z020"])
    assert full["fits"] is False and full["utilisation_pct"]["DSP"] > 100


NEXTPNR_LOG = """\
Info: Critical path report for clock 'clk' (posedge -> posedge):
Info:       type curr  total name
Info:   clk-to-q  0.52  0.52 Source count_TRELLIS_FF_Q_2.Q
Info:    routing  0.99  1.51 Net count[2] (89,20) -> (91,19)
Info:                          Sink rank2_LUT4_Z.D
Info:      logic  0.24  1.75 Source rank2_LUT4_Z.F
Info:    routing  0.30  2.05 Net unit0.prod_tt_TRELLIS_FF_Q_DI (1,2) -> (3,4)
Info:    routing  0.00  1.75 Net $nextpnr_CCU2C_1$CIN (95,16) -> (95,16)
Info:      logic  0.44  2.49 Source unit0.prod_tt_CCU2C_S1$CCU2_COMB0.F
Info:    routing  0.70  3.19 Net rank24_TRELLIS_FF_Q_4_DI (95,16) -> (95,16)
Info:      setup  0.00  3.19 Source rank24_TRELLIS_FF_Q_4.DI
Info:
Info: Critical path report for cross-domain path '<async>' -> 'posedge clk':
Info:     source  0.00  0.00 Source result__ready$tr_io.O
"""


def test_critical_path_is_read_from_the_last_report_for_the_clock():
    path = critical_path("Info: Critical path report for clock 'clk' (posedge -> posedge):\n"
                         "Info:   clk-to-q  0.52  0.52 Source early.Q\n" + NEXTPNR_LOG, "clk")
    assert path == {"ns": 3.19, "from": "count", "to": "rank24",
                    "through": ["count", "rank2", "unit0.prod_tt", "rank24"]}
    assert critical_path(NEXTPNR_LOG, "other_clk") is None


def test_critical_path_skips_hops_through_cells_named_by_the_tools():
    """A hop through ``unit0.$auto$...`` (a multiplier Yosys named) names no design signal:
    it is left out of ``through`` rather than listed as ``unit0.``."""
    log = ("Info: Critical path report for clock 'clk' (posedge -> posedge):\n"
           "Info:       type curr  total name\n"
           "Info:   clk-to-q  0.52  0.52 Source unit0.dot_bottom_TRELLIS_FF_Q.Q\n"
           "Info:    routing  1.10  1.62 Net unit0.dot_bottom[3] (1,2) -> (3,4)\n"
           "Info:      logic  3.93  5.55 Source unit0.$auto$mul.cc:12$345_MULT18X18D.P0\n"
           "Info:    routing  0.50  6.05 Net unit0.partial_bb_low_TRELLIS_FF_Q_DI (3,4) -> (5,6)\n")
    path = critical_path(log, "clk")
    assert path["through"] == ["unit0.dot_bottom", "unit0.partial_bb_low"]
