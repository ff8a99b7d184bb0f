"""cocotb testbench of RosvdCore (top ``rosvd_core``), driven by cocotbext-axi.

Run through :func:`rosvd.sim.core_rtl.run_core` (see ``tests/hw/top/test_core_rtl.py``);
``ROSVD_TB_PARAMS`` carries the :class:`~rosvd.hw.top.core.CoreParams` the design was
built with, ``ROSVD_TB_SEED`` the seed of matrices and stall patterns (default 1).

Bus models: ``AxiLiteMaster`` on ``s_axi_*``, ``AxiStreamSource`` on ``s_axis_*`` and
``AxiStreamSink`` on ``m_axis_*`` (one 32-bit word per beat), ``aresetn`` active low.
Registers are addressed by name through :data:`rosvd.hw.top.register_map.REGISTER_MAP`,
never by a literal offset; results are compared with :func:`rosvd.hw.svd.model.decompose`.
"""
from __future__ import annotations

import itertools
import os
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiResp, AxiStreamBus, AxiStreamSink, AxiStreamSource

from rosvd.hw.svd.engine import SVDEngine
from rosvd.hw.svd.model import decompose
from rosvd.hw.top.axi_stream import AXIS_DATA_WIDTH, elements_per_word
from rosvd.hw.top.core import M_AXIS, S_AXI, S_AXI_ADDR_WIDTH, S_AXIS, config_source
from rosvd.hw.top.register_map import EMPTY_READ_VALUE, ID_VALUE, REGISTER_MAP, VERSION_MAJOR, resolve
from rosvd.sim.core_rtl import params_from_dict
from rosvd.sim.noisy_core import seed_state
from rosvd.sim.runner import tb_params
from rosvd.sim.svd_cases import random_matrices

CLOCK_NS = 10
SEED_ENV = "ROSVD_TB_SEED"
#: Matrices per stall pattern in ``core_decompose``, sent back to back.
MATRICES = 2
#: Idle (source) and backpressure (sink) patterns ``core_decompose`` runs its one body under.
PATTERNS = [("none", "none"), ("random", "random"), ("burst", "none"), ("none", "burst")]
WORD_MASK = (1 << AXIS_DATA_WIDTH) - 1


def pattern(kind: str, seed: int):
    """A cocotbext-axi pause generator (True pauses that cycle), or None for full rate."""
    rng = random.Random(seed)
    if kind == "none":
        return None
    if kind == "random":
        return (rng.random() < 0.3 for _ in itertools.count())
    if kind == "burst":
        runs = ((rng.random() < 0.5, rng.randint(1, 24)) for _ in itertools.count())
        return itertools.chain.from_iterable(itertools.repeat(stall, n) for stall, n in runs)
    raise ValueError(f"unknown pattern {kind!r}")


def to_signed(word: int) -> int:
    return word - (1 << AXIS_DATA_WIDTH) if word >> (AXIS_DATA_WIDTH - 1) else word


