"""`rosvd hw report` on the whole top: the top as built for each target keeps its ring
oscillators and DNA port through Yosys, the breakdown adds up to the totals, and the top
(ECP5 stand-in form) places and routes.

The Verilog checks take seconds. One synthesis of a tiny top (n=8, one unit), shared by
the module's tests, runs in the default suite (~30 s); the ECP5 place-and-route and the
UltraScale+ synthesis are ``slow`` (``make test-long``).
"""
from __future__ import annotations

import re

import pytest

from rosvd.bench import hw_report
from rosvd.bench.hw_report import (
    COMPONENTS,
    ECP5_EXPORT,
    REST,
    component_modules,
    core_verilog,
    top_resources,
    xilinx_platform,
)
from rosvd.boards.synth import ECP5_PACKAGE_IO, xilinx_script
from rosvd.boards.targets import TARGETS
from rosvd.hw.entropy.params import EntropyParams
from rosvd.hw.svd.params import SVDParams
from rosvd.hw.top.core import CoreParams

TINY = SVDParams(n=8, units=1)
RINGS = EntropyParams().oscillators * EntropyParams().stages
DNA_CELL = {"xc7z020": "DNA_PORT", "xck26": "DNA_PORTE2", "xczu7ev": "DNA_PORTE2"}


@pytest.mark.parametrize("name", list(TARGETS))
def test_each_target_has_a_platform_of_its_family(name):
    tgt = TARGETS[name]
    platform = xilinx_platform(tgt)
    assert tgt.part.lower().startswith(platform.device) and platform.package in tgt.part.lower()
    assert platform.family == {"xc7": "series7", "xcup": "ultrascaleplus"}[tgt.family]


@pytest.fixture(scope="module")
def xc7_verilog():
    return core_verilog(CoreParams(svd=TINY), xilinx_platform("xc7z020"), platform_key="xc7z020")


@pytest.mark.parametrize("name", ["xc7z020", "xck26"])
def test_the_top_built_for_a_target_instantiates_its_rings_and_dna_port(name, xc7_verilog):
    path = xc7_verilog if name == "xc7z020" else core_verilog(CoreParams(svd=TINY), xilinx_platform(name),
                                                              platform_key=name)
    verilog = path.read_text()
    assert len(re.findall(r"^\s*LUT1 #\(", verilog, re.MULTILINE)) == RINGS
    assert len(re.findall(rf"^\s*{DNA_CELL[name]} #\(", verilog, re.MULTILINE)) == 1
    assert "SimulatedDnaPort" not in verilog


def test_the_components_are_found_in_the_tops_verilog(xc7_verilog):
    modules = component_modules(xc7_verilog)
    assert list(modules) == list(COMPONENTS)
    assert modules["engine"] == ("rosvd_core.engine",)
    assert all(name.startswith("rosvd_core.") for names in modules.values() for name in names)


def test_the_ecp5_top_takes_its_raw_bit_from_the_port_and_fits_the_package():
    verilog = core_verilog(CoreParams(svd=TINY), ECP5_EXPORT).read_text()
    assert "LUT1 #(" not in verilog and "DNA_PORT" not in verilog
    assert "MULT18X18D" in verilog and "DP16KD" in verilog
    assert re.search(r"^\s*input entropy_raw_bit;", verilog, re.MULTILINE)
    # The port count does not grow with n or units: the top's ports are the AXI interfaces.
    top = verilog[verilog.index("module rosvd_core("):]
    top = top[:top.index("endmodule")]
    widths = re.findall(r"^\s*(?:input|output)\s+(?:\[(\d+):0\]\s+)?\S+;", top, re.MULTILINE)
    port_bits = sum(int(msb) + 1 if msb else 1 for msb in widths)
    assert 100 < port_bits <= ECP5_PACKAGE_IO, "the top could also meet the ECP5 on pins (--fmax-io pins)"


@pytest.fixture(scope="module")
def tiny_top():
    return top_resources(TINY, "xc7z020")


@pytest.mark.synth
def test_yosys_keeps_every_ring_inverter_and_the_dna_port(tiny_top):
    parts = tiny_top["components"]
    assert tiny_top["primitives"]["found"] == {"ring_oscillator_lut1": RINGS, "DNA_PORT": 1}
    assert parts["entropy"]["LUT_by_size"]["LUT1"] == RINGS
    assert parts["dna"]["DNA_by_type"] == {"DNA_PORT": 1}
    assert tiny_top["resources"]["DNA"] == 1
    assert tiny_top["resources"]["other_cells"] == {"BUFG": 1}, "every cell mapped, nothing unknown"


