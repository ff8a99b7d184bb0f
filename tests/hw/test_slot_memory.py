# amaranth: UnusedElaboratable=no
"""SlotMemory: read data MEM_READ_LATENCY cycles after its address; a read sees the
writes given MEM_WRITE_LATENCY + 1 or more cycles before it and no later one; the ECP5
form is one DP16KD with both output registers on."""
from __future__ import annotations

import random

import pytest
from amaranth.back import verilog
from amaranth.hdl import signed
from amaranth.sim import Simulator

from rosvd.bench.hw_report import ECP5_EXPORT as ECP5
from rosvd.hw.svd.platform import ExportPlatform
from rosvd.hw.svd.products import MULT18X18D
from rosvd.hw.svd.slot_memory import MEM_READ_LATENCY, MEM_WRITE_LATENCY, SlotMemory

CYCLES = 400


@pytest.mark.parametrize("seed", [1, 2])
def test_reads_and_writes_take_effect_at_their_latencies(seed):
    """Random writes (enable on half the cycles) and reads against a Python list: the
    data comes MEM_READ_LATENCY cycles after its address, holding every write given
    MEM_WRITE_LATENCY + 1 or more cycles before that address and none given later; the
    write enable is honoured."""
    width, depth = 24, 64
    dut = SlotMemory(signed(width), depth)
    rng = random.Random(seed)
    low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
    ops = [(rng.randrange(depth), rng.randint(low, high), rng.random() < 0.5, rng.randrange(depth))
           for _ in range(CYCLES)]
    # A small address range for a while makes reads of just-written words common.
    ops[100:200] = [(rng.randrange(2), value, en, rng.randrange(2)) for _, value, en, _ in ops[100:200]]
    mismatches = []

    async def testbench(ctx):
        words = [0] * depth
        expected = []                      # expected[t]: data for the address given in cycle t
        for cycle, (waddr, wdata, wen, raddr) in enumerate(ops):
            ctx.set(dut.write_addr, waddr)
            ctx.set(dut.write_data, wdata)
            ctx.set(dut.write_en, wen)
            ctx.set(dut.read_addr, raddr)
            visible = cycle - MEM_WRITE_LATENCY - 1
            if visible >= 0 and ops[visible][2]:
                words[ops[visible][0]] = ops[visible][1]
            expected.append(words[raddr])
            if cycle >= MEM_READ_LATENCY:
                got = ctx.get(dut.read_data)
                if got != expected[cycle - MEM_READ_LATENCY]:
                    mismatches.append((cycle, got, expected[cycle - MEM_READ_LATENCY]))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert not mismatches, f"{len(mismatches)} reads differ, first (cycle, got, expected): {mismatches[0]}"


def test_ecp5_form_is_one_dp16kd_with_both_output_registers():
    text = verilog.convert(SlotMemory(signed(24), 64), name="slot", platform=ECP5)
    assert text.count("DP16KD #(") == 1
    assert ".REGMODE_A(\"OUTREG\")" in text and ".REGMODE_B(\"OUTREG\")" in text
    assert ".DATA_WIDTH_A(32'd36)" in text and ".DATA_WIDTH_B(32'd36)" in text


def test_a_memory_larger_than_one_dp16kd_is_refused():
    with pytest.raises(ValueError, match="does not fit one DP16KD"):
        verilog.convert(SlotMemory(signed(40), 64), name="slot", platform=ECP5)
    with pytest.raises(ValueError, match="does not fit one DP16KD"):
        verilog.convert(SlotMemory(signed(18), 1024), name="slot", platform=ECP5)


def test_an_unknown_ram_block_is_refused():
    with pytest.raises(ValueError, match="no mapping for RAM block"):
        verilog.convert(SlotMemory(signed(8), 16), name="slot",
                        platform=ExportPlatform("other", MULT18X18D, "RAMB18E1"))