class CoreTB:
    def __init__(self, dut):
        self.dut = dut
        self.params = params_from_dict(tb_params())
        self.seed = int(os.environ.get(SEED_ENV, 1))
        cocotb.start_soon(Clock(dut.aclk, CLOCK_NS, unit="ns").start())
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, S_AXI), dut.aclk, dut.aresetn,
                                  reset_active_level=False)
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, S_AXIS), dut.aclk, dut.aresetn,
                                      reset_active_level=False, byte_size=AXIS_DATA_WIDTH)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, M_AXIS), dut.aclk, dut.aresetn,
                                  reset_active_level=False, byte_size=AXIS_DATA_WIDTH)
        self.engine = SVDEngine(self.params.svd)
        self.engine._MustUse__silence = True          # used for its cycle estimate only

    async def reset(self):
        """Power-on: the entropy input stuck at 0 (no noise until ``drive_noise``), then aresetn."""
        self.hold_noise(0)
        self.dut.noise_load.value = 0
        await self.pulse_aresetn()

    async def pulse_aresetn(self):
        """aresetn low for a few cycles (mid-operation too: the bus models drop their queues)."""
        self.dut.aresetn.value = 0
        await ClockCycles(self.dut.aclk, 4)
        self.dut.aresetn.value = 1
        await RisingEdge(self.dut.aclk)

    async def read(self, name: str) -> tuple[int, AxiResp]:
        answer = await self.axil.read(REGISTER_MAP.offset(name), 4)
        return int.from_bytes(answer.data, "little"), answer.resp

    async def value(self, name: str) -> int:
        value, resp = await self.read(name)
        assert resp == AxiResp.OKAY, f"read {name}: {resp}"
        return value

    async def fields(self, name: str) -> dict[str, int]:
        return REGISTER_MAP.decode(name, await self.value(name))

    async def write(self, name_or_offset, value: int) -> AxiResp:
        offset = REGISTER_MAP.offset(name_or_offset) if isinstance(name_or_offset, str) else name_or_offset
        return (await self.axil.write(offset, (value & WORD_MASK).to_bytes(4, "little"))).resp

    def pack(self, matrix: np.ndarray) -> list[int]:
        """s_axis words of one matrix (the host's packing)."""
        lanes, width = elements_per_word(self.params.svd), self.params.svd.data_width
        flat = [int(v) & ((1 << width) - 1) for v in matrix.ravel()]
        return [sum(v << (i * width) for i, v in enumerate(flat[start:start + lanes]))
                for start in range(0, len(flat), lanes)]

    def drive_noise(self, seed: int):
        """Healthy-looking bits on the entropy input from now on: the design's generator
        (:class:`~rosvd.sim.noisy_core.NoisyCore`) reseeded with ``seed``, one bit a cycle."""
        self.dut.noise_seed.value = seed_state(seed * 0x9E37_79B9 + 1)
        self.dut.noise_load.value = 1
        self.dut.noise_hold.value = 0

        async def lower():
            await RisingEdge(self.dut.aclk)
            self.dut.noise_load.value = 0

        cocotb.start_soon(lower())

    def hold_noise(self, value: int):
        """The entropy input stuck at ``value`` from the next cycle on (a failed source)."""
        self.dut.noise_value.value = value
        self.dut.noise_hold.value = 1

    def budget_ns(self, matrices: int) -> int:
        per_matrix = 3 * (self.engine.cycle_estimate() + 2 * self.params.svd.output_words) + 2000
        return per_matrix * matrices * CLOCK_NS


@cocotb.test()
@cocotb.parametrize((("idle", "backpressure"), PATTERNS))
async def core_decompose(dut, idle: str, backpressure: str):
    """Matrices through the streams, bit-exact with the model; CYCLES, SWEEPS_RUN, the done
    interrupt and its clearing; the same body under each idle/backpressure pattern."""
    tb = CoreTB(dut)
    p = tb.params.svd
    await tb.reset()
    seed = tb.seed * 101 + PATTERNS.index((idle, backpressure))
    tb.source.set_pause_generator(pattern(idle, seed))
    tb.sink.set_pause_generator(pattern(backpressure, seed + 1))
    matrices = random_matrices(p, MATRICES, seed)
    model = decompose(p, matrices)
    assert await tb.write("CONTROL", REGISTER_MAP.encode("CONTROL", irq_done_enable=1)) == AxiResp.OKAY
    assert dut.interrupt.value == 0

    async def body():
        for matrix in matrices:
            await tb.source.send(tb.pack(matrix))
        for i in range(MATRICES):
            frame = await tb.sink.recv()
            got = [to_signed(w) for w in frame.tdata]
            assert len(got) == p.output_words, f"matrix {i}: TLAST after {len(got)} words"
            differ = [j for j, (a, b) in enumerate(zip(got, model.words(i), strict=True)) if a != b]
            assert not differ, f"matrix {i}: {len(differ)} words differ, first {differ[0]}"
        await ClockCycles(dut.aclk, 4)

    await with_timeout(body(), tb.budget_ns(MATRICES), "ns")
    status = await tb.fields("STATUS")
    assert status["done"] and not status["busy"], status
    assert (await tb.fields("IRQ_STATUS"))["done"] == 1
    assert dut.interrupt.value == 1 and status["interrupt"] == 1
    sweeps = int(model.sweeps_run[-1])
    assert await tb.value("SWEEPS_RUN") == sweeps
    assert await tb.value("CYCLES") >= tb.engine.cycle_estimate(sweeps)
    # Write 1 to clear: the interrupt falls.
    assert await tb.write("IRQ_STATUS", REGISTER_MAP.encode("IRQ_STATUS", done=1)) == AxiResp.OKAY
    await ClockCycles(dut.aclk, 3)
    assert dut.interrupt.value == 0 and (await tb.fields("IRQ_STATUS"))["done"] == 0
    assert (await tb.fields("ERRORS")) == dict.fromkeys(REGISTER_MAP.decode("ERRORS", 0), 0)
    if (idle, backpressure) == ("none", "none"):
        # One matrix alone at full rate on both streams: CYCLES is the engine's own
        # stall-free latency, exactly (back to back, the next matrix's first element
        # may enter the engine's input register early, and is timed from there).
        alone = random_matrices(p, 1, seed + 7)
        await tb.source.send(tb.pack(alone[0]))
        frame = await with_timeout(tb.sink.recv(), tb.budget_ns(1), "ns")
        assert [to_signed(w) for w in frame.tdata] == decompose(p, alone).words(0)
        sweeps = int(decompose(p, alone).sweeps_run[0])
        cycles = await tb.value("CYCLES")
        assert cycles == tb.engine.cycle_estimate(sweeps), (cycles, tb.engine.cycle_estimate(sweeps))


