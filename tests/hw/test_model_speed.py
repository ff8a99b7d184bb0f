"""``rosvd bench model`` times the spec model and the fast model the same way."""
import pytest

from rosvd.bench import model_speed
from rosvd.hw.svd.params import SVDParams


def test_both_models_are_timed_best_of_repeat_on_the_same_batch(monkeypatch):
    calls = {"model": [], "fast": []}
    real_model, real_fast = model_speed.model.decompose, model_speed.fast_model.decompose

    def counting(kind, real):
        def decompose(params, matrices):
            calls[kind].append(len(matrices))
            return real(params, matrices)
        return decompose

    monkeypatch.setattr(model_speed.model, "decompose", counting("model", real_model))
    monkeypatch.setattr(model_speed.fast_model, "decompose", counting("fast", real_fast))
    result = model_speed.run(params=SVDParams(n=8, units=4), batch=3, repeat=2)
    # One untimed call, then ``repeat`` timed ones, every one on the whole batch; the fast
    # model also has its JIT call on one matrix and its single-thread timing.
    assert calls["model"] == [3, 3, 3]
    assert calls["fast"] == [1, 3, 3, 3, 3, 3]
    assert result["bit_exact"] and result["repeat"] == 2
    assert result["model_us"] > 0 and result["model_cpu_us"] > 0
    assert result["speedup"] == pytest.approx(result["model_us"] / result["fast_us"])
