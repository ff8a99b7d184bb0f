"""Products exported for the ECP5 stand-in keep their multipliers' registers.

Yosys maps an inferred ECP5 multiply without the MULT18X18D's registers, so a product
was a register, 3.9 ns of multiplier and a route in one fabric path. Exported with
``ExportPlatform("ecp5", MULT18X18D)``, the rotation-shaped harness (x' = k1 - k3 + half,
24-bit operands against 18-bit ones) instantiates its blocks with input and output
registers and must place and route at the engine's 150 MHz target.
"""
import pytest

from rosvd.bench.hw_report import ECP5_EXPORT
from rosvd.boards.synth import ecp5_fmax
from rosvd.sim.product_harness import ProductHarness
from rosvd.sim.verilog import export

TARGET_MHZ = 150.0


@pytest.mark.synth
def test_rotation_shaped_product_on_registered_ecp5_blocks_meets_the_target(tmp_path):
    harness = ProductHarness(25, 18, constant=1 << 15, levels=2)
    verilog = export(harness, "product", tmp_path, platform=ECP5_EXPORT)
    assert verilog.read_text().count("MULT18X18D #(") == 4
    result = ecp5_fmax(verilog, "product", io="scan", workdir=tmp_path / "pnr", progress=False)
    assert result["ecp5_utilisation"]["MULT18X18D"]["used"] == 4
    assert result["fmax_mhz"] >= TARGET_MHZ, result["critical_path"]
