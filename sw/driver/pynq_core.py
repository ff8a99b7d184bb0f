"""The board-facing glue: RosvdCore on PYNQ, through MMIO and an AXI DMA. Thin on purpose.

When ``pynq`` is importable, :class:`RosvdCoreIP` is a ``pynq.DefaultIP`` bound by VLNV
(:data:`VLNV`, ``bindto``), so ``Overlay(...)`` gives the core's IP object this class;
its :meth:`RosvdCoreIP.driver` attaches an AXI DMA (``pynq.lib.dma.DMA``) and returns a
:class:`rosvd.driver.core.CoreDriver`, where all the logic lives. :class:`MmioRegisters`
maps the driver's ``read``/``write`` onto the IP's; :class:`DmaStream` maps ``send`` and
``receive`` onto ``pynq.allocate`` buffers and one ``sendchannel``/``recvchannel``
``transfer`` each, polling the channel's ``idle`` against a deadline (PYNQ's ``wait``
spins forever).

Unverified: no board has run this; the VLNV is the one ``rosvd boards build`` packages the
core under (``ip/component.xml``, ``docs/boards.md``), never yet loaded by Vivado.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from rosvd.hw.svd.params import SVDParams
from rosvd.hw.top.identity import AXI_DMA_VLNV, VLNV

from .core import CoreDriver, DriverError, DriverTimeout

#: AXI DMA's S2MM_LENGTH register (PG021): after a simple-mode S2MM transfer completes it
#: holds the bytes actually written, so a frame shorter than the buffer is seen.
S2MM_LENGTH_OFFSET = 0x58


class PynqUnavailable(DriverError):
    """``pynq`` is not importable here (not a PYNQ board image)."""


def import_pynq():
    try:
        import pynq
    except ImportError as error:
        raise PynqUnavailable(f"the pynq device needs the pynq package on a PYNQ board image ({error});"
                              " use --device model or --device rtl here") from None
    return pynq


class MmioRegisters:
    """:class:`~rosvd.driver.core.RegisterAccess` over an object with PYNQ's ``read``/``write``."""

    def __init__(self, ip):
        self.ip = ip

    def read(self, offset: int) -> int:
        return int(self.ip.read(offset))

    def write(self, offset: int, value: int) -> None:
        self.ip.write(offset, int(value))


class DmaStream:
    """:class:`~rosvd.driver.core.StreamTransport` over an AXI DMA in simple mode."""

    def __init__(self, dma, allocate, *, timeout: float = 5.0, poll: float = 0.0005):
        self.dma, self.allocate, self.timeout, self.poll = dma, allocate, timeout, poll

    def _wait(self, channel, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not channel.idle:
            if time.monotonic() > deadline:
                raise DriverTimeout(f"AXI DMA {what} not idle after {self.timeout} s")
            time.sleep(self.poll)

    def _buffer(self, count: int):
        return self.allocate(shape=(count,), dtype=np.uint32)

    @staticmethod
    def _free(buffer) -> None:
        free = getattr(buffer, "freebuffer", None)
        if free is not None:
            free()

    def send(self, words: Sequence[int]) -> None:
        buffer = self._buffer(len(words))
        try:
            buffer[:] = np.asarray(words, dtype=np.uint32)
            self.dma.sendchannel.transfer(buffer)
            self._wait(self.dma.sendchannel, "MM2S (send)")
        finally:
            self._free(buffer)

    def receive(self, count: int) -> list[int]:
        buffer = self._buffer(count)
        try:
            self.dma.recvchannel.transfer(buffer)
            self._wait(self.dma.recvchannel, "S2MM (receive)")
            received = int(self.dma.mmio.read(S2MM_LENGTH_OFFSET)) // 4
            return [int(w) for w in buffer[:min(received, count)]]
        finally:
            self._free(buffer)


def define_ip_class(pynq):
    """``RosvdCoreIP``, a ``pynq.DefaultIP`` subclass bound to :data:`VLNV` (defining it
    registers it with PYNQ, so do it once per ``pynq`` module)."""

    class RosvdCoreIP(pynq.DefaultIP):
        """RosvdCore in an overlay: ``ip.driver(overlay.axi_dma_0)`` gives its CoreDriver."""

        bindto = [VLNV]

        def __init__(self, description):
            super().__init__(description=description)

        def driver(self, dma, *, expect: SVDParams | None = None, timeout: float = 5.0) -> CoreDriver:
            return CoreDriver(MmioRegisters(self), DmaStream(dma, pynq.allocate, timeout=timeout),
                              expect=expect, timeout=timeout)

    return RosvdCoreIP


def open_board(overlay_path: str, *, expect: SVDParams | None = None, timeout: float = 5.0) -> CoreDriver:
    """Load ``overlay_path`` and return the driver of its RosvdCore and AXI DMA."""
    pynq = import_pynq()
    overlay = pynq.Overlay(overlay_path)
    by_type = {}
    for name, entry in overlay.ip_dict.items():
        by_type.setdefault(entry.get("type"), []).append(name)
    for vlnv in (VLNV, AXI_DMA_VLNV):
        if len(by_type.get(vlnv, [])) != 1:
            found = by_type.get(vlnv, [])
            raise DriverError(f"overlay {overlay_path}: expected one {vlnv} IP, found {found}")
    core = getattr(overlay, by_type[VLNV][0])
    dma = getattr(overlay, by_type[AXI_DMA_VLNV][0])
    if not hasattr(core, "driver"):
        raise DriverError(f"overlay {overlay_path}: {by_type[VLNV][0]} was not bound to RosvdCoreIP")
    return core.driver(dma, expect=expect, timeout=timeout)


try:
    import pynq as _pynq
except ImportError:
    _pynq = None
RosvdCoreIP = define_ip_class(_pynq) if _pynq is not None else None
