"""DnaReader with the simulation stand-in of both primitives; platform selection."""
from __future__ import annotations

import pytest
from amaranth.sim import Simulator

from rosvd.hw.top import dna as D


@pytest.mark.parametrize("primitive, value", [(D.DNA_PORT, D.SIMULATED_DNA_VALUE),
                                              (D.DNA_PORTE2, (1 << 95) | 0xA5A5_1234_5678_9ABC_DEF0_0003)],
                         ids=["DNA_PORT", "DNA_PORTE2"])
def test_reader_returns_the_identifier_once(primitive, value):
    dut = D.DnaReader(primitive, value)
    result = {}

    async def testbench(ctx):
        limit = (primitive.width + 4) * D.DNA_CLOCK_DIVIDER
        for cycle in range(limit):
            if ctx.get(dut.valid):
                result["cycle"] = cycle
                break
            assert ctx.get(dut.dna) == ctx.get(dut.dna) and cycle < limit
            await ctx.tick()
        result["dna"] = ctx.get(dut.dna)
        await ctx.tick().repeat(5 * D.DNA_CLOCK_DIVIDER)
        result["later"] = (ctx.get(dut.dna), ctx.get(dut.valid))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert "cycle" in result, "valid never rose"
    assert result["dna"] == value
    assert result["later"] == (value, 1)


def test_stand_in_refuses_a_value_wider_than_its_primitive():
    with pytest.raises(ValueError, match="does not fit 57 bits"):
        D.SimulatedDnaPort(D.DNA_PORT, 1 << 57)


def test_platform_selects_the_primitive():
    from amaranth.vendor import XilinxPlatform

    def board(device, package):
        return type("Board", (XilinxPlatform,), {"device": device, "package": package, "speed": "1",
                                                 "resources": [], "connectors": []})()

    assert D.dna_primitive(None) is None
    assert D.dna_primitive(board("xc7z020", "clg400")) is D.DNA_PORT
    assert D.dna_primitive(board("xck26", "sfvc784")) is D.DNA_PORTE2
    reader = D.DnaReader()
    stand_in = reader.port_for(None)
    stand_in._MustUse__silence = True
    assert isinstance(stand_in, D.SimulatedDnaPort)
    port = reader.port_for(board("xc7z020", "clg400"))
    assert isinstance(port, D.XilinxDnaPort) and port.primitive is D.DNA_PORT
    reader._MustUse__silence = True
    port._MustUse__silence = True
