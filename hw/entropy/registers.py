"""Register-level interface of the entropy source: raw-word FIFO and a simple register port.

:class:`EntropyRegisters` wraps :class:`.source.EntropySource`, queues the released raw
words in a ``SyncFIFOBuffered`` and exposes a synchronous register port that the future
AXI4-Lite wrapper (a later issue) will drive:

* ``addr`` (word index, byte offset / 4), ``r_stb``, ``r_data``: a read strobed in cycle
  ``t`` presents its value on ``r_data`` in cycle ``t + 1`` (registered). Reading
  ``DATA`` pops one word at the edge ending cycle ``t``.
* ``w_stb``, ``w_data``: a write takes effect at the edge ending its cycle.

Register map (byte offsets, 32-bit registers; see :data:`REGISTERS`)::

    0x00 ID            R   0x524F4531 ("RoE1")
    0x04 VERSION       R   [15:0] version, [31:16] FIFO depth
    0x08 STATUS        R   bit 0 healthy, 1 startup_done, 2 alarm_rct, 3 alarm_apt,
                           4 simulated, 5 fifo_nonempty, 6 fifo_full, 7 underflow (sticky)
    0x0C CONTROL       W   bit 0: host_reset (pulse): clears alarms, counters, underflow,
                           flushes the FIFO; start-up runs again. Reads 0.
    0x10 FIFO_LEVEL    R   words in the FIFO (0 while not healthy)
    0x14 DATA          R   pops one raw word; empty (or not healthy): returns 0, sets
                           STATUS.underflow and counts in UNDERFLOWS, pops nothing
    0x18 SAMPLES       R   source counters (EntropySource): samples tested
    0x1C WORDS_OUT     R   words moved from the source into the FIFO
    0x20 DROPPED       R   words dropped by the source (FIFO and one-word buffer full)
    0x24 ALARM_SAMPLE  R   sample count at the first alarm (0: none)
    0x28 UNDERFLOWS    R   DATA reads that returned no word (saturating)
    0x2C MAX_RUN       R   longest repetition seen (RCT)
    0x30 MAX_WINDOW    R   largest completed APT window count

Fail-closed: the FIFO is held in reset (flushed) while an alarm is latched, in the cycle
a sample fails (before the alarm flag is visible) and during ``host_reset``; DATA pops
only while ``healthy`` and no sample is failing. So no word buffered before an alarm is
readable after it; words come again only after ``host_reset`` and a new start-up test.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .params import EntropyParams
from .source import EntropySource

ID_VALUE = 0x524F4531
VERSION = 1
DEFAULT_FIFO_DEPTH = 16

#: Register word indices (byte offset = 4 * index).
REGISTERS = {
    "ID": 0, "VERSION": 1, "STATUS": 2, "CONTROL": 3, "FIFO_LEVEL": 4, "DATA": 5,
    "SAMPLES": 6, "WORDS_OUT": 7, "DROPPED": 8, "ALARM_SAMPLE": 9, "UNDERFLOWS": 10,
    "MAX_RUN": 11, "MAX_WINDOW": 12,
}
ADDR_WIDTH = 4
#: STATUS bit positions.
STATUS_BITS = {
    "healthy": 0, "startup_done": 1, "alarm_rct": 2, "alarm_apt": 3, "simulated": 4,
    "fifo_nonempty": 5, "fifo_full": 6, "underflow": 7,
}
CONTROL_HOST_RESET = 1 << 0


def byte_offset(name: str) -> int:
    return 4 * REGISTERS[name]


def decode_status(value: int) -> dict[str, bool]:
    return {name: bool(value >> bit & 1) for name, bit in STATUS_BITS.items()}


class EntropyRegisters(wiring.Component):
    """The entropy source behind a raw-word FIFO and a register port (see module docstring).

    ``raw_bit`` is passed to the source (the simulated noise input when there is no
    Xilinx platform). ``fifo_depth`` words of buffering (2..65535; VERSION reports it).
    ``counter_width`` of the params must be <= 32 (each counter is one 32-bit register).
    ``readable`` (STATUS.fifo_nonempty: a DATA read now pops a word) and ``underflow``
    (STATUS.underflow) are outputs too, for a wrapper's status and interrupt logic.
    """

    def __init__(self, params: EntropyParams | None = None, *, fifo_depth: int = DEFAULT_FIFO_DEPTH):
        self.params = p = params or EntropyParams()
        problem = None
        if p.counter_width > 32:
            problem = f"counter_width must be <= 32, not {p.counter_width}"
        elif not isinstance(fifo_depth, int) or not 2 <= fifo_depth < 1 << 16:
            problem = f"fifo_depth must be an int in 2..65535, not {fifo_depth!r}"
        if problem:
            self._MustUse__silence = True      # refused, never built: no "unused" warning
            raise ValueError(f"EntropyRegisters: {problem}")
        self.fifo_depth = fifo_depth
        self.source = EntropySource(p)
        super().__init__({
            "raw_bit": In(1),
            "addr": In(ADDR_WIDTH),
            "r_stb": In(1),
            "r_data": Out(32),
            "w_stb": In(1),
            "w_data": In(32),
            "readable": Out(1),
            "underflow": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.source = src = self.source
        health = src.health

        host_reset = Signal()
        m.d.comb += host_reset.eq(self.w_stb & (self.addr == REGISTERS["CONTROL"])
                                  & self.w_data[0])
        flush = Signal()
        m.d.comb += flush.eq(host_reset | health.alarm | health.fail_now)
        fifo = ResetInserter(flush)(SyncFIFOBuffered(width=32, depth=self.fifo_depth))
        m.submodules.fifo = fifo

        open_ = Signal()          # words may leave: healthy and no sample failing now
        m.d.comb += [
            open_.eq(src.healthy & ~health.fail_now),
            src.raw_bit.eq(self.raw_bit),
            src.host_reset.eq(host_reset),
            fifo.w_data.eq(src.words.payload),
            fifo.w_en.eq(src.words.valid),
            src.words.ready.eq(fifo.w_rdy),
        ]

        underflow = Signal()
        underflows = Signal(32)
        read_data = self.r_stb & (self.addr == REGISTERS["DATA"])
        pop = Signal()
        m.d.comb += [pop.eq(read_data & fifo.r_rdy & open_), fifo.r_en.eq(pop)]
        with m.If(read_data & ~pop):
            m.d.sync += underflow.eq(1)
            with m.If(underflows != 0xFFFF_FFFF):
                m.d.sync += underflows.eq(underflows + 1)
        with m.If(host_reset):
            m.d.sync += [underflow.eq(0), underflows.eq(0)]

        level = Signal(32)
        m.d.comb += level.eq(fifo.level)
        status = Signal(32)
        bits = {
            "healthy": src.healthy, "startup_done": src.startup_done,
            "alarm_rct": src.alarm_rct, "alarm_apt": src.alarm_apt, "simulated": src.simulated,
            "fifo_nonempty": fifo.r_rdy & open_, "fifo_full": ~fifo.w_rdy, "underflow": underflow,
        }
        for name, bit in STATUS_BITS.items():
            m.d.comb += status[bit].eq(bits[name])
        m.d.comb += [self.readable.eq(bits["fifo_nonempty"]), self.underflow.eq(underflow)]

        values = {
            "ID": Const(ID_VALUE, 32),
            "VERSION": Cat(Const(VERSION, 16), Const(self.fifo_depth, 16)),
            "STATUS": status,
            "CONTROL": Const(0, 32),
            "SAMPLES": src.samples, "WORDS_OUT": src.words_out, "DROPPED": src.dropped,
            "ALARM_SAMPLE": src.alarm_sample, "UNDERFLOWS": underflows,
            "MAX_RUN": src.max_run, "MAX_WINDOW": src.max_window,
        }
        with m.If(self.r_stb):
            with m.Switch(self.addr):
                for name, index in REGISTERS.items():
                    with m.Case(index):
                        if name == "DATA":
                            m.d.sync += self.r_data.eq(pop.replicate(32) & fifo.r_data)
                        elif name == "FIFO_LEVEL":
                            m.d.sync += self.r_data.eq(open_.replicate(32) & level)
                        else:
                            m.d.sync += self.r_data.eq(values[name])
                with m.Default():
                    m.d.sync += self.r_data.eq(0)
        return m
