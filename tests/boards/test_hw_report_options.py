"""`rosvd hw report` assembles the whole top's report from the tools' results, names the
Fmax figure for the ECP5 stand-in and passes its options to the ECP5 run (synthesis itself
is replaced here: the real runs take minutes; test_hw_report_top.py runs them)."""
from __future__ import annotations

import json

import pytest

from rosvd.bench import hw_report
from rosvd.boards import synth
from rosvd.boards.targets import TARGETS
from rosvd.cli import main
from rosvd.hw.entropy.params import EntropyParams

#: Module headers as Amaranth writes the top's submodules (the DNA reader's name was taken).
FAKE_TOP = "".join(f"module \\{name} (a);\nendmodule\n" for name in (
    "rosvd_core", "rosvd_core.engine", "rosvd_core.engine.unit0", "rosvd_core.entropy", "rosvd_core.dna$155",
    "rosvd_core.dna$155.port", "rosvd_core.unpacker", "rosvd_core.packer", "rosvd_core.regs"))
RINGS = EntropyParams().oscillators * EntropyParams().stages
#: Cells of each kept module, as Yosys's stat would count them on a 7-series part.
FAKE_CELLS = {
    "rosvd_core": {"LUT6": 100, "FDRE": 200, "BUFG": 1},
    "rosvd_core.engine": {"LUT6": 5000, "FDRE": 6000, "DSP48E1": 12, "RAM32M": 10},
    "rosvd_core.entropy": {"LUT1": RINGS, "LUT4": 300, "FDRE": 400, "RAM32M": 6},
    "rosvd_core.dna$155": {"DNA_PORT": 1, "LUT3": 20, "FDRE": 70},
    "rosvd_core.unpacker": {"LUT3": 18, "FDRE": 45},
    "rosvd_core.packer": {"LUT3": 1},
}


def fake_tools(monkeypatch, tmp_path, calls, cells=FAKE_CELLS):
    verilog = tmp_path / "rosvd_core.v"
    verilog.write_text(FAKE_TOP)

    def resources(path, top, target, keep_hierarchy=()):
        calls.append({"synth": top, "keep_hierarchy": list(keep_hierarchy)})
        tgt = TARGETS[target] if isinstance(target, str) else target
        total: dict[str, int] = {}
        for module in (top, *keep_hierarchy):
            for name, n in cells[module].items():
                total[name] = total.get(name, 0) + n
        return {"target": tgt.name, "board": tgt.board, "part": tgt.part, **synth.classify_cells(total, tgt),
                "modules": {m: synth.classify_cells(cells[m], tgt) for m in (top, *keep_hierarchy)}}

    def fmax(path, top, clock, **options):
        calls.append({"fmax": top, "clock": clock, **options})
        return {"fmax_mhz": 123.45}

    monkeypatch.setattr(synth, "xilinx_resources", resources)
    monkeypatch.setattr(synth, "ecp5_fmax", fmax)
    monkeypatch.setattr(hw_report, "core_verilog", lambda params, platform=None, platform_key=None: verilog)
    monkeypatch.setattr(hw_report, "engine_verilog", lambda params, platform=None: "engine.v")


def run(capfd, *argv):
    assert main(["hw", "report", "--n", "8", *argv, "--json"]) == 0
    return json.loads(capfd.readouterr().out)


def test_seed_and_io_reach_the_fmax_run_and_the_json(monkeypatch, tmp_path, capfd):
    calls = []
    fake_tools(monkeypatch, tmp_path, calls)
    report = run(capfd, "--fmax-seed", "7", "--fmax-io", "pins")
    assert calls[-1] == {"fmax": "rosvd_core", "clock": "aclk", "io": "pins", "seed": 7}
    assert (report["fmax_seed"], report["fmax_io"], report["fmax_mhz_ecp5_standin"]) == (7, "pins", 123.45)
    assert "seed 7" in report["fmax_source"]
    # The stand-in's figure is named for what it is; no Xilinx figure without Vivado.
    assert not {"fmax_mhz", "fmax_mhz_estimate"} & report.keys() and report["fmax_mhz_xilinx"] is None
    assert report["fmax_design"] == "top" and "whole top" in report["fmax_source"]


