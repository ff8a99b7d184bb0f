"""cocotb 2 drivers for Amaranth ``lib.stream`` ports, plus stall patterns and payload slicing.

An Amaranth stream port ``p`` appears in exported Verilog as ``p__payload``,
``p__valid`` and ``p__ready``. :class:`StreamSource` drives a port the design reads
(valid and payload), :class:`StreamSink` one it writes (ready).

Stall patterns (the cocotbext-axi habit): ``idle`` and ``backpressure`` are iterables
of booleans, one drawn per clock cycle in which the driver acts; ``True`` stalls that
cycle (source: valid low; sink: ready low). An exhausted pattern stops stalling. Build
them with :func:`never`, :func:`always`, :func:`random_pattern`, :func:`cycle_pattern`,
and run one test body over several of them.

Timing contract, identical on Verilator and Icarus: drivers write just after a rising
edge and sample in the ``ReadOnly`` phase of that time step, so a word counts as
transferred at the next rising edge exactly when valid and ready were both high. While
a source waits for ready (or a sink for valid) it sleeps on that signal's rising edge
instead of waking every cycle, which keeps long computations cheap to simulate; the
stall pattern is therefore drawn only in cycles where the driver acts.

Consecutive ``send``/``receive`` calls on the same driver, made without awaiting
anything in between, run back to back with no idle cycle.
"""
from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Iterator

from cocotb.simtime import get_sim_time
from cocotb.triggers import ReadOnly, current_gpi_trigger

Pattern = Iterable[bool]


# Stall patterns --------------------------------------------------------------------
def never() -> Iterator[bool]:
    """Never stall: full throughput."""
    return itertools.repeat(False)


def always() -> Iterator[bool]:
    """Stall every cycle (a sink that never accepts; building block for other patterns)."""
    return itertools.repeat(True)


