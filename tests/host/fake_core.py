"""A register- and stream-level stand-in for RosvdCore, built from the register map.

Const fields come from :func:`rosvd.hw.top.core.config_constants`; results come from the
specification model. Knobs make it misbehave the ways the driver must notice: a wrong
ID or VERSION, an entropy source that never gets healthy, a latched alarm, a FIFO level
that promises words DATA does not have, a stream that times out or cuts a frame short.
"""
from __future__ import annotations

import numpy as np

from rosvd.hw.svd.model import decompose
from rosvd.hw.top.core import CoreParams, config_constants
from rosvd.hw.top.register_map import EMPTY_READ_VALUE, REGISTER_MAP, Kind

WORD_MASK = 0xFFFF_FFFF


class FakeCore:
    def __init__(self, params: CoreParams, *, healthy_after: int = 0, entropy_words: int = 1000,
                 seed: int = 1):
        self.params = params
        self.values = {(reg.name, f.name): 0 for reg in REGISTER_MAP for f in reg.fields}
        self.values.update(config_constants(params))
        self.values[("STATUS", "simulated")] = 1
        self.healthy_after = healthy_after          # STATUS polls before start-up is done
        self.rng = np.random.default_rng(seed)
        self.fifo = [int(w) for w in self.rng.integers(0, 1 << 32, size=entropy_words, dtype=np.uint64)]
        self.level_lies = False                     # FIFO_LEVEL says 1 more than there is
        self.trickle = None                         # words arriving per STATUS read (None: all there)
        self.visible = 0
        self.alarm_after_reads = None               # raise alarm_rct after this many DATA reads
        self.stream_timeout = False
        self.truncate = 0                           # result words cut from each frame
        self.flag_framing = False
        self.frames: list[list[int]] = []
        self.sent: list[list[int]] = []
        self.writes: list[tuple[str, int]] = []
        self.data_reads = 0
        self.status_reads = 0

    # -- register access ---------------------------------------------------------------
    def _register(self, offset: int):
        for reg in REGISTER_MAP:
            if reg.offset == offset:
                return reg
        raise AssertionError(f"SLVERR: no register at {offset:#x}")

    def _live(self):
        v = self.values
        healthy = self.status_reads > self.healthy_after and not (v[("STATUS", "alarm_rct")]
                                                                  or v[("STATUS", "alarm_apt")])
        v[("STATUS", "entropy_healthy")] = int(healthy)
        present = len(self.fifo) if self.trickle is None else min(self.visible, len(self.fifo))
        level = present + int(self.level_lies) if healthy else 0
        v[("ENTROPY_FIFO_LEVEL", "value")] = level
        v[("STATUS", "entropy_ready")] = int(healthy and bool(self.fifo))
        v[("STATUS", "error")] = int(any(v[("ERRORS", f.name)] for f in REGISTER_MAP["ERRORS"].fields))

    def read(self, offset: int) -> int:
        reg = self._register(offset)
        if reg.name == "STATUS":
            self.status_reads += 1
            self.visible += self.trickle or 0
        self._live()
        if reg.name == "ENTROPY_DATA":
            return self._pop()
        word = 0
        for f in reg.fields:
            if f.kind is not Kind.PULSE:
                word |= (self.values[(reg.name, f.name)] & ((1 << f.width) - 1)) << f.lsb
        return word

    def _pop(self) -> int:
        self.data_reads += 1
        if self.alarm_after_reads is not None and self.data_reads > self.alarm_after_reads:
            self.raise_alarm()
        present = self.fifo and (self.trickle is None or self.visible > 0)
        if not self.values[("STATUS", "entropy_healthy")] or not present:
            self.values[("ERRORS", "empty_read")] = 1
            return EMPTY_READ_VALUE
        if self.trickle is not None:
            self.visible -= 1
        return self.fifo.pop(0)

    def raise_alarm(self, which: str = "alarm_rct"):
        self.values[("STATUS", which)] = 1
        self.values[("IRQ_STATUS", "alarm")] = 1
        self.values[("ENTROPY_ALARM_SAMPLE", "value")] = 1234

    def write(self, offset: int, value: int) -> None:
        reg = self._register(offset)
        self.writes.append((reg.name, value))
        decoded = REGISTER_MAP.decode(reg.name, value)
        if reg.access.value == "RO":
            self.values[("ERRORS", "read_only_write")] = 1
            raise AssertionError(f"SLVERR: write to read-only {reg.name}")
        for f in reg.fields:
            if f.kind is Kind.RW:
                self.values[(reg.name, f.name)] = decoded[f.name]
            elif f.kind is Kind.W1C and decoded[f.name]:
                self.values[(reg.name, f.name)] = 0
        if reg.name == "CONTROL" and decoded["alarm_clear"]:
            for name in ("alarm_rct", "alarm_apt"):
                self.values[("STATUS", name)] = 0
            self.status_reads = 0
        if reg.name == "CONTROL" and decoded["soft_reset"]:
            self.frames.clear()

    # -- stream ------------------------------------------------------------------------
    def send(self, words) -> None:
        if self.stream_timeout:
            raise TimeoutError("MM2S transfer not done")
        words = [int(w) for w in words]
        self.sent.append(words)
        p = self.params.svd
        lanes = 32 // p.data_width
        mask = (1 << p.data_width) - 1
        elements = [(w >> (i * p.data_width)) & mask for w in words for i in range(lanes)]
        elements = [e - (1 << p.data_width) if e >> (p.data_width - 1) else e for e in elements[:p.n * p.n]]
        result = decompose(p, np.array(elements, dtype=np.int64).reshape(1, p.n, p.n))
        frame = [w & WORD_MASK for w in result.words(0)]
        self.frames.append(frame[:len(frame) - self.truncate] if self.truncate else frame)
        self.values[("SWEEPS_RUN", "value")] = int(result.sweeps_run[0])
        self.values[("CYCLES", "value")] = 1000 + len(self.sent)
        if self.flag_framing:
            self.values[("ERRORS", "framing")] = 1

    def receive(self, count: int) -> list[int]:
        if not self.frames:
            raise TimeoutError("S2MM transfer not done")
        return self.frames.pop(0)[:count]


class FakeClock:
    """A clock that advances only when the driver pauses."""

    def __init__(self, step: float = 0.5):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        return self.now

    def pause(self) -> None:
        self.now += self.step
