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


def test_a_region_match_and_its_confirmation_are_rederived_from_the_signed_certificate(served):
    """A scheme-2 certificate signs its region fingerprint and its descriptors' hash: the
    distance through the region and the confirmation are recomputed here, and a server
    that names another region, sends other descriptors or claims another confirmation is
    caught."""
    from rosvd.hw.svd.params import SVDParams
    from rosvd.match import CANDIDATE_DISTANCE, REGION_PENALTY, query_views

    from .test_query import corner_crop
    client, _, issued = served
    crop = corner_crop(scene(5))
    views = query_views(SVDParams(), crop)
    answer = client.post("/v1/query", files=[("file", ("crop.png", png(crop), "image/png"))])
    (result,) = answer.json()["results"]
    honest = result["matches"][0]
    assert honest["certificate_id"] == issued[5]["certificate"]["id"] and honest["region_fingerprint"]
    report = check(honest, bytes(32), views, None, CANDIDATE_DISTANCE)
    assert report["problems"] == [] and report["distance"] == honest["distance"] == REGION_PENALTY
    assert report["region_signed"] and report["confirmation_checked"] and report["confirmed"] is True
    assert report["confirmation"] == honest["confirmation"]

    def problems(**changes):
        lying = copy.deepcopy(honest)
        lying.update(changes)
        return " ".join(check(lying, bytes(32), views, None, CANDIDATE_DISTANCE)["problems"])
    code = bytearray.fromhex(honest["region_fingerprint"])
    code[:3] = bytes(b ^ 0xFF for b in code[:3])
    assert "not the one the certificate signs" in problems(region_fingerprint=code.hex())
    other = query_views(SVDParams(), scene(1), windows=False).descriptors[0].hex()
    assert "not the ones the certificate signs" in problems(
        descriptors={**honest["descriptors"], "content": other})
    assert "server's confirmation (False)" in problems(confirmed=False)
    assert "not hex" in problems(descriptors={"content": "zz", "region": honest["descriptors"]["region"]})


def test_for_an_older_certificate_the_region_is_the_servers_word():
    """Scheme 1 signs no region: the distance through the region the server names is
    recomputed against it, reported as unsigned, and no confirmation is checked."""
    from rosvd.api.client import _rederive
    from rosvd.certificate import Certificate
    from rosvd.hw.svd.params import SVDParams
    from rosvd.match import REGION_PENALTY, query_views

    from .test_query import corner_crop
    views = query_views(SVDParams(), corner_crop(scene(5)))
    original = query_views(SVDParams(), scene(5), windows=False)
    old = Certificate(content_kind=1, fingerprint_scheme=1, content_hash=bytes(32),
                      fingerprint=original.fingerprints[0], device="0x" + "11" * 20,
                      entropy_commitment=bytes(32), timestamp_ms=0, epoch=1, sequence=1, version=2)
    region = views.windows.fingerprints[3]
    record = {"problems": []}
    _rederive(record, {"region_fingerprint": region.hex(), "distance": REGION_PENALTY}, old, views, 0.125)
    assert record["problems"] == [] and record["distance"] == REGION_PENALTY
    assert not record["region_signed"] and not record.get("confirmation_checked")
    record = {"problems": []}
    _rederive(record, {"region_fingerprint": "abcd"}, old, views, 0.125)
    assert "not 32 bytes" in " ".join(record["problems"])
