"""The host driver over the register interface (Amaranth simulator) and the device backend."""
from __future__ import annotations

import numpy as np
import pytest

from rosvd.device import (
    ROSourceEntropy,
    SimulatedEntropyRefused,
    fresh_entropy,
    simulated_ro_entropy,
)
from rosvd.entropy.conditioner import Conditioner
from rosvd.entropy.source_driver import (
    EntropyAlarm,
    EntropySourceError,
    SourceDriver,
    StartupTimeout,
)
from rosvd.hw.entropy import model
from rosvd.hw.entropy import registers as R
from rosvd.hw.entropy.params import EntropyParams
from rosvd.sim.entropy_model import Fault, JitterModel
from rosvd.sim.entropy_pysim import RegisterSim

P = EntropyParams(apt_window=64, startup_samples=64)


def driver_for(sim, **kwargs):
    return SourceDriver(sim.read, sim.write, idle=sim.idle, min_entropy=P.min_entropy, **kwargs)


def test_raw_words_match_the_model_and_condition():
    bits = JitterModel.bank(8, seed=5).bits(6000)
    with RegisterSim(P, bits, fifo_depth=64) as sim:
        driver = driver_for(sim)
        assert driver.fifo_depth == 64 and driver.version == R.VERSION
        words = driver.read_words(32)
        assert words == model.evaluate(bits[:sim.cycle], P).words[:32]
        raw = b"".join(w.to_bytes(4, "little") for w in words)
        # Earliest sample is bit 0 of the first byte.
        assert raw[0] & 1 == bits[P.startup_samples]
        out = driver.conditioned(32)
        assert len(out.data) == 32 and out.simulated and out.raw_words == 32
        assert out.credited_bits == Conditioner(P.min_entropy).credited_bits


def test_driver_refuses_on_alarm_and_recovers_after_reset():
    onset = P.startup_samples + 32 * 3 + 7
    bits = np.concatenate((JitterModel.bank(8, seed=6).bits(onset + 300, Fault("stuck0", onset)),
                           JitterModel.bank(8, seed=7).bits(4000)))
    with RegisterSim(P, bits, fifo_depth=64) as sim:
        driver = driver_for(sim)
        with pytest.raises(EntropyAlarm) as caught:
            driver.read_words(40)              # needs more words than come before the fault
        assert caught.value.alarm_sample == model.evaluate(bits[:onset + 300], P).alarm_sample
        with pytest.raises(EntropyAlarm):      # latched: still refused
            driver.conditioned(32)
        sim.idle(onset + 300 - sim.cycle)
        driver.reset()
        assert len(driver.conditioned(32).data) == 32


def test_bad_id_and_startup_timeout():
    with RegisterSim(P, JitterModel.bank(8, seed=1).bits(500)) as sim:
        with pytest.raises(EntropySourceError):
            SourceDriver(lambda offset: 0, sim.write)
        driver = SourceDriver(sim.read, sim.write, poll_limit=5)   # no idle: 5 polls only
        with pytest.raises(StartupTimeout):
            driver.wait_startup()


def test_simulated_flag_comes_from_the_status_register():
    """The refusal is driven by STATUS.simulated, not by a label in the host code."""
    bits = JitterModel.bank(8, seed=8).bits(8000)

    def run(clear_simulated):
        with RegisterSim(P, bits, fifo_depth=64) as sim:
            def read(offset):
                value = sim.read(offset)
                if clear_simulated and offset == R.byte_offset("STATUS"):
                    value &= ~(1 << R.STATUS_BITS["simulated"])
                return value
            source = ROSourceEntropy(SourceDriver(read, sim.write, idle=sim.idle))

            class Dev:
                kind = "probe"
                entropy = staticmethod(source.entropy)

            try:
                return fresh_entropy(Dev(), 32, dev_mode=False)
            except SimulatedEntropyRefused:
                return None

    assert run(clear_simulated=False) is None               # simulated bit set: refused
    assert len(run(clear_simulated=True)) == 32              # same bits, bit cleared: accepted


def test_seeded_simulated_source_is_reproducible_and_unseeded_is_not():
    a, b = simulated_ro_entropy(seed=11), simulated_ro_entropy(seed=11)
    assert a.entropy(32).data == b.entropy(32).data
    assert simulated_ro_entropy().entropy(32).data != simulated_ro_entropy().entropy(32).data
