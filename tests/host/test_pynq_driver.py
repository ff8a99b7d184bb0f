"""The thin PYNQ glue, with a fake ``pynq`` module in ``sys.modules`` (pynq is not
installable here): binding by VLNV, MMIO read/write, pynq.allocate and AXI DMA calls."""
from __future__ import annotations

import importlib
import sys
import types

import numpy as np
import pytest

from rosvd.driver import pynq_core
from rosvd.driver.core import DriverTimeout
from rosvd.hw.svd.model import decompose
from rosvd.sim.svd_cases import random_matrices

from .fake_core import FakeCore
from .test_core_driver import PARAMS, SVD


class FakeBuffer(np.ndarray):
    freed = False

    def freebuffer(self):
        self.freed = True


def fake_pynq(log: list):
    module = types.ModuleType("pynq")
    module.registry = {}

    class DefaultIP:
        def __init_subclass__(cls, **kwargs):
            super().__init_subclass__(**kwargs)
            for vlnv in getattr(cls, "bindto", []):
                module.registry[vlnv] = cls

        def __init__(self, description):
            self.description = description
            self.mmio = description["mmio"]

        def read(self, offset):
            log.append(("mmio.read", offset))
            return self.mmio.read(offset)

        def write(self, offset, value):
            log.append(("mmio.write", offset, value))
            self.mmio.write(offset, value)

    def allocate(shape, dtype):
        log.append(("allocate", shape, np.dtype(dtype)))
        buffer = np.zeros(shape, dtype=dtype).view(FakeBuffer)
        module.buffers.append(buffer)
        return buffer

    module.DefaultIP, module.allocate, module.buffers = DefaultIP, allocate, []
    return module


class FakeChannel:
    def __init__(self, name, core, log, dma):
        self.name, self.core, self.log, self.dma = name, core, log, dma
        self.idle = True
        self.stuck = False

    def transfer(self, buffer):
        self.log.append((f"{self.name}.transfer", buffer.shape))
        if self.stuck:
            self.idle = False
            return
        if self.name == "sendchannel":
            self.core.send([int(w) for w in buffer])
        else:
            frame = self.core.receive(len(buffer))
            buffer[:len(frame)] = frame
            self.dma.s2mm_bytes = 4 * len(frame)


class FakeDma:
    def __init__(self, core, log):
        self.s2mm_bytes = 0
        self.sendchannel = FakeChannel("sendchannel", core, log, self)
        self.recvchannel = FakeChannel("recvchannel", core, log, self)
        self.mmio = types.SimpleNamespace(read=lambda offset: self.s2mm_bytes if offset == 0x58 else 0)


@pytest.fixture
def with_pynq(monkeypatch):
    log: list = []
    module = fake_pynq(log)
    monkeypatch.setitem(sys.modules, "pynq", module)
    yield importlib.reload(pynq_core), module, log
    monkeypatch.delitem(sys.modules, "pynq")
    importlib.reload(pynq_core)


def test_bound_by_vlnv_and_drives_through_mmio_and_dma(with_pynq):
    glue, pynq, log = with_pynq
    assert pynq.registry[glue.VLNV] is glue.RosvdCoreIP
    core = FakeCore(PARAMS)
    ip = glue.RosvdCoreIP({"mmio": core})
    driver = ip.driver(FakeDma(core, log), expect=SVD)
    assert ("mmio.read", 0x000) in log and ("mmio.read", 0x004) in log     # ID, VERSION through MMIO
    matrices = random_matrices(SVD, 2, seed=3)
    got, want = driver.decompose(matrices), decompose(SVD, matrices)
    assert np.array_equal(got.sigma, want.sigma) and np.array_equal(got.vectors, want.vectors)
    words_in = -(-SVD.n * SVD.n // 2)
    assert log.count(("allocate", (words_in,), np.dtype(np.uint32))) == 2
    assert log.count(("allocate", (SVD.output_words,), np.dtype(np.uint32))) == 2
    assert log.count(("sendchannel.transfer", (words_in,))) == 2
    assert all(buffer.freed for buffer in pynq.buffers)
    driver.soft_reset()
    assert ("mmio.write", 0x040, 1) in log                                  # CONTROL.soft_reset


def test_dma_timeout(with_pynq):
    glue, _, log = with_pynq
    core = FakeCore(PARAMS)
    dma = FakeDma(core, log)
    dma.sendchannel.stuck = True
    driver = glue.RosvdCoreIP({"mmio": core}).driver(dma, timeout=0.05)
    with pytest.raises(DriverTimeout, match="MM2S"):
        driver.decompose(random_matrices(SVD, 1, seed=3))


def test_open_board_finds_core_and_dma(with_pynq, monkeypatch):
    glue, pynq, log = with_pynq
    core = FakeCore(PARAMS)

    class Overlay:
        def __init__(self, path):
            self.ip_dict = {"rosvd_core_0": {"type": glue.VLNV}, "axi_dma_0": {"type": glue.AXI_DMA_VLNV}}
            self.rosvd_core_0 = pynq.registry[glue.VLNV]({"mmio": core})
            self.axi_dma_0 = FakeDma(core, log)

    monkeypatch.setattr(pynq, "Overlay", Overlay, raising=False)
    driver = glue.open_board("rosvd.bit", expect=SVD)
    assert driver.params == SVD


def test_without_pynq(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynq", None)           # import pynq raises ImportError
    glue = importlib.reload(pynq_core)
    try:
        assert glue.RosvdCoreIP is None
        with pytest.raises(glue.PynqUnavailable, match="pynq package"):
            glue.open_board("rosvd.bit")
    finally:
        monkeypatch.delitem(sys.modules, "pynq")
        importlib.reload(pynq_core)
