"""``rosvd bench anchor`` on small epochs: its report's shape and the gas it should show."""
from __future__ import annotations

import pytest

from .conftest import require_node_modules


@pytest.fixture(scope="module")
def report():
    require_node_modules()
    from rosvd.bench.anchor import run

    return run(sizes=(1, 16, 256), naive_count=4, seed=7, service=False)


def test_report_has_every_size_in_order(report):
    assert report["sizes"] == [1, 16, 256]
    assert [record["size"] for record in report["epochs"]] == [1, 16, 256]
    assert [record["epoch"] for record in report["epochs"]] == [1, 2, 3]
    for record in report["epochs"]:
        assert record["gas_per_certificate"] == pytest.approx(record["gas_used"] / record["size"], abs=0.01)
        assert record["certificates_per_s"] > 0 and record["wall_s"] > 0
    assert report["naive_certificates"] == 4 and report["naive_certificates_per_s"] > 0
    assert report["goal_gas_per_certificate"] == 300
    assert report["solc_version"] and report["anvil_version"]


def test_anchored_roots_verify_on_chain(report):
    for record in report["epochs"]:
        assert record["verified"] is True
        # a proof has ceil(log2(size)) nodes; checking it costs more with each node
        assert record["proof_length"] == (record["size"] - 1).bit_length()
    estimates = [record["verify_certificate_gas_estimate"] for record in report["epochs"]]
    assert estimates == sorted(estimates) and estimates[0] > 21_000


def test_gas_per_certificate_falls_with_epoch_size(report):
    per_certificate = [record["gas_per_certificate"] for record in report["epochs"]]
    assert per_certificate == sorted(per_certificate, reverse=True)
    assert len(set(per_certificate)) == len(per_certificate)


def test_batching_beats_one_transaction_per_certificate(report):
    naive = report["naive_gas_per_certificate"]
    assert report["naive_gas_min"] <= naive <= report["naive_gas_max"]
    one, sixteen, big = report["epochs"]
    assert one["naive_to_batched_ratio"] == pytest.approx(1.0, abs=0.01)  # a one-leaf epoch is the naive case
    for record in (sixteen, big):
        assert naive > record["gas_per_certificate"]
        assert record["naive_to_batched_ratio"] == pytest.approx(record["size"], rel=0.01)


def test_signature_check_is_shown_apart_and_included(report):
    """ecrecover alone costs 3,000; the check is part of every anchor's gas, not on top of it."""
    for record in report["epochs"]:
        assert 3_000 < record["signature_check_gas"] < 10_000
        assert record["signature_check_gas"] < record["gas_used"] - 21_000
    assert report["signature_check_gas"] == report["epochs"][-1]["signature_check_gas"]


def test_goal_met_at_256(report):
    big = report["epochs"][-1]
    assert big["gas_per_certificate"] <= report["goal_gas_per_certificate"]
    assert report["goal_met"] is True


def test_bad_sizes_are_refused():
    from rosvd.bench.anchor import run

    with pytest.raises(ValueError, match="at least 1"):
        run(sizes=(0,))


def test_service_anchors_each_epoch_once_with_epochs_in_flight():
    """Through the anchoring service on an interval-mining chain: every epoch anchored
    once, and faster than one epoch per confirmation time (epochs are in flight together)."""
    require_node_modules()
    from rosvd.bench.anchor import run_service

    epochs, size, block_time_s = 6, 16, 0.5
    result = run_service(epochs=epochs, size=size, block_time_s=block_time_s, seed=3)
    assert result["anchored_once_on_chain"] is True
    assert result["transactions_signed"] == epochs  # nothing stuck, so nothing re-signed
    serial_s = epochs * result["confirmations"] * block_time_s
    assert result["wall_s"] < serial_s
    assert result["certificates_per_s"] == pytest.approx(epochs * size / result["wall_s"], rel=0.01)
