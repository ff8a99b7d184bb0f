"""Run :class:`rosvd.hw.entropy.source.EntropySource` in Amaranth's simulator on given raw bits.

``rtl_run(params, bits)`` drives ``raw_bit`` with one bit per cycle (``sample_period``
must be 1), optionally stalls the output stream and pulses ``host_reset``, and returns
what the RTL did: words transferred (with the cycle), the cycle each alarm flag rose,
``startup_done`` and the final counters. Small runs only (about 10**4 cycles per second);
long runs go through Verilator (``rosvd.sim.entropy_tb``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from amaranth.sim import Simulator

from rosvd.hw.entropy.params import EntropyParams
from rosvd.hw.entropy.source import EntropySource

CLOCK_PERIOD = 1e-8
COUNTERS = ("samples", "words_out", "dropped", "alarm_sample", "max_run", "max_window")


@dataclass
class RunResult:
    words: list[int] = field(default_factory=list)
    word_cycles: list[int] = field(default_factory=list)
    rct_cycle: int | None = None          # cycle whose sample set alarm_rct (flag visible next cycle)
    apt_cycle: int | None = None
    startup_cycle: int | None = None      # cycle whose sample completed the start-up test
    valid_while_alarm: int = 0            # cycles with words.valid high while an alarm was latched
    final: dict = field(default_factory=dict)


def rtl_run(params: EntropyParams, bits, *, ready: Callable[[int], bool] | None = None,
            host_reset_at: Iterable[int] = ()) -> RunResult:
    """Feed ``bits`` (cycle i drives bits[i]) and record the source's behaviour.

    ``ready(i)`` gives ``words.ready`` in cycle i (default: always); ``host_reset`` is
    high in the cycles listed (the bit of such a cycle is not a sample of the new run).
    """
    if params.sample_period != 1:
        raise ValueError("rtl_run drives one sample per cycle: sample_period must be 1")
    bits = np.asarray(bits, dtype=np.uint8)
    resets = set(host_reset_at)
    dut = EntropySource(params)
    result = RunResult()

    async def testbench(ctx):
        for cycle, bit in enumerate(bits.tolist()):
            ctx.set(dut.raw_bit, bit)
            ctx.set(dut.host_reset, int(cycle in resets))
            ctx.set(dut.words.ready, int(ready(cycle)) if ready else 1)
            valid = ctx.get(dut.words.valid)
            if valid and ctx.get(dut.words.ready):
                result.words.append(ctx.get(dut.words.payload))
                result.word_cycles.append(cycle)
            if valid and (ctx.get(dut.alarm_rct) or ctx.get(dut.alarm_apt)):
                result.valid_while_alarm += 1
            await ctx.tick()
            # Flags seen after the edge: record the cycle whose sample raised them.
            if result.rct_cycle is None and ctx.get(dut.alarm_rct):
                result.rct_cycle = cycle
            if result.apt_cycle is None and ctx.get(dut.alarm_apt):
                result.apt_cycle = cycle
            if result.startup_cycle is None and ctx.get(dut.startup_done):
                result.startup_cycle = cycle
        result.final = {name: ctx.get(getattr(dut, name)) for name in COUNTERS}
        result.final.update(alarm_rct=ctx.get(dut.alarm_rct), alarm_apt=ctx.get(dut.alarm_apt),
                            startup_done=ctx.get(dut.startup_done), healthy=ctx.get(dut.healthy),
                            simulated=ctx.get(dut.simulated))

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(testbench)
    sim.run()
    return result


class RegisterSim:
    """:class:`rosvd.hw.entropy.registers.EntropyRegisters` in Amaranth's simulator, interactive.

    ``read(offset)`` / ``write(offset, value)`` (byte offsets, as PYNQ's ``MMIO``) each
    take one register-port cycle plus one to fetch ``r_data``; ``idle(cycles)`` lets the
    source run. Every cycle drives the next of ``bits`` into ``raw_bit`` (``sample_period``
    must be 1); running past the end raises. The simulator runs in a worker thread that
    only advances while a request is served, so simulated time is the number of cycles the
    caller spent. Call :meth:`close` (or use as a context manager) when done.
    """

    def __init__(self, params: EntropyParams, bits, *, fifo_depth: int | None = None):
        import queue
        import threading

        from rosvd.hw.entropy.registers import DEFAULT_FIFO_DEPTH, EntropyRegisters

        if params.sample_period != 1:
            raise ValueError("RegisterSim drives one sample per cycle: sample_period must be 1")
        self.params = params
        self.bits = np.asarray(bits, dtype=np.uint8).tolist()
        self.dut = EntropyRegisters(params, fifo_depth=fifo_depth or DEFAULT_FIFO_DEPTH)
        self.cycle = 0
        self._requests: queue.Queue = queue.Queue()
        self._replies: queue.Queue = queue.Queue()
        dut = self.dut

        async def testbench(ctx):
            async def step():
                if self.cycle >= len(self.bits):
                    raise RuntimeError(f"RegisterSim: out of raw bits after {self.cycle} cycles")
                ctx.set(dut.raw_bit, self.bits[self.cycle])
                await ctx.tick()
                self.cycle += 1

            while True:
                request = self._requests.get()
                try:
                    kind = request[0]
                    if kind == "stop":
                        return
                    if kind == "idle":
                        for _ in range(request[1]):
                            await step()
                        reply = None
                    elif kind == "read":
                        ctx.set(dut.addr, request[1])
                        ctx.set(dut.r_stb, 1)
                        await step()
                        ctx.set(dut.r_stb, 0)
                        reply = ctx.get(dut.r_data)
                    else:
                        ctx.set(dut.addr, request[1])
                        ctx.set(dut.w_data, request[2])
                        ctx.set(dut.w_stb, 1)
                        await step()
                        ctx.set(dut.w_stb, 0)
                        reply = None
                    self._replies.put((True, reply))
                except BaseException as error:     # hand it to the caller's thread
                    self._replies.put((False, error))
                    return

        sim = Simulator(dut)
        sim.add_clock(CLOCK_PERIOD)
        sim.add_testbench(testbench)
        def run():
            try:
                sim.run()
            except BaseException as error:       # the simulator itself failed: no caller may wait forever
                self._replies.put((False, error))

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        self._closed = False

    def _call(self, *request):
        if self._closed:
            raise RuntimeError("RegisterSim is closed")
        self._requests.put(request)
        ok, value = self._replies.get()
        if not ok:
            self._closed = True
            raise value
        return value

    def read(self, offset: int) -> int:
        return self._call("read", _index(offset))

    def write(self, offset: int, value: int) -> None:
        self._call("write", _index(offset), value & 0xFFFF_FFFF)

    def idle(self, cycles: int) -> None:
        self._call("idle", int(cycles))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._requests.put(("stop",))
            self._thread.join(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _index(offset: int) -> int:
    if offset % 4:
        raise ValueError(f"register offsets are multiples of 4, not {offset:#x}")
    return offset // 4