def random_pattern(seed: int, p: float = 0.5) -> Iterator[bool]:
    """Stall each cycle independently with probability ``p`` (reproducible from ``seed``)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"random_pattern: p must be in [0, 1), not {p}")
    rng = random.Random(seed)
    return (rng.random() < p for _ in itertools.count())


def cycle_pattern(bits: str | Iterable[bool | int]) -> Iterator[bool]:
    """Repeat a fixed pattern, e.g. ``cycle_pattern("0011")`` (``1`` = stall)."""
    pattern = [bool(int(b)) for b in bits]
    if not pattern:
        raise ValueError("cycle_pattern: empty pattern")
    if all(pattern):
        raise ValueError("cycle_pattern: a pattern of only stalls never transfers anything")
    return itertools.cycle(pattern)


def burst_pattern(seed: int, mean_run: int = 8, p: float = 0.5) -> Iterator[bool]:
    """Runs of stalls and of transfers with random lengths up to ``2*mean_run``;
    a run is a stall run with probability ``p``."""
    if mean_run < 1 or not 0.0 <= p < 1.0:
        raise ValueError(f"burst_pattern: need mean_run >= 1 and p in [0, 1), not {mean_run}, {p}")
    rng = random.Random(seed)
    runs = ((rng.random() < p, rng.randint(1, 2 * mean_run)) for _ in itertools.count())
    return itertools.chain.from_iterable(itertools.repeat(stall, length) for stall, length in runs)


# Payload helpers -------------------------------------------------------------------
def field(raw: int, offset: int, width: int, signed: bool = False) -> int:
    """Bits ``offset .. offset+width-1`` of ``raw`` as an integer (two's complement if ``signed``)."""
    value = (raw >> offset) & ((1 << width) - 1)
    if signed and value >> (width - 1):
        value -= 1 << width
    return value


def signed_field(raw: int, offset: int, width: int) -> int:
    return field(raw, offset, width, signed=True)


def unpack(layout, raw: int) -> dict:
    """Decode ``raw`` with an Amaranth ``data.StructLayout`` into ``{name: int}``
    (signed fields sign-extended, nested layouts decoded recursively)."""
    from amaranth.hdl import Shape
    from amaranth.lib import data

    result = {}
    for name, fld in layout:
        if isinstance(fld.shape, data.Layout):
            result[name] = unpack(fld.shape, field(raw, fld.offset, fld.width))
        else:
            result[name] = field(raw, fld.offset, fld.width, Shape.cast(fld.shape).signed)
    return result


# Drivers -------------------------------------------------------------------------------
class _StreamPort:
    def __init__(self, dut, prefix: str, clock):
        self.dut = dut
        self.prefix = prefix
        self.clock = clock
        try:
            self.payload = getattr(dut, f"{prefix}__payload")
            self.valid = getattr(dut, f"{prefix}__valid")
            self.ready = getattr(dut, f"{prefix}__ready")
        except AttributeError as error:
            raise AttributeError(f"{type(self).__name__}: {dut._name} has no stream port "
                                 f"{prefix!r} ({prefix}__payload/__valid/__ready)") from error
        self.width = len(self.payload)
        self._mask = (1 << self.width) - 1
        #: Sim time (steps) of the rising edge at which each word of the last call transferred.
        self.stamps: list[int] = []

    async def _writable(self):
        """Return just after a rising edge of the clock, in a phase where writes are allowed."""
        try:
            at_edge = current_gpi_trigger() is self.clock.rising_edge
        except RuntimeError:              # no trigger has fired yet (time 0)
            at_edge = False
        if not at_edge:
            await self.clock.rising_edge

    @staticmethod
    def _high(signal) -> bool:
        value = signal.value
        if not value.is_resolvable:
            raise AssertionError(f"{signal._path} is {value}: the design drives no defined level")
        return value == 1


class StreamSource(_StreamPort):
    """Drives ``<prefix>__payload`` and ``<prefix>__valid``; watches ``<prefix>__ready``."""

    def idle_bus(self):
        """Valid low, payload zero (call before or during reset)."""
        self.valid.value = 0
        self.payload.value = 0

    async def send(self, words: Iterable[int], idle: Pattern | None = None) -> int:
        """Send ``words`` (Python ints, negative allowed; masked to the payload width).

        Returns when the last word has transferred, just after that rising edge, with
        valid low. ``self.stamps`` holds the transfer time of each word.
        """
        idle_it = iter(never() if idle is None else idle)
        self.stamps = []
        await self._writable()
        for word in words:
            while next(idle_it, False):
                self.valid.value = 0
                await self.clock.rising_edge
            self.payload.value = int(word) & self._mask
            self.valid.value = 1
            await ReadOnly()
            while not self._high(self.ready):
                await self.ready.rising_edge
                await ReadOnly()
            await self.clock.rising_edge
            self.stamps.append(get_sim_time())
        self.valid.value = 0
        return len(self.stamps)


class StreamSink(_StreamPort):
    """Drives ``<prefix>__ready``; collects ``<prefix>__payload`` when valid and ready."""

    def idle_bus(self):
        self.ready.value = 0

    def _payload(self) -> int:
        value = self.payload.value
        if not value.is_resolvable:
            raise AssertionError(f"{self.payload._path} is {value} while valid")
        return value.to_unsigned()

    async def receive(self, count: int | None = None, *, until: Callable[[int], bool] | None = None,
                      backpressure: Pattern | None = None) -> list[int]:
        """Collect ``count`` words, or words up to and including the first for which
        ``until(raw)`` is true (whichever comes first when both are given).

        Payloads are returned as raw unsigned integers (see :func:`unpack`,
        :func:`signed_field`). Returns just after the last transfer edge with ready
        low; ``self.stamps`` holds the transfer time of each word.
        """
        if count is None and until is None:
            raise ValueError("StreamSink.receive: give a count, an until predicate, or both")
        pattern = iter(never() if backpressure is None else backpressure)
        words: list[int] = []
        self.stamps = []
        await self._writable()
        while count is None or len(words) < count:
            ready = not next(pattern, False)
            self.ready.value = int(ready)
            await ReadOnly()
            while not self._high(self.valid):
                await self.valid.rising_edge
                await ReadOnly()
            word = self._payload() if ready else None
            await self.clock.rising_edge
            if word is not None:
                words.append(word)
                self.stamps.append(get_sim_time())
                if until is not None and until(word):
                    break
        self.ready.value = 0
        return words
