"""AxiLiteSlave in Amaranth's simulator against a behavioural register port."""
from __future__ import annotations

import pytest
from amaranth.sim import Simulator

from rosvd.hw.top.axi_lite import RESP_OKAY, RESP_SLVERR, AxiLiteSlave
from rosvd.sim.axi_pysim import axil_read, axil_write

ADDR_WIDTH = 8
#: Words the fake port holds; word READ_ONLY refuses writes; others are unmapped.
WORDS = 4
READ_ONLY = 3


def run(body, *, extra=()):
    """Run ``body(ctx, dut, log)`` against a port that answers as the register port does."""
    dut = AxiLiteSlave(ADDR_WIDTH)
    regs = dut.regs
    memory = {i: 0x1000 + i for i in range(WORDS)}
    log = []

    async def responder(ctx):
        async for _, _, r_stb, w_stb, addr, data, strb in ctx.tick().sample(
                regs.r_stb, regs.w_stb, regs.addr, regs.w_data, regs.w_strb):
            assert not (r_stb and w_stb)
            if r_stb:
                log.append(("r", addr))
                ctx.set(regs.r_data, memory.get(addr, 0))
                ctx.set(regs.r_err, addr not in memory)
            if w_stb:
                log.append(("w", addr, data, strb))
                refused = addr not in memory or addr == READ_ONLY
                ctx.set(regs.w_err, refused)
                if not refused:
                    mask = sum(0xFF << 8 * i for i in range(4) if strb >> i & 1)
                    memory[addr] = memory[addr] & ~mask | data & mask

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(responder)
    for each in (body, *extra):
        async def testbench(ctx, each=each):
            await each(ctx, dut.bus, log)
        sim.add_testbench(testbench)
    sim.run()
    return memory, log


@pytest.mark.parametrize("aw_delay, w_delay", [(0, 0), (0, 3), (3, 0), (1, 5)],
                         ids=["together", "aw-first", "w-first", "w-late"])
def test_write_then_read_in_any_channel_order(aw_delay, w_delay):
    async def body(ctx, bus, log):
        assert await axil_write(ctx, bus, 4 * 1, 0xDEAD_BEEF, aw_delay=aw_delay, w_delay=w_delay) == RESP_OKAY
        assert await axil_read(ctx, bus, 4 * 1) == (0xDEAD_BEEF, RESP_OKAY)

    memory, log = run(body)
    assert log == [("w", 1, 0xDEAD_BEEF, 0xF), ("r", 1)]


def test_strobes_low_address_bits_and_backpressure():
    async def body(ctx, bus, log):
        assert await axil_write(ctx, bus, 4 * 2 + 3, 0xAABB_CCDD, strb=0b0101, b_delay=4) == RESP_OKAY
        expected = 0x00BB_00DD | 0x1002 & 0xFF00_FF00
        assert await axil_read(ctx, bus, 4 * 2 + 1, r_delay=6) == (expected, RESP_OKAY)

    run(body)


def test_errors_answer_slverr():
    async def body(ctx, bus, log):
        assert await axil_write(ctx, bus, 4 * READ_ONLY, 1) == RESP_SLVERR
        assert await axil_write(ctx, bus, 4 * 9, 1) == RESP_SLVERR
        assert (await axil_read(ctx, bus, 4 * 9))[1] == RESP_SLVERR
        assert await axil_read(ctx, bus, 4 * READ_ONLY) == (0x1000 + READ_ONLY, RESP_OKAY)

    memory, _ = run(body)
    assert memory[READ_ONLY] == 0x1000 + READ_ONLY


def test_one_transaction_at_a_time_and_reads_and_writes_alternate():
    """A writer and a reader offer at once: strobes alternate, and while a response
    waits (BREADY/RREADY held off) no other address is accepted."""
    rounds = 4
    busy_accepts = []

    async def writer(ctx, bus, log):
        for i in range(rounds):
            assert await axil_write(ctx, bus, 0, i, b_delay=3) == RESP_OKAY

    async def reader(ctx, bus, log):
        for _ in range(rounds):
            assert (await axil_read(ctx, bus, 4, r_delay=3))[1] == RESP_OKAY

    async def watcher(ctx, bus, log):
        for _ in range(150):
            if ctx.get(bus.bvalid) or ctx.get(bus.rvalid):
                if ctx.get(bus.arready) or ctx.get(bus.awready) or ctx.get(bus.wready):
                    busy_accepts.append(ctx.get(bus.bvalid))
            await ctx.tick()

    _, log = run(writer, extra=(reader, watcher))
    kinds = [entry[0] for entry in log]
    assert sorted(kinds) == ["r"] * rounds + ["w"] * rounds
    assert all(a != b for a, b in zip(kinds, kinds[1:], strict=False)), kinds
    assert busy_accepts == []
