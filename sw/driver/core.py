"""The host driver of :class:`rosvd.hw.top.core.RosvdCore`, over two small interfaces.

:class:`CoreDriver` needs a :class:`RegisterAccess` (``read(offset) -> int``,
``write(offset, value)``: byte offsets from the IP's base, 32-bit values, the shape of
PYNQ's ``DefaultIP.read``/``write``) and a :class:`StreamTransport` (``send(words)``: one
AXI DMA MM2S transfer, TLAST on its last word; ``receive(count) -> words``: one S2MM
transfer of at most ``count`` words, ended by TLAST). Every offset and field comes from
:data:`rosvd.hw.top.register_map.REGISTER_MAP`; nothing here is a literal offset.

What it does, and refuses (each refusal a :class:`DriverError` subclass):

* on construction: ID (:class:`NotRosvdCore`), VERSION major (:class:`VersionMismatch`),
  the CONFIG registers decoded into :class:`~rosvd.hw.svd.params.SVDParams` and compared
  with what the host expects (:class:`ConfigMismatch`, naming every differing field);
* :meth:`CoreDriver.decompose`: one matrix per transfer, packed as the top's
  ``MatrixUnpacker`` expects; results sign-extended and unpacked into the same
  :class:`~rosvd.hw.svd.model.Decomposition` the model returns, ``sweeps_run`` and
  :attr:`CoreDriver.cycles` read from SWEEPS_RUN and CYCLES; a short or long frame or
  ERRORS.framing is a :class:`StreamError`; a transport timeout soft-resets the SVD
  path and raises :class:`DriverTimeout`;
* :meth:`CoreDriver.entropy_words` / :meth:`CoreDriver.entropy`: waits for the start-up
  test, pops as many words as ENTROPY_FIFO_LEVEL says are there, and fails closed, all
  words of the request discarded, on an alarm latched before, during or after it
  (:class:`EntropyAlarm`) or on an ENTROPY_DATA read that found no word
  (ERRORS.empty_read: :class:`EmptyRead`); ``simulated`` is the OR of STATUS.simulated
  over the request's STATUS reads (the hardware says so, not a label here);
* :meth:`CoreDriver.soft_reset`, :meth:`CoreDriver.alarm_clear`.

Polling loops stop after ``timeout`` seconds of ``clock`` (:class:`DriverTimeout`);
between polls the driver calls ``pause()`` (a simulator lets cycles pass; on a board a
short sleep). Both are injectable, so tests run the timeouts without waiting.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np

from rosvd.entropy.conditioner import Conditioner
from rosvd.hw.entropy.params import EntropyParams
from rosvd.hw.svd.model import Decomposition, check_input
from rosvd.hw.svd.params import SVDParams
from rosvd.hw.top.axi_stream import AXIS_DATA_WIDTH
from rosvd.hw.top.register_map import ID_VALUE, REGISTER_MAP, VERSION_MAJOR

WORD_BITS = AXIS_DATA_WIDTH
WORD_MASK = (1 << WORD_BITS) - 1
#: The CONFIG registers, in offset order.
CONFIG_REGISTERS = tuple(reg.name for reg in REGISTER_MAP if reg.name.startswith("CONFIG"))


class RegisterAccess(Protocol):
    def read(self, offset: int) -> int:
        """The 32-bit word at byte ``offset``."""

    def write(self, offset: int, value: int) -> None:
        """Write a 32-bit word at byte ``offset``."""


class StreamTransport(Protocol):
    def send(self, words: Sequence[int]) -> None:
        """One transfer to ``s_axis``, TLAST on the last word; returns once it is sent."""

    def receive(self, count: int) -> list[int]:
        """One transfer from ``m_axis``: the words up to TLAST (at most ``count``)."""


class DriverError(RuntimeError):
    """The core refused, or answered something the driver cannot use."""


class NotRosvdCore(DriverError):
    """The ID register does not read "RSVD": another IP, or no IP, at this address."""


class VersionMismatch(DriverError):
    """The register map's major version is not the one this driver speaks."""