@pytest.mark.synth
def test_the_components_add_up_to_the_whole_top(tiny_top):
    whole, parts = tiny_top["resources"], tiny_top["components"]
    assert sorted(parts) == sorted([*COMPONENTS, REST])
    for key in ("LUT", "FF", "DSP", "BRAM", "URAM", "DNA"):
        assert whole[key] == sum(part[key] for part in parts.values()), key
    assert whole["LUTRAM"]["lut"] == sum(part["LUTRAM"]["lut"] for part in parts.values())
    assert parts["engine"]["DSP"] == whole["DSP"] > 0, "only the engine multiplies"
    for name, part in parts.items():
        assert part["LUT"] > 0 and part["FF"] > 0, name
    assert parts["entropy"]["FF"] > 8 * 32, "the FIFO of raw words and the counters"
    assert whole["LUT"] > parts["engine"]["LUT"] + parts["entropy"]["LUT"]


@pytest.mark.synth
@pytest.mark.slow
def test_the_ultrascale_top_keeps_its_dna_porte2():
    top = top_resources(TINY, "xck26")
    assert top["primitives"]["found"] == {"ring_oscillator_lut1": RINGS, "DNA_PORTE2": 1}
    assert top["resources"]["DSP_by_type"] == {"DSP48E2": top["resources"]["DSP"]}


@pytest.mark.synth
@pytest.mark.slow
def test_the_whole_top_places_and_routes_on_the_ecp5_stand_in():
    report = hw_report.hw_report(TINY, "xc7z020")
    timing = report["timing"]
    assert report["fmax_design"] == "top" and timing["io_mode"] == "scan"
    assert 0 < report["fmax_mhz_ecp5_standin"] < 1000 and report["fmax_mhz_xilinx"] is None
    assert timing["port_bits"] <= ECP5_PACKAGE_IO
    used = timing["ecp5_utilisation"]
    assert used["TRELLIS_IO"]["used"] == 4, "clock, scan_in, scan_load, scan_out"
    assert used["MULT18X18D"]["used"] > 0 and used["DP16KD"]["used"] > 0
    assert report["components"]["entropy"]["LUT"] > 0 and report["engine"]["DSP"] > 0


def test_the_resources_are_of_the_targets_build(monkeypatch):
    """What top_resources hands Yosys is the top elaborated for the target (rings, DNA
    port), with every component kept apart (the tools are replaced: no synthesis)."""
    seen = {}

    def resources(path, top, target, keep_hierarchy=()):
        seen.update(text=path.read_text(), top=top, keep=list(keep_hierarchy))
        raise RuntimeError("stop here")

    monkeypatch.setattr(hw_report.synth, "xilinx_resources", resources)
    with pytest.raises(RuntimeError, match="stop here"):
        top_resources(TINY, "xc7z020")
    assert seen["top"] == "rosvd_core"
    assert len(re.findall(r"^\s*LUT1 #\(", seen["text"], re.MULTILINE)) == RINGS
    assert re.search(r"^\s*DNA_PORT #\(", seen["text"], re.MULTILINE)
    kept = [name.split("$")[0] for name in seen["keep"]]
    assert kept == [f"rosvd_core.{sub}" for subs in COMPONENTS.values() for sub in subs]


def test_kept_modules_are_set_apart_before_flattening():
    script = xilinx_script("rosvd_core", "xc7", keep_hierarchy=["rosvd_core.engine", "rosvd_core.dna$155"])
    lines = script.splitlines()
    keep = lines.index("setattr -mod -set keep_hierarchy 1 rosvd_core.engine rosvd_core.dna$155")
    assert lines[keep - 1] == "hierarchy -top rosvd_core"
    assert lines[keep + 1] == "synth_xilinx -family xc7 -top rosvd_core -flatten -noiopad"
    assert "setattr" not in xilinx_script("rosvd_core", "xc7")
    with pytest.raises(ValueError, match="cannot be selected"):
        xilinx_script("rosvd_core", "xc7", keep_hierarchy=["rosvd_core.*"])