@cocotb.test()
async def core_registers(dut):
    """ID, VERSION, CONFIG = the parameters, DEVICE_DNA; SLVERR on an illegal address and on
    a write to a read-only register, each flagged; write-1-to-clear."""
    tb = CoreTB(dut)
    await tb.reset()
    assert await tb.value("ID") == ID_VALUE
    assert (await tb.fields("VERSION"))["major"] == VERSION_MAJOR
    source = config_source(tb.params)
    words = {reg.name: await tb.value(reg.name) for reg in REGISTER_MAP if reg.name.startswith("CONFIG")}
    decoded = REGISTER_MAP.decode_config(words)
    assert decoded == {path: resolve(path, source) for path in decoded}
    assert decoded["svd.n"] == tb.params.svd.n
    assert decoded["elements_per_word"] == elements_per_word(tb.params.svd)

    # Device DNA: the stand-in's parameter value.
    status = await tb.fields("STATUS")
    while not status["dna_valid"]:
        await ClockCycles(dut.aclk, 50)
        status = await tb.fields("STATUS")
    dna = 0
    for i in range(3):
        dna |= await tb.value(f"DEVICE_DNA{i}") << 32 * i
    assert dna == tb.params.dna_value
    assert REGISTER_MAP.decode("CONFIG_DNA", words["CONFIG_DNA"]) == {"bits": 57, "simulated": 1}

    # Illegal addresses: past the map, in a hole, the entropy window's CONTROL.
    holes = [REGISTER_MAP.span, REGISTER_MAP.offset("CONTROL") - 4, REGISTER_MAP.offset("ENTROPY_STATUS") + 4,
             (1 << S_AXI_ADDR_WIDTH) - 4]
    for offset in holes:
        answer = await tb.axil.read(offset, 4)
        assert answer.resp == AxiResp.SLVERR, f"read {offset:#x}: {answer.resp}"
        assert await tb.write(offset, 0xFFFF_FFFF) == AxiResp.SLVERR, f"write {offset:#x}"
    errors = await tb.fields("ERRORS")
    assert errors["bad_address"] == 1 and errors["read_only_write"] == 0, errors

    # Writes to read-only registers: refused and flagged, the value unchanged.
    for name in ("ID", "CONFIG_SVD0", "STATUS", "CYCLES", "DEVICE_DNA0", "ENTROPY_DATA"):
        before = await tb.value(name) if name not in ("STATUS", "ENTROPY_DATA") else None
        assert await tb.write(name, 0x5A5A_5A5A) == AxiResp.SLVERR, name
        if before is not None:
            assert await tb.value(name) == before, name
    assert (await tb.fields("ERRORS"))["read_only_write"] == 1
    assert (await tb.fields("STATUS"))["error"] == 1
    clear = REGISTER_MAP.encode("ERRORS", read_only_write=1, bad_address=1)
    assert await tb.write("ERRORS", clear) == AxiResp.OKAY
    assert (await tb.fields("ERRORS")) == dict.fromkeys(REGISTER_MAP.decode("ERRORS", 0), 0)
    assert (await tb.fields("STATUS"))["error"] == 0



