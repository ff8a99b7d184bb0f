"""EntropyRegisters in Amaranth's simulator: register map, FIFO order, fail-closed flush."""
from __future__ import annotations

import numpy as np
import pytest

from rosvd.hw.entropy import model
from rosvd.hw.entropy import registers as R
from rosvd.hw.entropy.params import EntropyParams
from rosvd.sim.entropy_model import Fault, JitterModel
from rosvd.sim.entropy_pysim import RegisterSim

#: Small window and start-up so the simulator runs stay short (experiments-only values).
P = EntropyParams(apt_window=64, startup_samples=64)
DEPTH = 4
OFF = {name: R.byte_offset(name) for name in R.REGISTERS}


def healthy_bits(n, seed=1):
    bits = JitterModel.bank(8, seed=seed).bits(n)
    assert model.evaluate(bits, P).first_failure is None
    return bits


def status(sim):
    return R.decode_status(sim.read(OFF["STATUS"]))


def test_every_offset_after_reset():
    with RegisterSim(P, healthy_bits(200), fifo_depth=DEPTH) as sim:
        assert sim.read(OFF["ID"]) == R.ID_VALUE
        assert sim.read(OFF["VERSION"]) == R.VERSION | DEPTH << 16
        st = status(sim)
        assert st["simulated"]                     # no platform: simulated noise input
        assert not any(v for k, v in st.items() if k != "simulated")
        for name in ("CONTROL", "FIFO_LEVEL", "ALARM_SAMPLE", "UNDERFLOWS", "DROPPED", "WORDS_OUT"):
            assert sim.read(OFF[name]) == 0, name
        assert sim.read(4 * 15) == 0               # unmapped offset reads 0
        assert sim.read(OFF["SAMPLES"]) == sim.cycle - 1   # counted up to the read cycle
        assert 0 < sim.read(OFF["MAX_RUN"]) < P.rct_cutoff
        with pytest.raises(ValueError):
            sim.read(3)


def test_pop_order_equals_the_model_and_empty_read_underflows():
    bits = healthy_bits(2000)
    with RegisterSim(P, bits, fifo_depth=16) as sim:
        got = []
        sim.idle(P.startup_samples + 3 * 32)
        while len(got) < 12:
            if status(sim)["fifo_nonempty"]:
                got.append(sim.read(OFF["DATA"]))
            else:
                sim.idle(8)
        expected = model.evaluate(bits[:sim.cycle], P).words
        assert got == expected[:len(got)]
        assert sim.read(OFF["DROPPED"]) == 0
        # Drain, then an empty read: 0, sticky underflow, counted.
        while status(sim)["fifo_nonempty"]:
            sim.read(OFF["DATA"])
        assert sim.read(OFF["DATA"]) == 0
        assert status(sim)["underflow"]
        assert sim.read(OFF["UNDERFLOWS"]) == 1
        assert sim.read(OFF["WORDS_OUT"]) >= 12


def test_full_fifo_drops_and_counts():
    bits = healthy_bits(2000)
    with RegisterSim(P, bits, fifo_depth=DEPTH) as sim:
        sim.idle(P.startup_samples + 32 * (DEPTH + 1 + 5) + 2)
        st = status(sim)
        assert st["fifo_full"] and st["fifo_nonempty"]
        assert sim.read(OFF["FIFO_LEVEL"]) == DEPTH
        assert sim.read(OFF["WORDS_OUT"]) == DEPTH         # plus one held in the source's buffer
        assert sim.read(OFF["DROPPED"]) >= 4
        got = [sim.read(OFF["DATA"]) for _ in range(DEPTH + 1)]
        # The oldest words were kept; the later ones dropped.
        assert got == model.evaluate(bits, P).words[:DEPTH + 1]


@pytest.mark.parametrize("kind", ["stuck1", "dead"])
def test_alarm_flushes_the_fifo_and_host_reset_recovers(kind):
    onset = P.startup_samples + 32 * 6 + 5
    bits = JitterModel.bank(8, seed=2).bits(onset + 400, Fault(kind, onset))
    tail = JitterModel.bank(8, seed=3).bits(3000)
    bits = np.concatenate((bits, tail))
    reference = model.evaluate(bits[:onset + 400], P)
    assert reference.first_failure is not None
    with RegisterSim(P, bits, fifo_depth=16) as sim:
        sim.idle(onset - 2)
        assert sim.read(OFF["FIFO_LEVEL"]) >= 4            # words buffered before the fault
        sim.idle(onset + 300 - sim.cycle)
        st = status(sim)
        assert st["alarm_rct"] or st["alarm_apt"]
        assert not st["healthy"] and not st["fifo_nonempty"]
        assert sim.read(OFF["FIFO_LEVEL"]) == 0
        assert sim.read(OFF["DATA"]) == 0 and status(sim)["underflow"]
        assert sim.read(OFF["ALARM_SAMPLE"]) == reference.alarm_sample
        # Still nothing while the alarm holds, even with healthy bits flowing again.
        sim.idle(onset + 400 + 500 - sim.cycle)
        assert sim.read(OFF["DATA"]) == 0 and sim.read(OFF["FIFO_LEVEL"]) == 0
        # Host reset: alarms, counters, underflow cleared; FIFO empty; start-up again.
        sim.write(OFF["CONTROL"], R.CONTROL_HOST_RESET)
        st = status(sim)
        assert not (st["alarm_rct"] or st["alarm_apt"] or st["startup_done"] or st["underflow"])
        assert sim.read(OFF["UNDERFLOWS"]) == 0 and sim.read(OFF["ALARM_SAMPLE"]) == 0
        sim.idle(P.startup_samples + 40)
        st = status(sim)
        assert st["healthy"] and st["fifo_nonempty"]
        before = sim.read(OFF["UNDERFLOWS"])
        sim.read(OFF["DATA"])
        assert sim.read(OFF["UNDERFLOWS"]) == before         # a word was there


def test_control_write_without_the_bit_does_nothing():
    with RegisterSim(P, healthy_bits(400), fifo_depth=DEPTH) as sim:
        sim.idle(P.startup_samples + 10)
        sim.write(OFF["CONTROL"], 0)
        sim.write(OFF["STATUS"], 0xFFFF_FFFF)             # read-only: ignored
        assert status(sim)["startup_done"]


def test_counter_width_over_32_is_refused():
    with pytest.raises(ValueError):
        R.EntropyRegisters(EntropyParams(counter_width=64))
    with pytest.raises(ValueError):
        R.EntropyRegisters(P, fifo_depth=1)
