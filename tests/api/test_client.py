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


def test_the_distance_is_recomputed_over_this_files_views(served):
    """A mirrored copy matches through its mirror view: the client finds distance 0 itself,
    and a server claiming another distance is caught."""
    from rosvd.hw.svd.params import SVDParams
    from rosvd.match import query_views
    client, _, issued = served
    views = query_views(SVDParams(), scene(3)[:, ::-1])
    body = {"queries": [{"fingerprints": [f.hex() for f in views.fingerprints],
                         "descriptors": [d.hex() for d in views.descriptors]}]}
    (result,) = client.post("/v1/query", json=body).json()["results"]
    honest = result["matches"][0]
    assert honest["certificate_id"] == issued[3]["certificate"]["id"]
    report = check(honest, bytes(32), views, None)
    assert report["distance"] == 0.0 and report["problems"] == [] and report["server_confirmed"] is True
    inflated = copy.deepcopy(honest)
    inflated["distance"] = 0.01
    assert "is not this file's" in " ".join(check(inflated, bytes(32), views, None)["problems"])


def test_a_region_match_is_recomputed_against_the_region_the_server_names(served):
    from rosvd.hw.svd.params import SVDParams
    from rosvd.match import REGION_PENALTY, query_views

    from .test_query import corner_crop
    client, _, issued = served
    crop = corner_crop(scene(5))
    views = query_views(SVDParams(), crop)
    answer = client.post("/v1/query", files=[("file", ("crop.png", png(crop), "image/png"))])
    (result,) = answer.json()["results"]
    honest = result["matches"][0]
    assert honest["certificate_id"] == issued[5]["certificate"]["id"] and honest["region_fingerprint"]
    report = check(honest, bytes(32), views, None)
    assert report["problems"] == [] and report["distance"] == honest["distance"]
    assert report["server_region_fingerprint"] == honest["region_fingerprint"]
    assert honest["distance"] == REGION_PENALTY          # lossless, on the grid: the region itself
    made_up = copy.deepcopy(honest)               # a region code that does not give the distance claimed
    code = bytearray.fromhex(honest["region_fingerprint"])
    code[:3] = bytes(b ^ 0xFF for b in code[:3])
    made_up["region_fingerprint"] = code.hex()
    assert "is not this file's" in " ".join(check(made_up, bytes(32), views, None)["problems"])
    garbled = copy.deepcopy(honest)
    garbled["region_fingerprint"] = "zz"
    assert "not 32 bytes of hex" in " ".join(check(garbled, bytes(32), views, None)["problems"])