@cocotb.test()
async def core_entropy(dut):
    """An empty ENTROPY_DATA read: the documented value and a sticky error; words once the
    source is healthy; a stuck input raises the alarm interrupt; alarm_clear clears it."""
    tb = CoreTB(dut)
    await tb.reset()
    tb.drive_noise(tb.seed)
    assert (await tb.fields("STATUS"))["simulated"] == 1
    # Start-up is under way: the FIFO is empty.
    value, resp = await tb.read("ENTROPY_DATA")
    assert (value, resp) == (EMPTY_READ_VALUE, AxiResp.OKAY)
    assert (await tb.fields("ERRORS"))["empty_read"] == 1
    assert REGISTER_MAP.decode("ENTROPY_STATUS", await tb.value("ENTROPY_STATUS"))["underflow"] == 1
    assert await tb.value("ENTROPY_UNDERFLOWS") == 1
    assert await tb.write("ERRORS", REGISTER_MAP.encode("ERRORS", empty_read=1)) == AxiResp.OKAY

    # Healthy: words arrive; reading one is not an error.
    e = tb.params.entropy
    await ClockCycles(dut.aclk, e.startup_samples * e.sample_period + 3 * 32 * e.sample_period)
    status = await tb.fields("STATUS")
    assert status["entropy_healthy"] and status["entropy_ready"], status
    level = await tb.value("ENTROPY_FIFO_LEVEL")
    assert level >= 1
    await tb.value("ENTROPY_DATA")
    assert (await tb.fields("ERRORS"))["empty_read"] == 0

    # A stuck source: the repetition count test alarms, the interrupt rises.
    assert await tb.write("CONTROL", REGISTER_MAP.encode("CONTROL", irq_alarm_enable=1)) == AxiResp.OKAY
    assert dut.interrupt.value == 0
    tb.hold_noise(0)
    await with_timeout(RisingEdge(dut.interrupt), (e.rct_cutoff + 50) * e.sample_period * CLOCK_NS, "ns")
    status = await tb.fields("STATUS")
    assert status["alarm_rct"] and not status["entropy_healthy"] and not status["entropy_ready"], status
    assert (await tb.fields("IRQ_STATUS"))["alarm"] == 1
    assert (await tb.read("ENTROPY_DATA"))[0] == EMPTY_READ_VALUE          # fail-closed
    # alarm_clear (the source's host reset) and write-1-to-clear: the interrupt falls.
    tb.drive_noise(tb.seed + 1)
    control = REGISTER_MAP.encode("CONTROL", alarm_clear=1, irq_alarm_enable=1)
    assert await tb.write("CONTROL", control) == AxiResp.OKAY
    assert await tb.write("IRQ_STATUS", REGISTER_MAP.encode("IRQ_STATUS", alarm=1)) == AxiResp.OKAY
    await ClockCycles(dut.aclk, 3)
    assert dut.interrupt.value == 0
    status = await tb.fields("STATUS")
    assert not status["alarm_rct"] and not status["alarm_apt"], status
    assert await tb.value("ENTROPY_SAMPLES") < 100            # counters restarted


