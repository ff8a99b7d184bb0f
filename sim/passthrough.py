"""Small stream components that stand in for real cores when testing the cocotb infra.

* :class:`Passthrough` and the cocotb tests that drive it through :mod:`rosvd.sim.stream`
  exercise export, runner and stream drivers on both simulators.
* :class:`ReplayEngine` has the SVD engine's ports but replays precomputed model words,
  so :mod:`rosvd.sim.svd_tb` itself can be tested without the real engine.
"""
from __future__ import annotations

import os
import zlib

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

#: Environment variable that enables :func:`deliberate_failure` (checks that failures surface).
SELFTEST_ENV = "ROSVD_TB_SELFTEST"
CLOCK_NS = 10


def output_layout(width: int) -> data.StructLayout:
    return data.StructLayout({"data": signed(width + 1), "last": unsigned(1)})


class Passthrough(wiring.Component):
    """Adds one to each signed word and marks every ``last_every``-th word ``last``.

    ``i``: signed ``width``-bit words. ``o``: ``{data: x + 1 (width+1 bits), last}``.

    A two-entry skid buffer: latency one cycle, one word per cycle, ``i.ready`` is a
    register (it does not depend on ``o.ready`` combinationally). Reset empties both
    entries and restarts the ``last`` count.
    """

    def __init__(self, width: int = 8, last_every: int = 4):
        if width < 1 or last_every < 1:
            self._MustUse__silence = True          # a refused component is not "unused"
        if width < 1:
            raise ValueError(f"Passthrough: width must be >= 1, not {width}")
        if last_every < 1:
            raise ValueError(f"Passthrough: last_every must be >= 1, not {last_every}")
        self.width = width
        self.last_every = last_every
        super().__init__({
            "i": In(stream.Signature(signed(width))),
            "o": Out(stream.Signature(output_layout(width))),
        })

    def elaborate(self, platform):
        m = Module()
        layout = output_layout(self.width)
        skid = Signal(layout)
        skid_valid = Signal()
        count = Signal(range(self.last_every))

        transformed = Signal(layout)
        m.d.comb += [
            transformed.data.eq(self.i.payload + 1),
            transformed.last.eq(count == self.last_every - 1),
            self.i.ready.eq(~skid_valid),
        ]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += count.eq(0 if self.last_every == 1 else
                                 (count + 1) % self.last_every)

        with m.If(self.o.ready | ~self.o.valid):     # output register frees up
            with m.If(skid_valid):
                m.d.sync += [self.o.payload.eq(skid), self.o.valid.eq(1), skid_valid.eq(0)]
            with m.Elif(self.i.valid):
                m.d.sync += [self.o.payload.eq(transformed), self.o.valid.eq(1)]
            with m.Else():
                m.d.sync += self.o.valid.eq(0)
        with m.Elif(self.i.valid & ~skid_valid):      # output stalled: park the word
            m.d.sync += [skid.eq(transformed), skid_valid.eq(1)]
        return m


class ReplayEngine(wiring.Component):
    """SVD engine stand-in: same ports as ``SVDEngine``, replays ``results`` in order.

    Accepts ``n*n`` matrix elements (their values are ignored), waits ``latency``
    cycles, then streams the next entry of ``results`` (each ``output_words`` words,
    ``last`` on the final one), wrapping around after the last entry. ``busy`` is high
    from the first accepted element until the last result word is taken. Reset
    restarts at ``results[0]`` and discards a half-loaded matrix.
    ``cycle_estimate`` gives the stall-free latency, like ``SVDEngine.cycle_estimate``.
    """

    def __init__(self, params, results: list[list[int]] | None = None, latency: int = 5):
        self.params = params
        self.results = results or [[0] * params.output_words]
        self.latency = latency
        if any(len(words) != params.output_words for words in self.results) or latency < 1:
            self._MustUse__silence = True
            raise ValueError(f"ReplayEngine: every result needs {params.output_words} words"
                             f" and latency must be >= 1, not {latency}")
        super().__init__({
            "matrix": In(stream.Signature(signed(params.data_width))),
            "result": Out(stream.Signature(data.StructLayout(
                {"data": signed(params.out_width), "last": unsigned(1)}))),
            "busy": Out(1),
        })

    def cycle_estimate(self, sweeps: int | None = None) -> int:
        """Cycles from the first accepted element to the last result word, no stalls."""
        return self.params.n * self.params.n + self.latency + self.params.output_words

    def elaborate(self, platform):
        p = self.params
        m = Module()
        flat = [w & ((1 << p.out_width) - 1) for words in self.results for w in words]
        m.submodules.rom = rom = Memory(shape=signed(p.out_width), depth=len(flat), init=[
            w - (1 << p.out_width) if w >> (p.out_width - 1) else w for w in flat])
        read = rom.read_port(domain="comb")
        address = Signal(range(len(flat)))
        elements = Signal(range(p.n * p.n))
        word = Signal(range(p.output_words))
        wait = Signal(range(self.latency + 1))
        m.d.comb += [read.addr.eq(address), self.result.payload.data.eq(read.data),
                     self.result.payload.last.eq(word == p.output_words - 1)]
        with m.FSM():
            with m.State("LOAD"):
                m.d.comb += self.matrix.ready.eq(1)
                with m.If(self.matrix.valid):
                    m.d.sync += [self.busy.eq(1), elements.eq(elements + 1)]
                    with m.If(elements == p.n * p.n - 1):
                        m.d.sync += [elements.eq(0), wait.eq(self.latency)]
                        m.next = "WAIT"
            with m.State("WAIT"):
                m.d.sync += wait.eq(wait - 1)
                with m.If(wait == 1):
                    m.next = "OUTPUT"
            with m.State("OUTPUT"):
                m.d.comb += self.result.valid.eq(1)
                with m.If(self.result.ready):
                    m.d.sync += [word.eq(word + 1),
                                 address.eq((address + 1) % len(flat))]
                    with m.If(word == p.output_words - 1):
                        m.d.sync += [word.eq(0), self.busy.eq(0)]
                        m.next = "LOAD"
        return m


