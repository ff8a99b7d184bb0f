"""Products exported for the ECP5 stand-in keep their multipliers' registers.

Yosys maps an inferred ECP5 multiply without the MULT18X18D's registers, so a product
was a register, 3.9 ns of multiplier and a route in one fabric path. Exported with
``ExportPlatform("ecp5", MULT18X18D)``, the rotation-shaped harness (x' = k1 - k3 + half,
24-bit operands against 18-bit ones) instantiates its blocks with input and output
registers and must place and route at the engine's 150 MHz target, and faster than the
same harness with its multipliers inferred (the default platform).
"""
import pytest

from rosvd.bench.hw_report import ECP5_EXPORT
from rosvd.boards.synth import ecp5_fmax
from rosvd.sim.product_harness import ProductHarness
from rosvd.sim.verilog import export

TARGET_MHZ = 150.0


def place(platform, directory):
    verilog = export(ProductHarness(25, 18, constant=1 << 15, levels=2), "product", directory,
                     platform=platform)
    return verilog, ecp5_fmax(verilog, "product", io="scan", workdir=directory / "pnr", progress=False)


@pytest.mark.synth
def test_rotation_shaped_product_on_registered_ecp5_blocks_meets_the_target(tmp_path):
    verilog, registered = place(ECP5_EXPORT, tmp_path / "ecp5")
    assert verilog.read_text().count("MULT18X18D #(") == 4
    assert registered["ecp5_utilisation"]["MULT18X18D"]["used"] == 4
    assert registered["fmax_mhz"] >= TARGET_MHZ, registered["critical_path"]
    _, inferred = place(None, tmp_path / "inferred")
    print(f"ECP5 stand-in: registered {registered['fmax_mhz']} MHz, inferred {inferred['fmax_mhz']} MHz")
    assert inferred["fmax_mhz"] < registered["fmax_mhz"], inferred["critical_path"]