def test_default_seed_is_the_documented_one(monkeypatch, tmp_path, capfd):
    calls = []
    fake_tools(monkeypatch, tmp_path, calls)
    report = run(capfd)
    assert calls[-1] == {"fmax": "rosvd_core", "clock": "aclk", "io": hw_report.FMAX_IO,
                         "seed": hw_report.FMAX_SEED}
    assert report["fmax_seed"] == hw_report.FMAX_SEED == 1


def test_the_headline_figures_are_the_whole_tops_and_the_engines_stay_apart(monkeypatch, tmp_path, capfd):
    calls = []
    fake_tools(monkeypatch, tmp_path, calls)
    report = run(capfd)
    assert calls[0] == {"synth": "rosvd_core", "keep_hierarchy": [
        "rosvd_core.engine", "rosvd_core.entropy", "rosvd_core.dna$155", "rosvd_core.unpacker",
        "rosvd_core.packer"]}
    assert (report["design"], report["top"]) == ("top", "rosvd_core")
    parts = report["components"]
    assert sorted(parts) == ["bus_and_registers", "dna", "engine", "entropy", "stream_adapters"]
    for key in ("LUT", "FF", "DSP", "LUTRAM"):
        assert report[key] == sum(part[key] for part in parts.values()), key
    assert report["LUT"] == 100 + 5000 + 40 + RINGS + 300 + 24 + 20 + 19
    assert report["engine"] == {key: parts["engine"][key] for key in report["engine"]}
    assert (report["engine"]["LUT"], report["engine"]["DSP"], report["engine"]["LUTRAM"]) == (5040, 12, 40)
    assert report["engine"]["utilisation_pct"]["LUT"] == round(100 * 5040 / 53_200, 2)
    assert parts["stream_adapters"]["LUT"] == 19, "unpacker and packer summed"
    assert report["primitives"]["found"] == {"ring_oscillator_lut1": RINGS, "DNA_PORT": 1}
    assert report["utilisation_pct"]["LUT"] == round(100 * report["LUT"] / 53_200, 2)


def test_engine_design_is_the_engine_alone(monkeypatch, tmp_path, capfd):
    calls = []
    fake_tools(monkeypatch, tmp_path, calls, cells={"rosvd_svd": FAKE_CELLS["rosvd_core.engine"]})
    report = run(capfd, "--design", "engine")
    assert calls == [{"synth": "rosvd_svd", "keep_hierarchy": []},
                     {"fmax": "rosvd_svd", "clock": "clk", "io": "scan", "seed": 1}]
    assert (report["design"], report["LUT"], report["DSP"]) == ("engine", 5040, 12)
    assert "components" not in report and report["fmax_design"] == "engine"


@pytest.mark.parametrize("lost", ["LUT1", "DNA_PORT"])
def test_a_netlist_without_the_rings_or_the_dna_port_is_refused(monkeypatch, tmp_path, lost):
    cells = {module: {name: n for name, n in counts.items() if name != lost}
             for module, counts in FAKE_CELLS.items()}
    fake_tools(monkeypatch, tmp_path, [], cells=cells)
    with pytest.raises(synth.SynthesisError, match="lacks primitives"):
        hw_report.hw_report(hw_report.SVDParams(n=8, units=1), "xc7z020", timing=False)


def test_summary_names_the_components_and_the_stand_in(monkeypatch, tmp_path, capfd):
    fake_tools(monkeypatch, tmp_path, [])
    assert main(["hw", "report", "--n", "8"]) == 0
    text = capfd.readouterr().out
    for word in ("total", "engine", "entropy", "dna", "bus_and_registers", "ECP5 stand-in: 123.45 MHz"):
        assert word in text


def test_bad_design_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["hw", "report", "--design", "board"])
    assert exit_info.value.code == 2
    assert "top" in capsys.readouterr().err
