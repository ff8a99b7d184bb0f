"""The engine RTL in Amaranth's simulator equals the model word for word (small n).

Three unit counts cover both datapaths: one pair per unit (dot products fused into the
rotate phase) and several pairs per unit (separate dot phase, steps multiplexed).
"""
import dataclasses

import numpy as np
import pytest

from rosvd.hw.svd.engine import SVDEngine
from rosvd.hw.svd.model import decompose
from rosvd.hw.svd.params import SVDParams
from rosvd.hw.svd.platform import ExportPlatform
from rosvd.hw.svd.products import MULT18X18D
from rosvd.sim.svd_cases import edge_cases, random_matrices
from rosvd.sim.svd_pysim import rtl_decompose


@pytest.mark.heavy
@pytest.mark.parametrize("units", [4, 2, 1])
def test_engine_matches_model_and_cycle_formula(units):
    params = SVDParams(n=8, units=units, sweeps=3, data_width=12)
    x = np.concatenate([random_matrices(params, 3, seed=units), np.stack(list(edge_cases(params).values()))])
    run = rtl_decompose(params, x)
    expected = decompose(params, x)
    engine = SVDEngine(params)
    for i in range(len(x)):
        assert run.words[i] == expected.words(i), f"matrix {i} differs"
        assert run.sweeps_run[i] == expected.sweeps_run[i]
        assert run.cycles[i] == engine.cycle_estimate(int(expected.sweeps_run[i]))


def test_backpressure_and_early_exit():
    params = SVDParams(n=8, units=4, sweeps=6, skip_shift=10, data_width=10)
    rng = np.random.default_rng(5)
    x = np.concatenate([random_matrices(params, 2, seed=9),
                        np.diag(rng.integers(1, params.input_max, size=8))[None]])
    run = rtl_decompose(params, x, ready_pattern=lambda cycle: (cycle * 7919) % 5 < 2)
    expected = decompose(params, x)
    assert [run.words[i] for i in range(3)] == [expected.words(i) for i in range(3)]
    assert run.sweeps_run == expected.sweeps_run.tolist()
    assert run.sweeps_run[2] == 1, "an already orthogonal matrix stops after one sweep"


def test_long_stalls_fill_the_output_buffer_and_lose_no_word():
    """``result.ready`` low for far longer than the buffer is deep: every credited word
    must then wait in the buffer (a credit too many would overflow it)."""
    params = SVDParams(n=8, units=4, sweeps=2, data_width=12)
    engine = SVDEngine(params)
    stall = 4 * engine.output_buffer_depth
    x = random_matrices(params, 2, seed=13)
    run = rtl_decompose(params, x, ready_pattern=lambda cycle: (cycle // stall) % 2 == 1)
    expected = decompose(params, x)
    assert [run.words[i] for i in range(len(x))] == [expected.words(i) for i in range(len(x))]


@pytest.mark.parametrize(("n", "units", "angle_share"), [(8, 4, 1), (8, 4, 2), (16, 8, 3)])
def test_shared_angle_pipelines_match_model_and_cycle_formula(n, units, angle_share):
    """One pipeline per unit, two units per pipeline, and groups of unequal size (3, 3, 2)."""
    params = SVDParams(n=n, units=units, angle_share=angle_share, sweeps=2, data_width=12)
    x = random_matrices(params, 2, seed=n + angle_share)
    run = rtl_decompose(params, x)
    expected = decompose(params, x)
    engine = SVDEngine(params)
    assert len(engine._angles) == params.angle_pipelines == -(-units // angle_share)
    for i in range(len(x)):
        assert run.words[i] == expected.words(i), f"matrix {i} differs"
        assert run.cycles[i] == engine.cycle_estimate()


@pytest.mark.parametrize("units", [2, 1])
def test_engine_on_18x18_multipliers_matches_model(units):
    """The ECP5 stand-in's decomposition (24 x 24 products as four 18 x 18 pieces, the
    rotations as two) changes neither a word nor a cycle: products are exact and the
    latency is the same on every block. Pieces inferred here; tests/sim runs the
    instantiated ECP5 cells."""
    params = SVDParams(n=8, units=units, sweeps=2, data_width=16)
    platform = ExportPlatform("mult18x18-inferred", dataclasses.replace(MULT18X18D, primitive=None))
    x = np.concatenate([random_matrices(params, 2, seed=40 + units),
                        np.stack(list(edge_cases(params).values()))[-2:]])
    run = rtl_decompose(params, x, platform=platform)
    expected = decompose(params, x)
    engine = SVDEngine(params)
    for i in range(len(x)):
        assert run.words[i] == expected.words(i), f"matrix {i} differs"
        assert run.cycles[i] == engine.cycle_estimate(int(expected.sweeps_run[i]))
