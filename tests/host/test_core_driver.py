"""CoreDriver against a fake core built from the register map (no simulator, no pynq)."""
from __future__ import annotations

import numpy as np
import pytest

from rosvd.driver.core import (
    ConfigMismatch,
    CoreDriver,
    DriverTimeout,
    EmptyRead,
    EntropyAlarm,
    NotRosvdCore,
    StreamError,
    VersionMismatch,
    pack_matrix,
    params_from_config,
)
from rosvd.hw.entropy.params import EntropyParams
from rosvd.hw.svd.model import decompose
from rosvd.hw.svd.params import SVDParams
from rosvd.hw.top.core import CoreParams
from rosvd.hw.top.register_map import REGISTER_MAP
from rosvd.sim.svd_cases import random_matrices

from .fake_core import FakeClock, FakeCore

SVD = SVDParams(n=8, units=4)
PARAMS = CoreParams(svd=SVD, entropy=EntropyParams(apt_window=64, startup_samples=64), fifo_depth=8)


def driver(core: FakeCore, clock: FakeClock | None = None, **kwargs) -> CoreDriver:
    clock = clock or FakeClock()
    return CoreDriver(core, core, clock=clock, pause=clock.pause, timeout=5.0, **kwargs)


def test_config_read_back_as_params():
    core = FakeCore(PARAMS)
    d = driver(core, expect=SVD)
    assert d.params == SVD
    assert d.version == {"major": 1, "minor": 0}
    skip = SVDParams(n=8, units=4, skip_shift=12)
    assert params_from_config(driver(FakeCore(CoreParams(svd=skip))).config) == skip


def test_wrong_id_refused():
    core = FakeCore(PARAMS)
    core.values[("ID", "id")] = 0x1234_5678
    with pytest.raises(NotRosvdCore, match="0x12345678"):
        driver(core)


def test_other_major_version_refused():
    core = FakeCore(PARAMS)
    core.values[("VERSION", "major")] = 2
    with pytest.raises(VersionMismatch, match="version 2.0"):
        driver(core)
    core.values[("VERSION", "major")] = 1
    core.values[("VERSION", "minor")] = 7          # a compatible addition
    assert driver(core).version["minor"] == 7


def test_config_mismatch_names_the_fields():
    core = FakeCore(PARAMS)
    with pytest.raises(ConfigMismatch) as caught:
        driver(core, expect=SVDParams(n=8, units=2, sweeps=6))
    assert set(caught.value.differences) == {"units", "sweeps"}
    assert caught.value.differences["units"] == (4, 2)
    assert "units: core 4, host 2" in str(caught.value)


def test_decompose_matches_the_model():
    core = FakeCore(PARAMS)
    d = driver(core, expect=SVD)
    matrices = random_matrices(SVD, 3, seed=5)
    got, want = d.decompose(matrices), decompose(SVD, matrices)
    assert np.array_equal(got.sigma, want.sigma) and np.array_equal(got.vectors, want.vectors)
    assert np.array_equal(got.sweeps_run, want.sweeps_run)
    assert d.cycles == [1001, 1002, 1003]
    # One transfer per matrix, packed two 16-bit elements a word, element 0 low.
    assert core.sent == [pack_matrix(SVD, m) for m in matrices]
    assert core.sent[0][0] == (int(matrices[0, 0, 0]) & 0xFFFF) | (int(matrices[0, 0, 1]) & 0xFFFF) << 16


def test_negative_results_are_sign_extended():
    core = FakeCore(PARAMS)
    d = driver(core)
    result = d.decompose(random_matrices(SVD, 1, seed=9))
    assert result.vectors.min() < 0                 # m_axis carries them as 32-bit two's complement


def test_short_frame_and_framing_error_refused_and_reset():
    core = FakeCore(PARAMS)
    d = driver(core)
    core.truncate = 1
    with pytest.raises(StreamError, match=f"{SVD.output_words - 1} result words"):
        d.decompose(random_matrices(SVD, 1, seed=2))
    assert ("CONTROL", REGISTER_MAP.encode("CONTROL", soft_reset=1)) in core.writes
    core.truncate, core.flag_framing = 0, True
    with pytest.raises(StreamError, match="framing"):
        d.decompose(random_matrices(SVD, 1, seed=2))
    assert core.values[("ERRORS", "framing")] == 0          # cleared by the soft reset


def test_stream_timeout_soft_resets():
    core = FakeCore(PARAMS)
    d = driver(core)
    core.stream_timeout = True
    with pytest.raises(DriverTimeout, match="matrix 0 of 1"):
        d.decompose(random_matrices(SVD, 1, seed=2))
    name, value = core.writes[-2]
    assert name == "CONTROL" and REGISTER_MAP.decode("CONTROL", value)["soft_reset"]


def test_soft_reset_keeps_interrupt_enables():
    core = FakeCore(PARAMS)
    d = driver(core)
    d.write("CONTROL", irq_done_enable=1)
    d.soft_reset()
    assert core.writes[-2] == ("CONTROL", REGISTER_MAP.encode("CONTROL", irq_done_enable=1, soft_reset=1))


def test_entropy_waits_for_startup_and_reads_the_fifo_level():
    core = FakeCore(PARAMS, healthy_after=3)
    expected = core.fifo[:40]
    d = driver(core)
    read = d.entropy_words(40)
    assert read.words == expected and read.simulated
    # Words trickle in: only as many are read as ENTROPY_FIFO_LEVEL says are there.
    core.trickle = 3
    read = d.entropy_words(40)
    assert len(read.words) == 40 and core.values[("ERRORS", "empty_read")] == 0
    core.trickle = None
    out = d.entropy(32)
    assert len(out.data) == 32 and out.simulated and out.raw_words == 32


def test_entropy_startup_timeout():
    core = FakeCore(PARAMS, healthy_after=10**9)
    clock = FakeClock()
    with pytest.raises(DriverTimeout, match="start-up not done"):
        driver(core, clock).entropy_words(4)
    assert 5.0 < clock.now <= 5.5                      # gives up at the timeout, not later


def test_entropy_alarm_refused_then_cleared():
    core = FakeCore(PARAMS)
    d = driver(core)
    core.raise_alarm()
    with pytest.raises(EntropyAlarm, match="alarm_rct.*sample 1234"):
        d.entropy_words(4)
    assert core.data_reads == 0                        # refused before any word was popped
    d.alarm_clear()
    assert core.values[("IRQ_STATUS", "alarm")] == 0
    assert len(d.entropy_words(4).words) == 4


def test_entropy_alarm_during_a_request_discards_it():
    core = FakeCore(PARAMS)
    core.alarm_after_reads = 3
    with pytest.raises(EntropyAlarm):
        driver(core).entropy_words(8)


def test_entropy_empty_read_refused():
    core = FakeCore(PARAMS, entropy_words=2)
    core.level_lies = True                             # FIFO_LEVEL promises a word DATA lacks
    with pytest.raises(EmptyRead, match="empty_read"):
        driver(core).entropy_words(3)
    assert core.values[("ERRORS", "empty_read")] == 0   # cleared after being reported


def test_decompose_without_stream():
    core = FakeCore(PARAMS)
    d = CoreDriver(core, None)
    with pytest.raises(Exception, match="no stream transport"):
        d.decompose(random_matrices(SVD, 1, seed=1))
