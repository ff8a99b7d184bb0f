"""Host driver of the entropy source's register interface (``hw/entropy/registers.py``).

The driver only needs two callables, ``read(offset) -> int`` and ``write(offset, value)``
(byte offsets, 32-bit values: the shape of PYNQ's ``MMIO.read``/``MMIO.write``), plus an
optional ``idle(cycles)`` that lets time pass (a simulator advances its clock; on a board
pass ``None`` and the driver just polls). Here it runs on the Amaranth simulator
(``rosvd.sim.entropy_pysim.RegisterSim``) or on Verilator (``rosvd.sim.entropy_tb``).

What it does: checks the ID, reads STATUS, waits for the start-up test, pops raw words
from DATA (as many as FIFO_LEVEL says are there), refuses with :class:`EntropyAlarm` if an
alarm is latched before, during or right after a request (all words of that request are
discarded), resets on request (CONTROL.host_reset) and conditions the raw words with
:class:`rosvd.entropy.conditioner.Conditioner`. The ``simulated`` flag of the result is
the OR of STATUS.simulated over every STATUS read of the request: it comes from the
hardware, never from a label in this module.

Raw bytes: each 32-bit word is serialised little-endian, so the earliest sample (bit 0
of the word) is bit 0 of the first byte.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rosvd.hw.entropy import registers

from .conditioner import Conditioner

#: Byte offset of each register, by name.
OFF = {name: registers.byte_offset(name) for name in registers.REGISTERS}


class EntropySourceError(RuntimeError):
    """The register interface does not look like the entropy source."""


class EntropyAlarm(RuntimeError):
    """A health-test alarm is latched: no raw word is used until a host reset."""

    def __init__(self, status: dict[str, bool], alarm_sample: int):
        self.status, self.alarm_sample = status, alarm_sample
        which = [name for name in ("alarm_rct", "alarm_apt") if status.get(name)]
        super().__init__(f"entropy source alarm {'+'.join(which) or '(underflow during alarm)'}"
                         f" at sample {alarm_sample}; host reset required")


class StartupTimeout(TimeoutError):
    """The start-up health test did not complete within the poll budget."""


@dataclass(frozen=True)
class SourceOutput:
    data: bytes              #: conditioned bytes
    simulated: bool          #: STATUS.simulated was set in some read of the request
    credited_bits: float     #: entropy credited per 32-byte block
    raw_words: int           #: raw words consumed


class SourceDriver:
    def __init__(self, read: Callable[[int], int], write: Callable[[int, int], None], *,
                 idle: Callable[[int], None] | None = None, min_entropy: float = 0.5,
                 poll_limit: int = 100_000, idle_cycles: int = 32):
        self._read, self._write, self._idle = read, write, idle
        self.conditioner = Conditioner(min_entropy)
        self.poll_limit, self.idle_cycles = poll_limit, idle_cycles
        ident = read(OFF["ID"])
        if ident != registers.ID_VALUE:
            raise EntropySourceError(f"entropy source ID {ident:#010x}, expected {registers.ID_VALUE:#010x}")
        self.version = read(OFF["VERSION"]) & 0xFFFF
        self.fifo_depth = read(OFF["VERSION"]) >> 16
        self._simulated_seen = False

    # -- registers ---------------------------------------------------------------------
    def status(self) -> dict[str, bool]:
        st = registers.decode_status(self._read(OFF["STATUS"]))
        self._simulated_seen |= st["simulated"]
        return st

    def counter(self, name: str) -> int:
        return self._read(OFF[name])

    def reset(self) -> None:
        """Host reset: clears the alarm and counters, flushes the FIFO; start-up runs again."""
        self._write(OFF["CONTROL"], registers.CONTROL_HOST_RESET)

    def _wait(self):
        if self._idle is not None:
            self._idle(self.idle_cycles)

    def _refuse_on_alarm(self, st):
        if st["alarm_rct"] or st["alarm_apt"]:
            raise EntropyAlarm(st, self.counter("ALARM_SAMPLE"))

    def wait_startup(self) -> dict[str, bool]:
        for _ in range(self.poll_limit):
            st = self.status()
            self._refuse_on_alarm(st)
            if st["healthy"]:
                return st
            self._wait()
        raise StartupTimeout(f"start-up test not done after {self.poll_limit} polls")

    # -- data --------------------------------------------------------------------------
    def read_words(self, n: int) -> list[int]:
        """``n`` raw words, or :class:`EntropyAlarm` (then none of them are returned)."""
        if n < 1:
            raise ValueError("at least one word must be requested")
        words: list[int] = []
        underflows = self.counter("UNDERFLOWS")
        polls = 0
        while len(words) < n:
            st = self.wait_startup()
            level = self.counter("FIFO_LEVEL") if st["fifo_nonempty"] else 0
            if level == 0:
                polls += 1
                if polls > self.poll_limit:
                    raise StartupTimeout(f"no raw word after {self.poll_limit} polls")
                self._wait()
                continue
            words += [self._read(OFF["DATA"]) for _ in range(min(level, n - len(words)))]
        st = self.status()
        self._refuse_on_alarm(st)
        if self.counter("UNDERFLOWS") != underflows:
            # A DATA read found nothing: the FIFO was flushed under us (alarm + reset, or
            # another reader). Fail closed.
            raise EntropyAlarm(st, self.counter("ALARM_SAMPLE"))
        return words

    def raw_bytes(self, nwords: int) -> tuple[bytes, bool]:
        self._simulated_seen = False
        words = self.read_words(nwords)
        return b"".join(w.to_bytes(4, "little") for w in words), self._simulated_seen

    def conditioned(self, nbytes: int) -> SourceOutput:
        """``nbytes`` conditioned bytes (whole SHA-256 blocks, truncated to ``nbytes``)."""
        raw_len = self.conditioner.raw_bytes_for(nbytes)
        raw, simulated = self.raw_bytes(raw_len // 4)
        blocks = self.conditioner.condition(raw, simulated)
        data = b"".join(block.data for block in blocks)[:nbytes]
        return SourceOutput(data, simulated, self.conditioner.credited_bits, raw_len // 4)
