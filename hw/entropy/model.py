"""Bit-exact software reference of the health tests and the word output (the specification).

The RTL (:class:`.source.EntropySource` with the ``raw_bit`` port, one sample per cycle,
``words.ready`` always high, no ``host_reset`` after the domain reset) must agree with
:func:`evaluate` on every input sequence: same first failing sample of each test, same
words released, in order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import EntropyParams


def _bits(samples) -> np.ndarray:
    bits = np.asarray(samples, dtype=np.uint8)
    if bits.ndim != 1 or (bits > 1).any():
        raise ValueError("samples must be a 1-D sequence of 0/1 values")
    return bits


def rct_first_failure(samples, params: EntropyParams) -> int | None:
    """Index of the first sample that completes a run of ``rct_cutoff`` identical samples."""
    bits = _bits(samples)
    cutoff = params.rct_cutoff
    if len(bits) < cutoff:
        return None
    starts = np.flatnonzero(np.concatenate(([True], bits[1:] != bits[:-1])))
    lengths = np.diff(np.append(starts, len(bits)))
    long_runs = np.flatnonzero(lengths >= cutoff)
    if not len(long_runs):
        return None
    return int(starts[long_runs[0]] + cutoff - 1)


def apt_window_counts(samples, params: EntropyParams) -> np.ndarray:
    """Final count of every complete window (samples equal to the window's first sample)."""
    bits = _bits(samples)
    w = params.apt_window
    windows = bits[: len(bits) // w * w].reshape(-1, w)
    return (windows == windows[:, :1]).sum(axis=1)


def apt_first_failure(samples, params: EntropyParams) -> int | None:
    """Index of the first sample at which a window's count reaches ``apt_cutoff``."""
    bits = _bits(samples)
    w, cutoff = params.apt_window, params.apt_cutoff
    padded = np.concatenate((bits, np.full((-len(bits)) % w, 2, dtype=np.uint8)))
    windows = padded.reshape(-1, w)
    counts = np.cumsum(windows == windows[:, :1], axis=1)
    hits = np.argwhere(counts >= cutoff)
    if not len(hits):
        return None
    window, offset = hits[0]                      # argwhere is in row-major order
    return int(window * w + offset)


@dataclass(frozen=True)
class Outcome:
    """What the source does with ``samples`` from reset on (always-ready consumer)."""

    rct_failure: int | None         # index of the first RCT-failing sample
    apt_failure: int | None
    startup_done: bool              # start-up test passed (no failure in its samples)
    words: list[int]                # words transferred, in order
    alarm_sample: int               # samples counted up to the first failing one (0: none)

    @property
    def first_failure(self) -> int | None:
        found = [i for i in (self.rct_failure, self.apt_failure) if i is not None]
        return min(found) if found else None


def evaluate(samples, params: EntropyParams) -> Outcome:
    """Reference outcome of feeding ``samples`` one per cycle after reset, ``ready`` high."""
    bits = _bits(samples)
    rct, apt = rct_first_failure(bits, params), apt_first_failure(bits, params)
    found = [i for i in (rct, apt) if i is not None]
    fail = min(found) if found else None
    start = params.startup_samples
    startup_done = fail is None or fail >= start
    words = []
    width = params.word_width
    if startup_done:
        # Samples enter words only before the first failure; the word built from samples
        # [j-31 .. j] is offered in cycle j+1 and withdrawn if sample j+1 fails.
        usable_end = len(bits) if fail is None else fail
        for first in range(start, usable_end - width + 1, width):
            last = first + width - 1
            if fail is not None and fail <= last + 1:
                break
            if last + 1 >= len(bits):
                break                           # offered after the input ended: not transferred
            chunk = bits[first:first + width].astype(np.uint64)
            words.append(int((chunk << np.arange(width, dtype=np.uint64)).sum()))
    return Outcome(rct, apt, bool(startup_done), words, 0 if fail is None else fail + 1)
