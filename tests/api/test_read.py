"""The public read endpoints on a home certified through the API."""
import json

import blake3 as blake3_module

from rosvd.verifier import verify_bundle

from .conftest import client_of, enrolled, png, scene

PROBLEM = "application/problem+json"


def cert_id(record) -> str:
    return record["certificate"]["id"]


def test_healthz(served):
    client, _, _ = served
    assert client.get("/healthz").json() == {"status": "ok", "certificates": 7, "open_epoch": 2}


def test_certificate_by_id_has_fields_and_status(served):
    client, _, issued = served
    for seed, status in ((0, "closed"), (6, "open")):
        record = client.get(f"/v1/certificates/0x{cert_id(issued[seed])}").json()
        assert record == issued[seed]
        assert record["status"] == status and record["bundle_available"] == (status == "closed")
        fields = record["certificate"]
        assert fields["sequence"] == seed + 1 and fields["epoch"] == (1 if seed < 6 else 2)
        assert fields["content_hash"] == blake3_module.blake3(png(scene(seed))).hexdigest()
        assert fields["fingerprint_scheme"] == 2 and len(record["encoding"]) == 2 * 448
        assert fields["version"] == 3
        assert int(fields["region_fingerprint"], 16) and int(fields["descriptors_hash"], 16)   # both set


def test_certificates_by_blake3(served):
    client, _, issued = served
    digest = blake3_module.blake3(png(scene(3))).hexdigest()
    assert client.get("/v1/certificates", params={"blake3": digest}).json() == {"certificates": [issued[3]]}
    assert client.get("/v1/certificates", params={"blake3": "00" * 32}).json() == {"certificates": []}


def test_bundle_of_a_closed_epoch_checks_out_offline(served):
    client, _, issued = served
    response = client.get(f"/v1/bundles/{cert_id(issued[2])}")
    assert response.status_code == 200
    result = verify_bundle(json.loads(response.text))
    passed = {check.name for check in result.checks if check.ok}
    assert {"device_signature", "merkle_path", "vdf_proof", "entropy_commitment"} <= passed
    assert not result.ok  # no chain: never verified


def test_bundle_of_an_open_epoch_is_a_409_saying_why(served):
    client, _, issued = served
    response = client.get(f"/v1/bundles/{cert_id(issued[6])}")
    assert response.status_code == 409 and response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "urn:rosvd:problem:no-bundle-yet"
    assert "epoch 2, which is open" in problem["detail"]
    assert problem["instance"] == f"/v1/bundles/{cert_id(issued[6])}"


def test_unknown_and_malformed_ids(served):
    client, _, _ = served
    for path in ("/v1/certificates/" + "ab" * 32, "/v1/bundles/" + "ab" * 32):
        response = client.get(path)
        assert response.status_code == 404 and response.json()["type"] == "urn:rosvd:problem:no-certificate"
    response = client.get("/v1/certificates/xyz")
    assert response.status_code == 422 and "32 bytes of hex" in response.json()["detail"]
    response = client.get("/v1/certificates")  # blake3 missing: a validation error, as a problem
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["loc"] == ["query", "blake3"]


def test_devices(served):
    client, _, issued = served
    (device,) = client.get("/v1/devices").json()["devices"]
    assert device == {"address": issued[0]["certificate"]["device"], "backend": "model", "dev_mode": True,
                      "certificates": 7, "registry": None, "cross_check": None}


def test_devices_report_the_cross_check_of_a_device_behind_the_driver(tmp_path):
    """An rtl or pynq device compares every decomposition with the specification model; the
    service reports its counters (a stand-in device here: the real one is in the demo test)."""
    from types import SimpleNamespace

    from rosvd.api.writer import Writer
    home, _ = enrolled(tmp_path / "home")
    writer = Writer(home)
    model = writer._appliance.device
    writer._appliance.device = SimpleNamespace(params=model.params, cycles=[24733] * 5, compared=5,
                                               mismatches=1)
    with client_of(home, writer=writer) as client:
        (device,) = client.get("/v1/devices").json()["devices"]
    assert device["cross_check"] == {"decompositions": 5, "compared": 5, "mismatches": 1}


def test_epochs_are_paged(served):
    client, _, _ = served
    first = client.get("/v1/epochs", params={"limit": 1}).json()
    assert [e["number"] for e in first["epochs"]] == [1] and first["next_after"] == 1
    assert first["epochs"][0]["status"] == "closed" and first["epochs"][0]["certificates"] == 6
    second = client.get("/v1/epochs", params={"after": 1, "limit": 1}).json()
    assert [(e["number"], e["status"], e["certificates"]) for e in second["epochs"]] == [(2, "open", 1)]
    assert second["next_after"] is None
    assert client.get("/v1/epochs", params={"limit": 0}).status_code == 422


def test_metrics_expose_store_and_latency(served):
    client, _, issued = served
    client.get(f"/v1/certificates/{cert_id(issued[0])}")
    text = client.get("/metrics").text
    assert "rosvd_certificates 7.0" in text
    assert 'rosvd_epochs{state="closed"} 1.0' in text and 'rosvd_epochs{state="open"} 1.0' in text
    assert "rosvd_epochs_unanchored 1.0" in text and "rosvd_anchoring_lag_seconds " in text
    assert 'rosvd_request_seconds_count{endpoint="certificate"}' in text
    assert "rosvd_certified_total 7.0" in text