class ConfigMismatch(DriverError):
    """The core was built with other parameters than the host expects."""

    def __init__(self, differences: dict[str, tuple]):
        self.differences = differences
        listed = ", ".join(f"{name}: core {core}, host {host}" for name, (core, host) in differences.items())
        super().__init__(f"the core's CONFIG disagrees with the host's parameters ({listed})")


class EntropyAlarm(DriverError):
    """A health-test alarm is latched: no word is used until CONTROL.alarm_clear."""

    def __init__(self, status: dict[str, int], alarm_sample: int):
        self.status, self.alarm_sample = status, alarm_sample
        which = "+".join(name for name in ("alarm_rct", "alarm_apt") if status.get(name)) or "alarm"
        super().__init__(f"entropy source {which} latched (first alarm at sample {alarm_sample});"
                         " the request's words are discarded; clear it with CONTROL.alarm_clear")


class EmptyRead(DriverError):
    """An ENTROPY_DATA read found no word (ERRORS.empty_read): the FIFO changed under us."""


class StreamError(DriverError):
    """A result frame had the wrong length, or the core flagged ERRORS.framing."""


class DriverTimeout(DriverError, TimeoutError):
    """The core did not answer within the driver's (or the transport's) time budget."""


@dataclass(frozen=True)
class EntropyRead:
    words: list[int]
    simulated: bool      #: STATUS.simulated was set in some STATUS read of the request


@dataclass(frozen=True)
class ConditionedEntropy:
    data: bytes
    simulated: bool
    raw_words: int
    credited_bits: float     #: entropy credited per 32-byte block


def params_from_config(config: dict[str | int, int]) -> SVDParams:
    """:class:`SVDParams` from :meth:`RegisterMap.decode_config`'s ``{"svd.n": 8, ...}``
    (CONFIG_SVD2.skip_shift 0 means no threshold: ``None``)."""
    values = {f.name: config[f"svd.{f.name}"] for f in fields(SVDParams)}
    values["skip_shift"] = values["skip_shift"] or None
    return SVDParams(**values)


def pack_matrix(params: SVDParams, matrix: np.ndarray) -> list[int]:
    """s_axis words of one (n, n) matrix: row-major, ``32 // data_width`` elements a word,
    element i of a word in bits ``i*data_width`` up (the top's ``MatrixUnpacker``)."""
    lanes, width = WORD_BITS // params.data_width, params.data_width
    flat = [int(v) & ((1 << width) - 1) for v in np.asarray(matrix).ravel()]
    return [sum(v << (i * width) for i, v in enumerate(flat[start:start + lanes]))
            for start in range(0, len(flat), lanes)]


def to_signed(word: int, bits: int = WORD_BITS) -> int:
    word &= (1 << bits) - 1
    return word - (1 << bits) if word >> (bits - 1) else word


def unpack_results(params: SVDParams, frames: Sequence[Sequence[int]],
                   sweeps_run: Sequence[int]) -> Decomposition:
    """The :class:`Decomposition` of ``frames`` (m_axis words: n sigmas, then k vectors of n)."""
    n, k = params.n, params.k
    words = np.array([[to_signed(w) for w in frame] for frame in frames], dtype=np.int64)
    words = words.reshape(len(frames), -1)
    return Decomposition(sigma=words[:, :n], vectors=words[:, n:].reshape(-1, k, n),
                         sweeps_run=np.array(list(sweeps_run), dtype=np.int64))


