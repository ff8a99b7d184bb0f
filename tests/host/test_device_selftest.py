"""``rosvd device selftest`` without a simulator: the model device, and pynq refused."""
from __future__ import annotations

import json

from rosvd import cli

from .fake_core import FakeCore
from .test_core_driver import PARAMS, SVD, driver


def test_model_selftest_says_agreement_is_trivial(capfd):
    assert cli.main(["device", "selftest", "--n", "8", "--units", "4", "--json"]) == 0
    result = json.loads(capfd.readouterr().out)
    assert result["agree"] is True and result["device"] == "model" and "trivial" in result["note"]
    assert result["entropy_bytes"] == 32 and result["decompositions"] == 4


def test_pynq_selftest_without_pynq_exits_2(capfd, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "pynq", None)
    assert cli.main(["device", "selftest", "--device", "pynq", "--n", "8", "--units", "4", "--json"]) == 2
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "pynq package" in captured.err


def test_bad_input_exits_2(capfd):
    assert cli.main(["device", "selftest", "--n", "8", "--units", "4", "--matrices", "0"]) == 2
    assert "--matrices" in capfd.readouterr().err


def test_through_driver_reports_an_alarm():
    from rosvd.device_selftest import through_driver
    from rosvd.sim.svd_cases import random_matrices
    core = FakeCore(PARAMS)
    core.raise_alarm()
    record = through_driver(driver(core), SVD, random_matrices(SVD, 2, 1), 32)
    assert record["agree"] and record["alarm"] is True and record["entropy_bytes"] == 0
    assert "alarm_rct" in record["entropy_error"]
