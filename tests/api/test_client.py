"""`rosvd query`'s own checks: a server's claims are re-derived from the bundle, never taken."""
import copy

import blake3 as blake3_module

from rosvd.api.client import check

from .conftest import png, scene


def test_a_servers_false_claims_are_caught(served):
    client, _, issued = served
    data = png(scene(3))
    digest = blake3_module.blake3(data).digest()
    (result,) = client.post("/v1/query", json={"queries": [{"blake3": digest.hex()}]}).json()["results"]
    honest = result["matches"][0]
    assert check(honest, digest, None, None)["problems"] == []
    other = copy.deepcopy(honest)
    other["certificate_id"] = issued[4]["certificate"]["id"]   # names another certificate
    assert "another certificate" in " ".join(check(other, digest, None, None)["problems"])
    claimed = copy.deepcopy(honest)
    claimed["exact"] = False
    assert "exact-match claim" in " ".join(check(claimed, digest, None, None)["problems"])
    unrelated = check(honest, bytes(32), None, None)         # bytes this bundle does not cover
    assert unrelated["exact"] is False and not unrelated["verified"] and unrelated["problems"]
    broken = copy.deepcopy(honest)
    broken["bundle"]["merkle_proof"] = ["00" * 32]
    report = check(broken, digest, None, None)
    assert {c["name"]: c["ok"] for c in report["checks"]["checks"]}["merkle_path"] is False
