"""RegisterFile (the decode generated from a map) in Amaranth's simulator, on a small map."""
from __future__ import annotations

import pytest
from amaranth.sim import Simulator

from rosvd.hw.top.register_file import RegisterFile
from rosvd.hw.top.register_map import Field, Kind, Register, RegisterMap, Window
from rosvd.sim.axi_pysim import port_read, port_write

MAP = RegisterMap(
    registers=(
        Register("ID", 0x0, "id", (Field("id", 0, 32, Kind.CONST, "id", value=0x1234_5678),)),
        Register("CONF", 0x4, "config", (Field("a", 0, 4, Kind.CONST, "a", value="a"),
                                          Field("b", 8, 8, Kind.CONST, "b", value="b"))),
        Register("CTRL", 0x8, "control", (Field("go", 0, 1, Kind.PULSE, "go"),
                                           Field("mode", 4, 4, Kind.RW, "mode", reset=5),
                                           Field("wide", 8, 16, Kind.RW, "wide"))),
        Register("STAT", 0xC, "status", (Field("x", 0, 3, Kind.STATUS, "x"),
                                          Field("y", 31, 1, Kind.STATUS, "y"))),
        Register("FLAGS", 0x10, "flags", (Field("e", 0, 2, Kind.W1C, "e"),)),
        Register("WIN_A", 0x20, "window", (Field("value", 0, 32, Kind.STATUS, "v"),),
                 window="win", window_index=3),
    ),
    windows=(Window("win", 0x20, 4, "a window"),),
)
CONSTANTS = {("ID", "id"): 0x1234_5678, ("CONF", "a"): 9, ("CONF", "b"): 0xAB}


def run(body):
    dut = RegisterFile(MAP, 6, CONSTANTS)
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def window(ctx):       # answers a window read one cycle later, as EntropyRegisters does
        async for _, _, stb, addr in ctx.tick().sample(dut.win.r_stb, dut.win.addr):
            if stb:
                ctx.set(dut.win.r_data, 0xC0DE_0000 | addr)

    async def testbench(ctx):
        await body(ctx, dut)

    sim.add_process(window)
    sim.add_testbench(testbench)
    sim.run()


def test_reads_of_every_kind():
    async def body(ctx, dut):
        ctx.set(dut.stat_x, 6)
        ctx.set(dut.stat_y, 1)
        ctx.set(dut.flags_e, 2)
        assert await port_read(ctx, dut.bus, 0) == (0x1234_5678, 0)
        assert await port_read(ctx, dut.bus, 1) == (9 | 0xAB << 8, 0)
        assert await port_read(ctx, dut.bus, 2) == (5 << 4, 0)           # rw reset; pulse reads 0
        assert await port_read(ctx, dut.bus, 3) == (6 | 1 << 31, 0)
        assert await port_read(ctx, dut.bus, 4) == (2, 0)
        assert await port_read(ctx, dut.bus, 8) == (0xC0DE_0003, 0)      # forwarded, its own index
        data, err = await port_read(ctx, dut.bus, 7)
        assert (data, err, ctx.get(dut.bad_address)) == (0, 1, 1)
        await ctx.tick()
        assert ctx.get(dut.bad_address) == 0                            # a one-cycle pulse

    run(body)


def test_writes_strobes_pulses_and_clears():
    async def body(ctx, dut):
        assert await port_write(ctx, dut.bus, 2, 0x00AB_CD71) == 0
        assert (ctx.get(dut.ctrl_go), ctx.get(dut.ctrl_mode), ctx.get(dut.ctrl_wide)) == (1, 7, 0xABCD)
        await ctx.tick()
        assert ctx.get(dut.ctrl_go) == 0
        # Byte 1 only: wide's low byte changes, mode and go are untouched (go does not fire).
        assert await port_write(ctx, dut.bus, 2, 0xFFFF_FF01, strb=0b0010) == 0
        assert (ctx.get(dut.ctrl_go), ctx.get(dut.ctrl_mode), ctx.get(dut.ctrl_wide)) == (0, 7, 0xABFF)
        assert await port_write(ctx, dut.bus, 4, 0b10) == 0
        assert ctx.get(dut.flags_e_clear) == 0b10
        await ctx.tick()
        assert ctx.get(dut.flags_e_clear) == 0

    run(body)


@pytest.mark.parametrize("index, flag", [(0, "refused_write"), (1, "refused_write"), (3, "refused_write"),
                                         (8, "refused_write"), (7, "bad_address"), (63, "bad_address")])
def test_refused_writes_change_nothing(index, flag):
    async def body(ctx, dut):
        assert await port_write(ctx, dut.bus, index, 0xFFFF_FFFF) == 1
        assert ctx.get(getattr(dut, flag)) == 1
        assert ctx.get(dut.ctrl_go) == 0
        assert await port_read(ctx, dut.bus, 2) == (5 << 4, 0)

    run(body)


def test_constants_are_checked():
    with pytest.raises(ValueError, match=r"CONF.a: 16 does not fit 4 bits; CONF.b: no value"):
        RegisterFile(MAP, 6, {("ID", "id"): 1, ("CONF", "a"): 16})
    with pytest.raises(ValueError, match="addr_width 3 cannot reach word 8"):
        RegisterFile(MAP, 3, CONSTANTS)
