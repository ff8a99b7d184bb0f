"""Device backends behind one interface: what the host asks of an RO-SVD core.

A device decomposes batches of N x N matrices (the SVD engine) and yields conditioned
entropy (the RO source). Backends: ``model`` (the bit-exact Python model: the default
and what verifiers use), ``rtl`` (the AXI top in Verilator, through the host driver and
the simulation bridge) and ``pynq`` (the same driver on a board's MMIO and AXI DMA).

Entropy carries a ``simulated`` flag: until the RO source and its health tests run on a
board, the model backend's entropy comes from the operating system and is labelled
simulated; the ``rtl`` backend's comes from the top's RO source RTL, whose STATUS register
reports ``simulated``. The host refuses simulated entropy unless it runs in dev mode.
"""
from __future__ import annotations

import os
import threading
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


class CoreDevice:
    """A RosvdCore behind the host driver (:class:`rosvd.driver.core.CoreDriver`):
    decompositions and entropy both come from the core, through its registers and streams.

    The driver is opened on first use (:meth:`_open_driver`, by the subclass) and released
    by :meth:`close` (or ``with``). With ``cross_check``, every decomposition is compared,
    sigma, vectors and sweeps run, with the specification model
    (:data:`rosvd.device_selftest.reference_decompose`, ``rosvd.hw.svd.model``) and a
    mismatch raises :class:`DeviceMismatch`; :attr:`compared` and :attr:`mismatches`
    count what was actually compared, so a report can print the comparison it made.
    Entropy is what the core's FIFO gave, ``simulated`` as its STATUS register said.
    Calls are serialised: the driver is not thread-safe.
    """

    kind = "core"

    def __init__(self, params: SVDParams | None = None, cross_check: bool = True):
        self.params = params or SVDParams()
        self.cross_check = cross_check
        self.cycles: list[int] = []
        #: Decompositions compared with the specification model, and how many differed.
        self.compared = self.mismatches = 0
        self._driver = None
        self._lock = threading.RLock()

    def _open_driver(self):
        raise NotImplementedError

    @property
    def driver(self):
        with self._lock:
            if self._driver is None:
                self._driver = self._open_driver()
            return self._driver

    def close(self) -> None:
        """Release the core (subclasses stop what they started)."""
        self._driver = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def decompose(self, matrices: np.ndarray) -> Decomposition:
        with self._lock:
            driver = self.driver
            result = driver.decompose(matrices)
            self.cycles += driver.cycles[-len(result.sigma):]
        if self.cross_check:
            from .device_selftest import mismatched
            from .hw.svd.model import check_input
            differ = mismatched(self.params, result, check_input(self.params, matrices))
            self.compared += len(result.sigma)
            self.mismatches += len(differ)
            if differ:
                raise DeviceMismatch(f"the {self.kind} device's results for matrices {differ} differ from"
                                     " the specification model (rosvd.hw.svd.model)")
        return result

    def entropy(self, nbytes: int) -> Entropy:
        if nbytes < 1:
            raise ValueError(f"entropy request must be at least 1 byte, not {nbytes}")
        with self._lock:
            drawn = self.driver.entropy(nbytes)
        return Entropy(drawn.data, simulated=drawn.simulated)


class DeviceMismatch(RuntimeError):
    """A device's decomposition differs from the specification model."""


class RtlDevice(CoreDevice):
    """The whole top (``RosvdCore``: AXI4-Lite, AXI4-Stream, engine, entropy source) in
    Verilator (or Icarus), driven by the host driver through the simulation bridge
    (:class:`rosvd.driver.sim_bridge.SimBridge`): the code a board runs, against the RTL.

    One simulation serves the device's lifetime (started on first use, a one-off build of
    a minute or two, then ~0.5 s per n=32 matrix); :meth:`close` stops it. Its entropy input
    is seeded random bits (``seed``; default from the OS, so two runs differ) and STATUS
    says ``simulated``, so it is refused outside dev mode.
    """

    kind = "rtl"

    def __init__(self, params: SVDParams | None = None, simulator: str = "verilator",
                 cross_check: bool = True, seed: int | None = None):
        super().__init__(params, cross_check)
        self.simulator = simulator
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
        self._bridge = None

    def _open_driver(self):
        from .device_selftest import rtl_core_params
        from .driver.core import CoreDriver
        from .driver.sim_bridge import SimBridge
        bridge = SimBridge(rtl_core_params(self.params), simulator=self.simulator, seed=self.seed,
                           idle_timeout=RTL_IDLE_TIMEOUT_S)
        bridge.__enter__()
        try:
            driver = CoreDriver(bridge, bridge, expect=self.params, pause=bridge.idle, timeout=60.0)
        except BaseException:
            bridge.__exit__(None, None, None)
            raise
        self._bridge = bridge
        return driver

    @property
    def bridge_requests(self) -> int:
        """Bus and stream requests forwarded to the simulation so far."""
        return self._bridge.requests if self._bridge is not None else 0

    def close(self) -> None:
        with self._lock:
            bridge, self._bridge = self._bridge, None
            super().close()
            if bridge is not None:
                bridge.__exit__(None, None, None)


#: Wall-clock seconds the RTL device's simulation waits for the host's next request before
#: it gives up (a host that exits closes the connection and stops it at once).
RTL_IDLE_TIMEOUT_S = 3600.0


class PynqDevice(CoreDevice):
    """RosvdCore on a PYNQ board (:func:`rosvd.driver.pynq_core.open_board`), loading the
    overlay ``overlay`` (default ``$ROSVD_OVERLAY``). Unverified: no board has run it."""

    kind = "pynq"

    def __init__(self, params: SVDParams | None = None, overlay: str | None = None,
                 cross_check: bool = False):
        super().__init__(params, cross_check)
        self.overlay = overlay or os.environ.get(OVERLAY_ENV)
        if not self.overlay:
            raise ValueError(f"the pynq device needs an overlay: set {OVERLAY_ENV} to the .bit file"
                             " (RosvdCore and an AXI DMA)")

    def _open_driver(self):
        from .driver.pynq_core import open_board
        return open_board(self.overlay, expect=self.params)


#: Where the pynq device finds its overlay when none is given.
OVERLAY_ENV = "ROSVD_OVERLAY"


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


#: The backends :func:`open_device` knows.
DEVICE_KINDS = ("model", "rtl", "pynq")


def open_device(kind: str = "model", params: SVDParams | None = None) -> Device:
    """A device of ``kind``; release it with :func:`close_device` (the RTL device runs a
    simulator, the pynq device holds a board)."""
    if kind == "model":
        return ModelDevice(params)
    if kind == "rtl":
        return RtlDevice(params)
    if kind == "pynq":
        return PynqDevice(params)
    raise ValueError(f"unknown device backend {kind!r}; available: {', '.join(DEVICE_KINDS)}")


def close_device(device: Device) -> None:
    """Release what ``device`` holds (a simulation, a board); nothing for the model."""
    close = getattr(device, "close", None)
    if close is not None:
        close()
