"""``rosvd device selftest``: seeded decompositions and an entropy read through the driver.

``--device rtl`` runs :class:`rosvd.driver.core.CoreDriver` against the Verilator-simulated
top (:class:`rosvd.driver.sim_bridge.SimBridge`) and ``--device pynq`` against a board
(:func:`rosvd.driver.pynq_core.open_board`); both compare every decomposition, sigma,
vectors and sweeps run, with the specification model :func:`rosvd.hw.svd.model.decompose`
(:data:`reference_decompose`), not with the fast model. ``--device model`` runs the fast
model and has nothing independent to compare it with: its agreement is trivial, and the
result says so.
"""
from __future__ import annotations

import numpy as np

from rosvd.hw.entropy.params import EntropyParams
from rosvd.hw.svd.model import decompose
from rosvd.hw.svd.params import SVDParams

#: The specification model every driver result is compared with (tests perturb it).
reference_decompose = decompose
#: The simulated top's entropy settings: a short start-up, so a selftest takes seconds
#: (the same as ``tests/hw/top/test_core_rtl.py``'s, so one Verilator build serves both).
SIM_ENTROPY = EntropyParams(apt_window=64, startup_samples=64)
SIM_FIFO_DEPTH = 8
DEVICES = ("model", "rtl", "pynq")


def rtl_core_params(params: SVDParams):
    from rosvd.hw.top.core import CoreParams
    return CoreParams(svd=params, entropy=SIM_ENTROPY, fifo_depth=SIM_FIFO_DEPTH)


def _matrices(params: SVDParams, count: int, seed: int) -> np.ndarray:
    from rosvd.sim.svd_cases import random_matrices
    if count < 1:
        raise ValueError(f"--matrices must be at least 1, not {count}")
    return random_matrices(params, count, seed)


def mismatched(params: SVDParams, got, batch: np.ndarray) -> list[int]:
    """Indices of the matrices whose result differs from the reference in any word or in sweeps run."""
    want = reference_decompose(params, batch)
    return [i for i in range(len(batch))
            if not (np.array_equal(got.sigma[i], want.sigma[i])
                    and np.array_equal(got.vectors[i], want.vectors[i])
                    and int(got.sweeps_run[i]) == int(want.sweeps_run[i]))]


def through_driver(driver, params: SVDParams, batch: np.ndarray, entropy_bytes: int) -> dict:
    from rosvd.driver.core import EmptyRead, EntropyAlarm
    result = driver.decompose(batch)
    differ = mismatched(params, result, batch)
    record = {"agree": not differ, "mismatches": len(differ), "mismatched": differ,
              "decompositions": len(batch), "cycles": driver.cycles[-len(batch):],
              "sweeps_run": [int(s) for s in result.sweeps_run],
              "reference": "rosvd.hw.svd.model.decompose", "entropy_error": None}
    try:
        entropy = driver.entropy(entropy_bytes)
        record.update(entropy_bytes=len(entropy.data), entropy_simulated=entropy.simulated)
    except (EntropyAlarm, EmptyRead) as error:
        record.update(entropy_bytes=0, entropy_simulated=None, entropy_error=str(error))
    status = driver.fields("STATUS")
    record["alarm"] = bool(status["alarm_rct"] or status["alarm_apt"])
    record["version"] = f"{driver.version['major']}.{driver.version['minor']}"
    return record


def selftest(device: str, params: SVDParams, *, matrices: int = 4, seed: int = 1, entropy_bytes: int = 32,
             overlay: str | None = None, simulator: str = "verilator") -> dict:
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; available: {', '.join(DEVICES)}")
    if entropy_bytes < 1:
        raise ValueError(f"--entropy-bytes must be at least 1, not {entropy_bytes}")
    if device == "pynq":
        from rosvd.driver.pynq_core import import_pynq, open_board
        import_pynq()                                   # refuse first when there is no pynq
        if not overlay:
            raise ValueError("--device pynq needs --overlay PATH.bit (RosvdCore and an AXI DMA)")
        batch = _matrices(params, matrices, seed)
        driver = open_board(overlay, expect=params)
        return {"device": device, **through_driver(driver, params, batch, entropy_bytes)}
    batch = _matrices(params, matrices, seed)
    if device == "rtl":
        from rosvd.driver.core import CoreDriver
        from rosvd.driver.sim_bridge import SimBridge
        with SimBridge(rtl_core_params(params), simulator=simulator, seed=seed) as bridge:
            driver = CoreDriver(bridge, bridge, expect=params, pause=bridge.idle, timeout=60.0)
            record = through_driver(driver, params, batch, entropy_bytes)
            record["bridge_requests"] = bridge.requests
        return {"device": device, "simulator": simulator, **record}
    from rosvd.device import ModelDevice
    model = ModelDevice(params)
    model.decompose(batch)
    entropy = model.entropy(entropy_bytes)
    return {"device": device, "agree": True, "mismatches": 0, "mismatched": [], "decompositions": len(batch),
            "cycles": None, "entropy_bytes": len(entropy.data), "entropy_simulated": entropy.simulated,
            "alarm": None, "reference": None, "entropy_error": None,
            "note": "the model device is the model: agreement is trivial, nothing independent was compared"}
