"""``rosvd entropy health``: parameters, cutoffs and per-fault detection latency from the RTL."""
from __future__ import annotations

import json

import pytest

from rosvd.entropy import health_report
from rosvd.hw.entropy.params import EntropyParams


@pytest.fixture(scope="module")
def report():
    return health_report.run(seeds=1)


def test_parameters_and_bounds(report):
    p = report["parameters"]
    assert (p["alpha"], p["min_entropy_per_bit"], p["apt_window"]) == (2.0 ** -20, 0.5, 1024)
    assert (p["rct_cutoff"], p["apt_cutoff"]) == (41, 793)
    assert report["false_alarms_per_million_samples_bound"]["rct"] == pytest.approx(10**6 / 2**20)


def test_every_fault_is_detected_within_its_bound(report):
    params = EntropyParams()
    onset = report["fault_onset_sample"]
    first_full_window_end = -(-onset // params.apt_window) * params.apt_window + params.apt_window - onset
    for name, fault in report["faults"].items():
        latency = fault["latency_samples"]
        test = fault["expected_test"]
        assert latency[test]["detected"] == latency[test]["runs"] == 1, name
        if test == "rct":
            assert 1 <= latency["rct"]["max"] <= params.rct_cutoff, name
        else:
            assert latency["apt"]["max"] <= first_full_window_end + params.apt_window, name


def test_main_prints_json(capsys, monkeypatch):
    monkeypatch.setattr(health_report, "run", lambda **kwargs: {"called_with": kwargs})
    assert health_report.main(["--json", "--seeds", "2"]) == 0
    assert json.loads(capsys.readouterr().out) == {"called_with": {"seeds": 2, "backend": "amaranth"}}


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="backend must be one of"):
        health_report.run(backend="spice")
    with pytest.raises(ValueError, match="seeds must be >= 1"):
        health_report.run(seeds=0)
