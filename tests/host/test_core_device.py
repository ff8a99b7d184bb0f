"""The driver-backed device (``CoreDevice``, behind ``rtl`` and ``pynq``) against the fake
core: results, the comparison it counts, entropy's ``simulated`` from STATUS, lifetime."""
from __future__ import annotations

import numpy as np
import pytest

from rosvd import certify, device_selftest
from rosvd.device import (
    CoreDevice,
    DeviceMismatch,
    ModelDevice,
    PynqDevice,
    SimulatedEntropyRefused,
    fresh_entropy,
    open_device,
)
from rosvd.driver.core import CoreDriver
from rosvd.hw.svd.model import Decomposition, decompose
from rosvd.sim.svd_cases import random_matrices

from .fake_core import FakeClock, FakeCore
from .test_core_driver import PARAMS, SVD


class FakeCoreDevice(CoreDevice):
    kind = "fake"

    def __init__(self, core: FakeCore, **kwargs):
        super().__init__(SVD, **kwargs)
        self.core, self.opened, self.closed = core, 0, 0

    def _open_driver(self):
        self.opened += 1
        clock = FakeClock()
        return CoreDriver(self.core, self.core, expect=SVD, clock=clock, pause=clock.pause, timeout=5.0)

    def close(self):
        self.closed += 1
        super().close()


def test_results_come_from_the_core_and_are_counted_as_compared():
    core = FakeCore(PARAMS)
    device = FakeCoreDevice(core)
    assert device.opened == 0                                   # opened on first use only
    batch = random_matrices(SVD, 3, 5)
    got = device.decompose(batch)
    want = decompose(SVD, batch)
    assert np.array_equal(got.sigma, want.sigma) and np.array_equal(got.vectors, want.vectors)
    assert len(core.sent) == 3 and device.opened == 1
    assert (device.compared, device.mismatches) == (3, 0)
    assert device.cycles == [1001, 1002, 1003]                  # CYCLES as the core reported them
    device.decompose(batch[0])
    assert device.compared == 4 and device.opened == 1


def test_a_result_unlike_the_specification_model_raises(monkeypatch):
    def perturbed(params, batch):
        exact = decompose(params, batch)
        vectors = exact.vectors.copy()
        vectors[1, 0, 0] ^= 1
        return Decomposition(exact.sigma, vectors, exact.sweeps_run)

    monkeypatch.setattr(device_selftest, "reference_decompose", perturbed)
    device = FakeCoreDevice(FakeCore(PARAMS))
    with pytest.raises(DeviceMismatch, match=r"matrices \[1\] differ"):
        device.decompose(random_matrices(SVD, 2, 6))
    assert (device.compared, device.mismatches) == (2, 1)
    unchecked = FakeCoreDevice(FakeCore(PARAMS), cross_check=False)
    unchecked.decompose(random_matrices(SVD, 2, 6))
    assert unchecked.compared == 0


def test_entropy_is_labelled_by_the_status_register():
    core = FakeCore(PARAMS)
    device = FakeCoreDevice(core)
    drawn = device.entropy(32)
    assert len(drawn.data) == 32 and drawn.simulated
    with pytest.raises(SimulatedEntropyRefused):
        fresh_entropy(device, 32, dev_mode=False)
    core.values[("STATUS", "simulated")] = 0
    assert len(fresh_entropy(device, 32, dev_mode=False)) == 32
    with pytest.raises(ValueError, match="at least 1 byte"):
        device.entropy(0)


def test_close_releases_the_driver_and_the_next_use_reopens():
    device = FakeCoreDevice(FakeCore(PARAMS))
    with device:
        device.entropy(8)
    assert device.closed == 1 and device.opened == 1
    device.entropy(8)
    assert device.opened == 2


def test_open_device_knows_three_backends(monkeypatch):
    assert isinstance(open_device("model"), ModelDevice)
    monkeypatch.delenv("ROSVD_OVERLAY", raising=False)
    with pytest.raises(ValueError, match="ROSVD_OVERLAY"):
        open_device("pynq")
    monkeypatch.setenv("ROSVD_OVERLAY", "/boot/rosvd.bit")
    assert open_device("pynq").overlay == "/boot/rosvd.bit"
    assert isinstance(open_device("pynq"), PynqDevice)
    with pytest.raises(ValueError, match="available: model, rtl, pynq"):
        open_device("fpga")


class ClosingModel(ModelDevice):
    closed = 0

    def close(self):
        ClosingModel.closed += 1


def test_the_appliance_closes_a_device_it_opened_and_not_one_handed_in(tmp_path, monkeypatch):
    monkeypatch.setattr(certify, "open_device", lambda kind: ClosingModel())
    ClosingModel.closed = 0
    home = tmp_path / "home"
    certify.initialise(home, certify.ApplianceConfig(dev_mode=True))
    assert ClosingModel.closed == 1                              # enrollment's device
    with certify.Appliance(home):
        pass
    assert ClosingModel.closed == 2
    mine = ClosingModel()
    with certify.Appliance(home, device=mine):
        pass
    assert ClosingModel.closed == 2