@cocotb.test()
async def core_soft_reset(dut):
    """Half a matrix, then CONTROL.soft_reset: the next whole matrix decomposes exactly."""
    tb = CoreTB(dut)
    p = tb.params.svd
    await tb.reset()
    first, second = random_matrices(p, 2, tb.seed + 500)
    words = tb.pack(first)
    tb.source.send_nowait(words[: len(words) // 2])      # no TLAST yet: a half frame
    await ClockCycles(dut.aclk, len(words))
    assert (await tb.fields("STATUS"))["busy"] == 1
    assert await tb.write("CONTROL", REGISTER_MAP.encode("CONTROL", soft_reset=1)) == AxiResp.OKAY
    await ClockCycles(dut.aclk, 2)
    assert (await tb.fields("STATUS"))["busy"] == 0
    # The half frame's TLAST was not on a matrix's last word.
    assert (await tb.fields("ERRORS"))["framing"] == 1
    await tb.source.send(tb.pack(second))
    frame = await with_timeout(tb.sink.recv(), tb.budget_ns(1), "ns")
    assert [to_signed(w) for w in frame.tdata] == decompose(p, second[None]).words(0)


async def wait_healthy(tb: CoreTB) -> None:
    e = tb.params.entropy
    await ClockCycles(tb.dut.aclk, (e.startup_samples + 64) * e.sample_period)
    status = await tb.fields("STATUS")
    assert status["entropy_healthy"], status


@cocotb.test()
async def core_alarm_during_decomposition(dut):
    """A stuck entropy input while a matrix is in the engine: the alarm is pending (masked,
    then raising the interrupt once enabled) before the decomposition ends, the result is
    still exact, entropy reads fail closed, and the interrupt falls only when both the
    alarm and done are cleared."""
    tb = CoreTB(dut)
    p, e = tb.params.svd, tb.params.entropy
    await tb.reset()
    tb.drive_noise(tb.seed + 7)
    await wait_healthy(tb)
    matrix = random_matrices(p, 1, tb.seed + 900)
    assert await tb.write("CONTROL", 0) == AxiResp.OKAY           # both interrupts masked
    await tb.source.send(tb.pack(matrix[0]))
    await ClockCycles(dut.aclk, 2 * len(tb.pack(matrix[0])))
    assert (await tb.fields("STATUS"))["busy"] == 1
    tb.hold_noise(1)                                                 # stuck at one
    await ClockCycles(dut.aclk, (e.rct_cutoff + 8) * e.sample_period)
    status = await tb.fields("STATUS")
    assert status["alarm_rct"] and status["busy"] and not status["done"], status
    assert (await tb.fields("IRQ_STATUS")) == {"done": 0, "alarm": 1}
    assert dut.interrupt.value == 0                                  # pending but masked
    enables = REGISTER_MAP.encode("CONTROL", irq_alarm_enable=1, irq_done_enable=1)
    assert await tb.write("CONTROL", enables) == AxiResp.OKAY
    await ClockCycles(dut.aclk, 2)
    assert dut.interrupt.value == 1
    assert (await tb.fields("STATUS"))["busy"] == 1                  # still decomposing
    assert (await tb.read("ENTROPY_DATA"))[0] == EMPTY_READ_VALUE    # fail-closed

    frame = await with_timeout(tb.sink.recv(), tb.budget_ns(1), "ns")
    assert [to_signed(w) for w in frame.tdata] == decompose(p, matrix).words(0)
    await ClockCycles(dut.aclk, 4)
    assert (await tb.fields("IRQ_STATUS")) == {"done": 1, "alarm": 1}
    assert await tb.write("IRQ_STATUS", REGISTER_MAP.encode("IRQ_STATUS", alarm=1)) == AxiResp.OKAY
    await ClockCycles(dut.aclk, 3)
    assert dut.interrupt.value == 1                                  # done is still pending
    assert await tb.write("IRQ_STATUS", REGISTER_MAP.encode("IRQ_STATUS", done=1)) == AxiResp.OKAY
    await ClockCycles(dut.aclk, 3)
    assert dut.interrupt.value == 0
    assert (await tb.fields("STATUS"))["alarm_rct"] == 1             # latched until alarm_clear


@cocotb.test()
async def core_reset_mid_transfer(dut):
    """aresetn in the middle of an input frame, then in the middle of a result frame held
    back by the sink: no stale word comes out afterwards, the registers are at their reset
    values, and the next matrix decomposes exactly."""
    tb = CoreTB(dut)
    p = tb.params.svd
    await tb.reset()
    first, second, third = random_matrices(p, 3, tb.seed + 700)
    assert await tb.write("CONTROL", REGISTER_MAP.encode("CONTROL", irq_done_enable=1)) == AxiResp.OKAY

    # 1. Half an input frame, then reset.
    words = tb.pack(first)
    tb.source.send_nowait(words[: len(words) // 2])
    await ClockCycles(dut.aclk, len(words))
    assert (await tb.fields("STATUS"))["busy"] == 1
    await tb.pulse_aresetn()
    status = await tb.fields("STATUS")
    assert not status["busy"] and not status["done"], status
    assert (await tb.fields("CONTROL"))["irq_done_enable"] == 0      # reset value
    assert (await tb.fields("ERRORS")) == dict.fromkeys(REGISTER_MAP.decode("ERRORS", 0), 0)
    await tb.source.send(tb.pack(second))
    frame = await with_timeout(tb.sink.recv(), tb.budget_ns(1), "ns")
    assert [to_signed(w) for w in frame.tdata] == decompose(p, second[None]).words(0)

    # 2. A result frame held back by the sink, then reset: nothing of it comes out.
    tb.sink.pause = True
    await tb.source.send(tb.pack(first))
    await ClockCycles(dut.aclk, 3 * tb.engine.cycle_estimate())
    assert dut.m_axis_tvalid.value == 1                              # results are waiting
    await tb.pulse_aresetn()
    tb.sink.pause = False
    await ClockCycles(dut.aclk, 4 * p.output_words)
    assert tb.sink.empty(), "a word of the result frame from before the reset came out"
    assert dut.m_axis_tvalid.value == 0
    assert not (await tb.fields("STATUS"))["busy"]
    await tb.source.send(tb.pack(third))
    frame = await with_timeout(tb.sink.recv(), tb.budget_ns(1), "ns")
    assert [to_signed(w) for w in frame.tdata] == decompose(p, third[None]).words(0)
    assert (await tb.fields("ERRORS"))["framing"] == 0