def passthrough_model(width: int, last_every: int, words: list[int], start: int = 0) -> list[tuple[int, int]]:
    """Expected ``(data, last)`` pairs for ``words`` when ``start`` words were sent since reset."""
    return [(w + 1, int(i % last_every == last_every - 1)) for i, w in enumerate(words, start)]


# cocotb tests (run by tests/sim/test_stream_infra.py through rosvd.sim.runner) --------
try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles, RisingEdge
    from cocotb.utils import get_sim_steps
except ImportError:                                    # pragma: no cover - hw-only install
    cocotb = None

if cocotb is not None:
    import random

    from rosvd.sim.runner import tb_params
    from rosvd.sim.stream import (
        StreamSink,
        StreamSource,
        cycle_pattern,
        never,
        random_pattern,
        unpack,
    )

    _PATTERNS = {
        "none": never,
        "random": lambda: random_pattern(seed=7, p=0.4),
        "bursty": lambda: cycle_pattern("0001111"),
    }

    class PassthroughTB:
        """Clock, reset and the two stream models around one :class:`Passthrough`."""

        def __init__(self, dut):
            params = tb_params()
            self.dut = dut
            self.width = params["width"]
            self.last_every = params["last_every"]
            self.layout = output_layout(self.width)
            self.source = StreamSource(dut, "i", dut.clk)
            self.sink = StreamSink(dut, "o", dut.clk)
            cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())

        async def reset(self):
            self.dut.rst.value = 1
            self.source.idle_bus()
            self.sink.idle_bus()
            await ClockCycles(self.dut.clk, 3)
            self.dut.rst.value = 0
            await RisingEdge(self.dut.clk)

        def random_words(self, count, seed):
            rng = random.Random(seed)
            lo, hi = -(1 << (self.width - 1)), (1 << (self.width - 1)) - 1
            return [lo, hi, 0, -1][:count] + [rng.randint(lo, hi) for _ in range(count - 4)]

        async def check(self, words, idle, backpressure, start=0):
            send = cocotb.start_soon(self.source.send(words, idle=idle))
            got = await self.sink.receive(len(words), backpressure=backpressure)
            await send
            fields = [unpack(self.layout, raw) for raw in got]
            expected = passthrough_model(self.width, self.last_every, words, start)
            for index, (field, (data_, last)) in enumerate(zip(fields, expected, strict=True)):
                assert (field["data"], field["last"]) == (data_, last), \
                    f"word {index}: got {field}, expected data={data_} last={last}"
            return self.source.stamps, self.sink.stamps

    @cocotb.test()
    @cocotb.parametrize(idle=list(_PATTERNS), backpressure=list(_PATTERNS))
    async def stream_roundtrip(dut, idle, backpressure):
        """Every word arrives transformed, in order, under each idle x backpressure pattern."""
        tb = PassthroughTB(dut)
        await tb.reset()
        words = tb.random_words(200, seed=zlib.crc32(f"{idle}/{backpressure}".encode()))
        # two sends back to back: the second starts in the cycle after the first ends
        await tb.check(words[:70], _PATTERNS[idle](), _PATTERNS[backpressure]())
        await tb.check(words[70:], _PATTERNS[idle](), _PATTERNS[backpressure](), start=70)

    @cocotb.test()
    async def full_throughput(dut):
        """Without stalls one word is accepted and delivered per cycle, one cycle apart."""
        tb = PassthroughTB(dut)
        await tb.reset()
        words = tb.random_words(64, seed=1)
        sent, received = await tb.check(words, never(), never())
        period = get_sim_steps(CLOCK_NS, "ns")
        sent = [t // period for t in sent]
        received = [t // period for t in received]
        assert sent == list(range(sent[0], sent[0] + len(words))), sent
        assert [r - s for s, r in zip(sent, received, strict=True)] == [1] * len(words)

    @cocotb.test(skip=os.environ.get(SELFTEST_ENV) != "1")
    async def deliberate_failure(dut):
        """Fails on purpose (only when enabled) so the runner's failure path is tested."""
        tb = PassthroughTB(dut)
        await tb.reset()
        got = await tb.check([1, 2, 3], never(), never())
        assert got is None, "deliberate failure"
