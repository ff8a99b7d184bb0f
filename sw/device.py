"""Device backends behind one interface: what the host asks of an RO-SVD core.

A device decomposes batches of N x N matrices (the SVD engine) and yields conditioned
entropy (the RO source). Backends: ``model`` (the bit-exact Python model: the default
and what verifiers use), later ``rtl`` (Verilator co-simulation) and ``pynq`` (a board).

Entropy carries a ``simulated`` flag: until the RO source and its health tests run on a
board, the model backend's entropy comes from the operating system and is labelled
simulated; the ``rtl`` backend's comes from the RO source's RTL in Amaranth's simulator,
whose STATUS register reports ``simulated``. The host refuses simulated entropy unless it runs in dev mode.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .hw.svd.model import Decomposition
from .hw.svd.params import SVDParams


@dataclass(frozen=True)
class Entropy:
    """Conditioned entropy bytes from a device."""

    data: bytes
    simulated: bool   #: True unless the bytes come from a health-tested physical source


class SimulatedEntropyRefused(RuntimeError):
    """Production mode asked for entropy and the device only has a simulated source."""


class Device(Protocol):
    params: SVDParams
    kind: str

    def decompose(self, matrices: np.ndarray) -> Decomposition:
        """Decompose a (B, n, n) batch exactly as the engine does."""

    def entropy(self, nbytes: int) -> Entropy:
        """``nbytes`` of conditioned entropy."""


class ModelDevice:
    """The bit-exact model as a device; entropy from the OS, labelled simulated."""

    kind = "model"

    def __init__(self, params: SVDParams | None = None):
        self.params = params or SVDParams()

    def decompose(self, matrices: np.ndarray) -> Decomposition:
        from .fast_model import decompose
        return decompose(self.params, matrices)

    def entropy(self, nbytes: int) -> Entropy:
        if nbytes < 1:
            raise ValueError(f"entropy request must be at least 1 byte, not {nbytes}")
        return Entropy(os.urandom(nbytes), simulated=True)


class RtlDevice(ModelDevice):
    """The engine's Verilog simulated by Verilator (or Icarus), driven over its streams.

    Decompositions come from the RTL; with ``cross_check`` each batch is also run on the
    model and a mismatch raises. Entropy comes from the RO source's RTL (registers, FIFO,
    health tests) in Amaranth's simulator through the host driver
    (:func:`simulated_ro_entropy`); its STATUS.simulated bit is 1, so it is labelled
    simulated and refused outside dev mode. Slow (~0.5 s per n=32 matrix on Verilator, plus a
    one-off build): for demos and co-simulation, not throughput.
    """

    kind = "rtl"

    def __init__(self, params: SVDParams | None = None, simulator: str = "verilator",
                 cross_check: bool = True):
        super().__init__(params)
        self.simulator, self.cross_check = simulator, cross_check
        self.cycles: list[int] = []
        self.entropy_source = simulated_ro_entropy()

    def entropy(self, nbytes: int) -> Entropy:
        return self.entropy_source.entropy(nbytes)

    def decompose(self, matrices: np.ndarray) -> Decomposition:
        from .sim.svd_bench import rtl_decompose
        p = self.params
        records = rtl_decompose(p, matrices, simulator=self.simulator)
        words = np.array([record["words"] for record in records], dtype=np.int64).reshape(len(records), -1)
        result = Decomposition(sigma=words[:, :p.n], vectors=words[:, p.n:].reshape(-1, p.k, p.n),
                               sweeps_run=np.array([r["sweeps_run"] for r in records], dtype=np.int64))
        self.cycles += [record["cycles"] for record in records]
        if self.cross_check:
            model = super().decompose(matrices)
            same = np.array_equal(model.sigma, result.sigma) and np.array_equal(model.vectors, result.vectors)
            if not same:
                raise RuntimeError("RTL output differs from the bit-exact model")
        return result


class ROSourceEntropy:
    """Entropy from the RO source's register interface through the host driver.

    ``driver`` is a :class:`rosvd.entropy.source_driver.SourceDriver` (over the
    Amaranth simulator, Verilator, or later PYNQ MMIO). ``simulated`` in the result is
    what the source's STATUS register said, so :func:`fresh_entropy` refuses it exactly
    when the hardware reports a simulated noise input.
    """

    def __init__(self, driver):
        self.driver = driver

    def entropy(self, nbytes: int) -> Entropy:
        if nbytes < 1:
            raise ValueError(f"entropy request must be at least 1 byte, not {nbytes}")
        out = self.driver.conditioned(nbytes)
        return Entropy(out.data, simulated=out.simulated)


def simulated_ro_entropy(seed: int | None = None, params=None) -> ROSourceEntropy:
    """The RO source's RTL in Amaranth's simulator, fed by the software jitter model.

    STATUS.simulated reads 1 (no Xilinx platform), so this entropy is always labelled
    simulated. Each call to ``entropy`` runs a fresh, short simulation (start-up test plus
    the raw words needed; ~0.3 s for 32 bytes, ~0.7 s for 256). ``seed`` (default: from the OS, so two
    runs do not repeat) seeds the jitter model.
    """
    return ROSourceEntropy(_PysimDriverFactory(seed, params))


class _PysimDriverFactory:
    """Builds a fresh simulator + driver per request, sized for it."""

    def __init__(self, seed, params):
        self.seed, self.params = seed, params

    def conditioned(self, nbytes: int):
        from .entropy.source_driver import SourceDriver
        from .hw.entropy.params import EntropyParams
        from .sim.entropy_model import JitterModel
        from .sim.entropy_pysim import RegisterSim

        params = self.params or EntropyParams()
        seed = self.seed if self.seed is not None else int.from_bytes(os.urandom(8), "big")
        if self.seed is not None:
            self.seed += 1
        raw_bits = -(-nbytes // 32) * 1024
        cycles = params.startup_samples + 4 * raw_bits + 4096
        bits = JitterModel.bank(params.oscillators, seed=seed).bits(cycles)
        with RegisterSim(params, bits, fifo_depth=64) as sim:
            driver = SourceDriver(sim.read, sim.write, idle=sim.idle,
                                  min_entropy=params.min_entropy)
            return driver.conditioned(nbytes)


def fresh_entropy(device: Device, nbytes: int, dev_mode: bool) -> bytes:
    """Entropy for keys and commitments; refuses a simulated source outside dev mode."""
    drawn = device.entropy(nbytes)
    if drawn.simulated and not dev_mode:
        raise SimulatedEntropyRefused(
            f"the {device.kind} device's entropy is simulated; refusing it outside dev mode"
            " (pass --dev for development, or use a board with a health-tested RO source)")
    return drawn.data


def open_device(kind: str = "model", params: SVDParams | None = None) -> Device:
    if kind == "model":
        return ModelDevice(params)
    if kind == "rtl":
        return RtlDevice(params)
    raise ValueError(f"unknown device backend {kind!r}; available: model, rtl")