class CoreDriver:
    """Drive one RosvdCore through ``registers`` and ``stream`` (see the module docstring).

    ``expect``: the parameters the host expects (``None``: take the core's); ``timeout``:
    seconds any polling loop may take; ``pause``: called between polls (default: a 1 ms
    sleep); ``clock``: the time source of the timeouts; ``min_entropy``: the assessed
    min-entropy per raw bit the conditioner credits (default: ``EntropyParams``').
    """

    def __init__(self, registers: RegisterAccess, stream: StreamTransport | None = None, *,
                 expect: SVDParams | None = None, timeout: float = 10.0,
                 pause: Callable[[], None] | None = None, clock: Callable[[], float] = time.monotonic,
                 min_entropy: float | None = None):
        self.registers, self.stream = registers, stream
        self.timeout, self.clock = timeout, clock
        self.pause = pause or (lambda: time.sleep(0.001))
        self.cycles: list[int] = []
        self.conditioner = Conditioner(min_entropy or EntropyParams().min_entropy)
        self.version = self._check_identity()
        self.config = self.read_config()
        self.params = params_from_config(self.config)
        if expect is not None:
            self._check_params(expect)

    # -- registers ---------------------------------------------------------------------
    def read(self, name: str) -> int:
        return self.registers.read(REGISTER_MAP.offset(name)) & WORD_MASK

    def write(self, name: str, **values: int) -> None:
        self.registers.write(REGISTER_MAP.offset(name), REGISTER_MAP.encode(name, **values))

    def fields(self, name: str) -> dict[str, int]:
        return REGISTER_MAP.decode(name, self.read(name))

    def read_config(self) -> dict[str | int, int]:
        """``{value path: int}`` of the CONFIG registers (``REGISTER_MAP.decode_config``)."""
        return REGISTER_MAP.decode_config({name: self.read(name) for name in CONFIG_REGISTERS})

    def _check_identity(self) -> dict[str, int]:
        ident = self.read("ID")
        if ident != ID_VALUE:
            raise NotRosvdCore(f"ID reads {ident:#010x}, not {ID_VALUE:#010x} (\"RSVD\"): no RosvdCore"
                               " at this address")
        version = self.fields("VERSION")
        if version["major"] != VERSION_MAJOR:
            raise VersionMismatch(f"register map version {version['major']}.{version['minor']}; this driver"
                                  f" speaks major version {VERSION_MAJOR}")
        return version

    def _check_params(self, expect: SVDParams) -> None:
        differences = {f.name: (getattr(self.params, f.name), getattr(expect, f.name))
                       for f in fields(SVDParams) if getattr(self.params, f.name) != getattr(expect, f.name)}
        stream = self.config["elements_per_word"], WORD_BITS // expect.data_width
        if stream[0] != stream[1]:
            differences["elements_per_word"] = stream
        words = self.config["svd.output_words"], expect.output_words
        if words[0] != words[1]:
            differences["output_words"] = words
        if differences:
            raise ConfigMismatch(differences)

    def _control(self, **pulses: int) -> None:
        """Write CONTROL with ``pulses`` set, the interrupt enables kept as they are."""
        current = self.fields("CONTROL")
        enables = {name: current[name] for name in ("irq_done_enable", "irq_alarm_enable")}
        self.write("CONTROL", **enables, **pulses)

    def soft_reset(self) -> None:
        """Reset the SVD engine, both stream adapters and the cycle timer (not the bus,
        the registers or the entropy source); clear ERRORS.framing."""
        self._control(soft_reset=1)
        self.write("ERRORS", framing=1)

    def alarm_clear(self) -> None:
        """The entropy source's host reset (alarms, counters, FIFO; start-up again), and
        IRQ_STATUS.alarm and ERRORS.empty_read cleared."""
        self._control(alarm_clear=1)
        self.write("IRQ_STATUS", alarm=1)
        self.write("ERRORS", empty_read=1)

    def _deadline(self) -> float:
        return self.clock() + self.timeout

    def _expired(self, deadline: float) -> bool:
        return self.clock() > deadline

    # -- SVD ---------------------------------------------------------------------------
    def wait_idle(self) -> None:
        """Wait until STATUS.busy is 0 (the engine holds no matrix or results)."""
        deadline = self._deadline()
        while self.fields("STATUS")["busy"]:
            if self._expired(deadline):
                raise DriverTimeout(f"STATUS.busy still set after {self.timeout} s")
            self.pause()

    def decompose(self, matrices) -> Decomposition:
        """Decompose an (n, n) or (B, n, n) batch on the core, one matrix per transfer."""
        if self.stream is None:
            raise DriverError("this driver has no stream transport (no DMA attached)")
        p = self.params
        batch = check_input(p, matrices)
        if self.fields("ERRORS")["framing"]:
            self.soft_reset()
        self.wait_idle()
        frames, sweeps, cycles = [], [], []
        for index, matrix in enumerate(batch):
            where = f"matrix {index} of {len(batch)}"
            try:
                self.stream.send(pack_matrix(p, matrix))
                frame = [int(w) & WORD_MASK for w in self.stream.receive(p.output_words)]
            except TimeoutError as error:
                self.soft_reset()
                raise DriverTimeout(f"{where}: the stream transfer timed out ({error}); the SVD path was"
                                    " soft-reset") from error
            if len(frame) != p.output_words:
                self.soft_reset()
                raise StreamError(f"{where}: {len(frame)} result words, expected {p.output_words}"
                                  " (TLAST misplaced); the SVD path was soft-reset")
            if self.fields("ERRORS")["framing"]:
                self.soft_reset()
                raise StreamError(f"{where}: the core flagged ERRORS.framing (TLAST not on the matrix's"
                                  " last word); the SVD path was soft-reset")
            frames.append(frame)
            sweeps.append(self.read("SWEEPS_RUN") & 0xFF)
            cycles.append(self.read("CYCLES"))
        self.cycles += cycles
        return unpack_results(p, frames, sweeps)

    # -- entropy -----------------------------------------------------------------------
    def _alarm(self, status: dict[str, int]) -> None:
        if status["alarm_rct"] or status["alarm_apt"]:
            raise EntropyAlarm(status, self.read("ENTROPY_ALARM_SAMPLE"))

    def entropy_words(self, count: int) -> EntropyRead:
        """``count`` raw 32-bit words from ENTROPY_DATA (see the module docstring)."""
        if count < 1:
            raise ValueError(f"at least one entropy word must be requested, not {count}")
        if self.fields("ERRORS")["empty_read"]:
            self.write("ERRORS", empty_read=1)          # a stale flag from before this request
        words: list[int] = []
        simulated = False
        deadline = self._deadline()
        while len(words) < count:
            status = self.fields("STATUS")
            simulated |= bool(status["simulated"])
            self._alarm(status)
            level = self.read("ENTROPY_FIFO_LEVEL") if status["entropy_healthy"] else 0
            if level == 0:
                if self._expired(deadline):
                    state = "no word in the FIFO" if status["entropy_healthy"] else "start-up not done"
                    raise DriverTimeout(f"{len(words)} of {count} entropy words after {self.timeout} s"
                                        f" ({state})")
                self.pause()
                continue
            words += [self.read("ENTROPY_DATA") for _ in range(min(level, count - len(words)))]
        status = self.fields("STATUS")
        simulated |= bool(status["simulated"])
        self._alarm(status)
        if self.fields("ERRORS")["empty_read"]:
            self.write("ERRORS", empty_read=1)
            raise EmptyRead("an ENTROPY_DATA read found no word (ERRORS.empty_read): the FIFO was"
                            " flushed or read by someone else; the request's words are discarded")
        return EntropyRead(words, simulated)

    def entropy(self, nbytes: int) -> ConditionedEntropy:
        """``nbytes`` conditioned bytes: raw words serialised little-endian (bit 0 of a word,
        its earliest sample, is bit 0 of its first byte), conditioned in whole blocks."""
        if nbytes < 1:
            raise ValueError(f"entropy request must be at least 1 byte, not {nbytes}")
        conditioner = self.conditioner
        raw_words = conditioner.raw_bytes_for(nbytes) // 4
        read = self.entropy_words(raw_words)
        raw = b"".join(w.to_bytes(4, "little") for w in read.words)
        blocks = conditioner.condition(raw, read.simulated)
        return ConditionedEntropy(b"".join(b.data for b in blocks)[:nbytes], read.simulated, raw_words,
                                  conditioner.credited_bits)
