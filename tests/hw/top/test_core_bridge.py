"""The driver against the Verilator-simulated top, through the simulation bridge:
``rosvd device selftest --device rtl --json`` at n=8 agrees with the specification model,
and a perturbed reference is caught. Reuses ``test_core_rtl.py``'s Verilator build."""
from __future__ import annotations

import json

import numpy as np
import pytest

from rosvd import cli, device_selftest
from rosvd.hw.svd.model import Decomposition, decompose

from .test_core_rtl import PARAMS

ARGS = ["device", "selftest", "--device", "rtl", "--n", "8", "--units", "4", "--matrices", "2", "--json"]


def test_selftest_core_is_the_cached_one():
    assert device_selftest.rtl_core_params(PARAMS.svd) == PARAMS


def test_rtl_selftest_agrees_with_the_model(capfd):
    assert cli.main(ARGS) == 0
    result = json.loads(capfd.readouterr().out)
    assert result["agree"] is True and result["mismatches"] == 0 and result["decompositions"] == 2
    assert result["reference"] == "rosvd.hw.svd.model.decompose"
    assert result["entropy_bytes"] == 32 and result["entropy_simulated"] is True
    assert result["alarm"] is False and result["version"] == "1.0"
    assert all(c > 0 for c in result["cycles"])


def test_rtl_selftest_catches_a_perturbed_reference(capfd, monkeypatch):
    def perturbed(params, batch):
        exact = decompose(params, batch)
        sigma = exact.sigma.copy()
        sigma[1, -1] += 1                           # one word of the second matrix
        return Decomposition(sigma, exact.vectors, exact.sweeps_run)

    monkeypatch.setattr(device_selftest, "reference_decompose", perturbed)
    assert cli.main(ARGS) == 1
    captured = capfd.readouterr()
    result = json.loads(captured.out)
    assert result["agree"] is False and result["mismatches"] == 1 and result["mismatched"] == [1]
    assert "1 of 2 decompositions differ" in captured.err
    assert np.isfinite(result["cycles"]).all()


def test_bridge_errors_surface_as_exceptions():
    from rosvd.driver.core import DriverTimeout
    from rosvd.driver.sim_bridge import BridgeError, BusError, SimBridge
    from rosvd.hw.top.register_map import REGISTER_MAP

    with SimBridge(PARAMS, request_timeout=30.0) as bridge:
        with pytest.raises(BusError, match="SLVERR"):
            bridge.read(REGISTER_MAP.span)                       # past the map
        with pytest.raises(DriverTimeout, match="simulated budget"):
            bridge.receive(PARAMS.svd.output_words)             # nothing was sent
        assert bridge.read(REGISTER_MAP.offset("ID")) == 0x5253_5644   # still usable
    with pytest.raises(BridgeError, match="not started"):
        bridge.read(0)


def test_rtl_device_runs_the_top_through_the_driver():
    """``--device rtl``: one simulation of the top for the device's lifetime, results compared
    with the specification model, entropy from the top's source labelled simulated."""
    from rosvd.device import RtlDevice, SimulatedEntropyRefused, fresh_entropy
    from rosvd.sim.svd_cases import random_matrices

    device = RtlDevice(PARAMS.svd, seed=3)
    with device:
        batch = random_matrices(PARAMS.svd, 2, 11)
        got = device.decompose(batch)
        want = decompose(PARAMS.svd, batch)
        assert np.array_equal(got.sigma, want.sigma) and np.array_equal(got.vectors, want.vectors)
        assert (device.compared, device.mismatches, len(device.cycles)) == (2, 0, 2)
        started = device.bridge_requests
        drawn = device.entropy(32)
        assert len(drawn.data) == 32 and drawn.simulated and device.bridge_requests > started
        with pytest.raises(SimulatedEntropyRefused):
            fresh_entropy(device, 16, dev_mode=False)
        assert len(fresh_entropy(device, 48, dev_mode=True)) == 48
        bridge = device._bridge
    assert device._bridge is None and not bridge._thread.is_alive()     # the simulation stopped
