"""cocotb testbench of the entropy source (top ``rosvd_entropy``): replays raw-bit sequences.

Run through :func:`rosvd.sim.entropy_rtl.rtl_replay` (``run_cocotb`` with
``test_module="rosvd.sim.entropy_tb"``). Environment:

=========================  ===============================================================
``ROSVD_TB_PARAMS``        JSON of the :class:`EntropyParams` fields the design was built with
``ROSVD_ENTROPY_IN``       ``.npz``: per sequence ``<name>`` the raw bits (uint8, one per
                           cycle), optional ``<name>.ready`` (uint8 per cycle) and
                           ``<name>.reset`` (cycle indices with ``host_reset`` high),
                           ``<name>.hold`` (uint8 per cycle, ``entropy_registers`` only)
``ROSVD_ENTROPY_OUT``      JSON written by the testcase: one record per sequence
=========================  ===============================================================

Testcase ``entropy_registers`` (top ``rosvd_entropy_regs``, ``EntropyRegisters``): see
:func:`register_replay`; ``ROSVD_ENTROPY_REGS`` holds the register index map as JSON.

Testcase ``entropy_replay``: for each sequence, a domain reset, then one bit per cycle on
``raw_bit``. Each cycle the inputs are set, the outputs are read in the read-only phase
(what the coming clock edge sees) and the edge is awaited. Recorded per sequence: the
words transferred and their cycles, the cycle whose sample raised each alarm flag and
completed the start-up test, the cycles with ``words.valid`` high while an alarm was
latched, and the final counters and flags. Checking is left to the caller (it holds the
model), so one run serves tests and reports.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

CLOCK_NS = 10
IN_ENV = "ROSVD_ENTROPY_IN"
OUT_ENV = "ROSVD_ENTROPY_OUT"
COUNTERS = ("samples", "words_out", "dropped", "alarm_sample", "max_run", "max_window",
            "alarm_rct", "alarm_apt", "startup_done", "healthy", "simulated")


async def replay(dut, bits: np.ndarray, ready: np.ndarray | None, resets: set[int]) -> dict:
    dut.host_reset.value = 0
    dut.words__ready.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    record = {"words": [], "word_cycles": [], "rct_cycle": None, "apt_cycle": None,
              "startup_cycle": None, "valid_while_alarm": 0}
    raw_bit, host_reset, words_ready = dut.raw_bit, dut.host_reset, dut.words__ready
    valid, payload = dut.words__valid, dut.words__payload
    alarm_rct, alarm_apt, startup_done = dut.alarm_rct, dut.alarm_apt, dut.startup_done
    ready_list = ready.tolist() if ready is not None else None
    rct_seen = apt_seen = started = False
    started_at = time.monotonic()
    for cycle, bit in enumerate(bits.tolist()):
        raw_bit.value = bit
        if ready_list is not None:
            words_ready.value = ready_list[cycle]
        host_reset.value = 1 if cycle in resets else 0
        await ReadOnly()
        # State flags are registered: seen here, they were raised by the previous sample.
        if not rct_seen and alarm_rct.value:
            rct_seen, record["rct_cycle"] = True, cycle - 1
        if not apt_seen and alarm_apt.value:
            apt_seen, record["apt_cycle"] = True, cycle - 1
        if not started and startup_done.value:
            started, record["startup_cycle"] = True, cycle - 1
        if valid.value:
            if rct_seen and alarm_rct.value or apt_seen and alarm_apt.value:
                record["valid_while_alarm"] += 1
            if ready_list is None or ready_list[cycle]:
                record["words"].append(int(payload.value))
                record["word_cycles"].append(cycle)
        await RisingEdge(dut.clk)
    await ReadOnly()
    # Flags raised by the last sample.
    if not rct_seen and alarm_rct.value:
        record["rct_cycle"] = len(bits) - 1
    if not apt_seen and alarm_apt.value:
        record["apt_cycle"] = len(bits) - 1
    record["final"] = {name: int(getattr(dut, name).value) for name in COUNTERS}
    record["seconds"] = time.monotonic() - started_at
    await RisingEdge(dut.clk)
    return record


@cocotb.test()
async def entropy_replay(dut):
    sequences = np.load(os.environ[IN_ENV])
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    names = [n for n in sequences.files if "." not in n]
    out = {}
    for name in names:
        ready = sequences[f"{name}.ready"] if f"{name}.ready" in sequences.files else None
        resets = set(sequences[f"{name}.reset"].tolist()) if f"{name}.reset" in sequences.files else set()
        out[name] = await replay(dut, sequences[name], ready, resets)
        dut._log.info(f"{name}: {len(sequences[name])} samples in {out[name]['seconds']:.1f} s")
    Path(os.environ[OUT_ENV]).write_text(json.dumps(out))


#: Register word indices polled in turn by ``entropy_registers`` (see rosvd.hw.entropy.registers).
POLL = ("STATUS", "DATA", "UNDERFLOWS")


async def register_replay(dut, bits: np.ndarray, resets: set[int], index: dict,
                          hold: np.ndarray | None = None) -> dict:
    """Drive ``EntropyRegisters``: bits on ``raw_bit``; each cycle one read in the order of
    :data:`POLL` (a CONTROL write of host_reset instead in the cycles of ``resets``;
    STATUS instead of DATA in cycles where ``hold`` is 1, so the FIFO fills).
    Records ``[cycle issued, register, value]`` for every read (the value is on
    ``r_data`` in the following cycle)."""
    dut.r_stb.value = 0
    dut.w_stb.value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    reads, issued = [], None
    hold_list = hold.tolist() if hold is not None else None
    started_at = time.monotonic()
    for cycle, bit in enumerate(bits.tolist()):
        dut.raw_bit.value = bit
        previous = issued
        if cycle in resets:
            dut.r_stb.value, dut.w_stb.value = 0, 1
            dut.addr.value, dut.w_data.value = index["CONTROL"], 1
            issued = None
        else:
            name = POLL[cycle % len(POLL)]
            if name == "DATA" and hold_list is not None and hold_list[cycle]:
                name = "STATUS"
            dut.r_stb.value, dut.w_stb.value = 1, 0
            dut.addr.value = index[name]
            issued = (cycle, name)
        await ReadOnly()
        if previous is not None:
            reads.append([previous[0], previous[1], int(dut.r_data.value)])
        await RisingEdge(dut.clk)
    await ReadOnly()
    if issued is not None:
        reads.append([issued[0], issued[1], int(dut.r_data.value)])
    await RisingEdge(dut.clk)
    dut.r_stb.value = 0
    dut.w_stb.value = 0
    return {"reads": reads, "seconds": time.monotonic() - started_at}


@cocotb.test()
async def entropy_registers(dut):
    sequences = np.load(os.environ[IN_ENV])
    index = json.loads(os.environ["ROSVD_ENTROPY_REGS"])
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    out = {}
    for name in [n for n in sequences.files if "." not in n]:
        resets = set(sequences[f"{name}.reset"].tolist()) if f"{name}.reset" in sequences.files else set()
        hold = sequences[f"{name}.hold"] if f"{name}.hold" in sequences.files else None
        out[name] = await register_replay(dut, sequences[name], resets, index, hold)
    Path(os.environ[OUT_ENV]).write_text(json.dumps(out))
