"""POST /v1/query: exact bytes first, then the nearest fingerprints, each with its bundle."""
import blake3 as blake3_module

from rosvd.api.settings import Settings
from rosvd.hw.svd.params import SVDParams
from rosvd.match import CANDIDATE_DISTANCE, CONFIRM_THRESHOLD, DISTANCE_THRESHOLD, query_views

from .conftest import client_of, jpeg, png, scene, upload


def ids(result) -> list[str]:
    return [match["certificate_id"] for match in result["matches"]]


def test_upload_finds_the_exact_item_and_a_jpeg_copy(served):
    client, _, issued = served
    target = issued[2]["certificate"]["id"]
    response = client.post("/v1/query", files=[upload("same.png", png(scene(2)), "file"),
                                               upload("copy.jpg", jpeg(scene(2)), "file")])
    assert response.status_code == 200
    body = response.json()
    assert body["match_rule"] == "confirmed" and body["confirm_threshold"] == CONFIRM_THRESHOLD
    assert body["max_distance"] == CANDIDATE_DISTANCE and body["limit"] == 10
    exact, copy = body["results"]
    assert exact["views"][:2] == copy["views"][:2] == ["identity", "mirror"]
    first = exact["matches"][0]
    assert first["certificate_id"] == target and first["exact"] and first["distance"] == 0.0
    assert first["confirmed"] is None and first["view"] is None
    assert first["bundle"]["certificate"] == issued[2]["encoding"] and first["bundle_unavailable"] is None
    assert all(not m["exact"] for m in exact["matches"][1:])  # the rest: other pictures, if any are near
    nearest = copy["matches"][0]
    assert nearest["certificate_id"] == target and not nearest["exact"]
    assert nearest["distance"] <= CANDIDATE_DISTANCE
    assert nearest["confirmed"] is True and nearest["confirmation"] >= CONFIRM_THRESHOLD
    assert nearest["view"] == "identity"
    distances = [m["distance"] for m in copy["matches"]]
    assert distances == sorted(distances)
    assert copy["blake3"] == blake3_module.blake3(jpeg(scene(2))).hexdigest()


def test_json_query_by_hash_and_fingerprint_and_an_open_epoch(served):
    client, _, issued = served
    open_cert = issued[6]["certificate"]
    body = {"queries": [{"blake3": open_cert["content_hash"]}, {"fingerprint": open_cert["fingerprint"]},
                        {"blake3": "00" * 32}], "max_distance": 0.0, "limit": 3}
    by_hash, by_fingerprint, nothing = client.post("/v1/query", json=body).json()["results"]
    (match,) = by_hash["matches"]
    assert match["exact"] and match["bundle"] is None and "which is open" in match["bundle_unavailable"]
    assert match["certificate"]["status"] == "open"
    assert ids(by_fingerprint)[0] == open_cert["id"] and by_fingerprint["matches"][0]["distance"] == 0.0
    assert nothing["matches"] == []


def test_query_limits_and_validation_are_problems(served, tmp_path):
    client, _, _ = served
    cases = [
        ({"queries": []}, 422, "invalid-request"),
        ({"queries": [{}]}, 422, "invalid-request"),
        ({"queries": [{"blake3": "zz"}]}, 422, "invalid-request"),
        ({"queries": [{"blake3": "00" * 32}], "max_distance": 0.5}, 422, "invalid-request"),  # over 0.25
        ({"queries": [{"blake3": "00" * 32}], "surprise": 1}, 422, "invalid-request"),
        ({"queries": [{"blake3": "00" * 32}] * 17}, 413, "batch-too-large"),
    ]
    for body, status, slug in cases:
        response = client.post("/v1/query", json=body)
        assert (response.status_code, response.json()["type"]) == (status, f"urn:rosvd:problem:{slug}"), body
        assert response.headers["content-type"] == "application/problem+json"
    wrong_type = client.post("/v1/query", content=b"hello", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    too_many = client.post("/v1/query", files=[upload(f"{i}.bin", b"x", "file") for i in range(17)])
    assert too_many.status_code == 413 and too_many.json()["type"] == "urn:rosvd:problem:batch-too-large"
    assert client.post("/v1/query", data={"limit": "3"}, files=[upload("x", b"", "other")]).status_code == 422
    for value in ("nan", "inf", "-0.5", "2"):   # NaN passes < and > tests: it must still be refused
        response = client.post("/v1/query", data={"max_distance": value}, files=[upload("x", b"x", "file")])
        assert response.status_code == 422 and "out of range" in response.json()["detail"], value


def test_a_near_fingerprint_is_found_at_its_distance_and_a_far_one_is_not(served):
    client, _, issued = served
    stored = bytes.fromhex(issued[4]["certificate"]["fingerprint"])
    near = bytes([stored[0] ^ 0b11111, *stored[1:]])             # 5 bits flipped
    far = bytes(b ^ 0xFF for b in stored[:6]) + stored[6:]       # 48 bits flipped: over 39/256
    body = {"queries": [{"fingerprint": near.hex()}, {"fingerprint": far.hex()}]}
    found, missed = client.post("/v1/query", json=body).json()["results"]
    assert [(m["certificate_id"], m["distance"]) for m in found["matches"]] == [
        (issued[4]["certificate"]["id"], 5 / 256)]
    # no descriptor sent: not confirmable, so the distance threshold decides
    assert found["matches"][0]["confirmed"] is None and 5 / 256 <= DISTANCE_THRESHOLD
    assert issued[4]["certificate"]["id"] not in ids(missed)


def test_matches_are_ranked_and_limited(served):
    client, _, issued = served
    home = client.app.state.readers.path.parent
    record = issued[0]["certificate"]
    with client_of(home, Settings(max_distance=1.0)) as wide:
        body = {"queries": [{"blake3": record["content_hash"], "fingerprint": record["fingerprint"]}],
                "max_distance": 1.0, "match_rule": "distance"}
        (every,) = wide.post("/v1/query", json=body).json()["results"]
        (three,) = wide.post("/v1/query", json={**body, "limit": 3}).json()["results"]
    assert len(every["matches"]) == 7 and ids(every)[0] == record["id"] and every["matches"][0]["exact"]
    distances = [m["distance"] for m in every["matches"]]
    assert distances == sorted(distances) and distances[1] > 0.25
    assert three["matches"] == every["matches"][:3]


def views_body(views, descriptors=None, **extra) -> dict:
    return {"queries": [{"fingerprints": [f.hex() for f in views.fingerprints],
                         "descriptors": [d.hex() for d in (descriptors or views.descriptors)]}], **extra}


def test_sent_views_are_confirmed_and_a_wrong_descriptor_is_refused(served):
    """The second stage decides: the same candidate (the mirrored copy's mirror view is the
    stored fingerprint) is confirmed with the copy's own descriptors, and refused with an
    unrelated picture's, which the distance rule would still accept."""
    client, _, issued = served
    target = issued[3]["certificate"]["id"]
    mirrored = query_views(SVDParams(), scene(3)[:, ::-1])
    other = query_views(SVDParams(), scene(5))
    (found,) = client.post("/v1/query", json=views_body(mirrored)).json()["results"]
    best = found["matches"][0]
    assert best["certificate_id"] == target and best["distance"] == 0.0 and best["view"] == "view1"
    assert best["confirmed"] is True and best["confirmation"] >= CONFIRM_THRESHOLD
    assert found["views"] == ["identity"] + [f"view{i}" for i in range(1, len(mirrored.names))]
    swapped = views_body(mirrored, other.descriptors[:1] * len(mirrored.names))
    (refused,) = client.post("/v1/query", json=swapped).json()["results"]
    assert target not in ids(refused)
    (by_distance,) = client.post("/v1/query", json={**swapped, "match_rule": "distance"}).json()["results"]
    assert ids(by_distance)[0] == target and by_distance["matches"][0]["confirmed"] is None


def test_malformed_views_are_problems(served):
    client, _, issued = served
    views = query_views(SVDParams(), scene(1))
    good = views_body(views)["queries"][0]
    fingerprint = good["fingerprints"][0]
    cases = [
        ({**good, "descriptors": good["descriptors"][:1]},
         f"1 descriptors for {len(views.names)} fingerprints"),
        ({**good, "fingerprint": fingerprint}, "fingerprint or fingerprints, not both"),
        ({**good, "descriptors": ["ff" + good["descriptors"][0][2:], *good["descriptors"][1:]]},
         "descriptors[0]"),
        ({**good, "descriptors": ["00ff", *good["descriptors"][1:]]}, "descriptors[0]"),
    ]
    for item, detail in cases:
        response = client.post("/v1/query", json={"queries": [item]})
        assert response.status_code == 422 and detail in response.json()["detail"], (item, response.json())
    for body in ({"queries": [{"fingerprints": [fingerprint] * 9}]},
                 {"queries": [good], "match_rule": "nearest"},
                 {"queries": [{"fingerprints": []}]},
                 # every list item is held to its pattern (not hex: a 422, never a 500)
                 {"queries": [{**good, "descriptors": ["zz", *good["descriptors"][1:]]}]},
                 {"queries": [{**good, "fingerprints": ["zz" * 32, *good["fingerprints"][1:]]}]},
                 {"queries": [{**good, "window_fingerprints": [fingerprint],
                               "window_descriptors": ["0xzz"]}]}):
        response = client.post("/v1/query", json=body)
        assert response.status_code == 422 and response.json()["type"] == "urn:rosvd:problem:invalid-request"
    refused = client.post("/v1/query", data={"match_rule": "nearest"},
                          files=[upload("x.png", png(scene(1)), "file")])
    assert refused.status_code == 422 and "match_rule must be one of" in refused.json()["detail"]


def corner_crop(image, keep=0.8):
    rows, cols = round(keep * image.shape[0]), round(keep * image.shape[1])
    return image[image.shape[0] - rows:, :cols]      # the bottom-left 80% x 80%


def test_an_off_centre_crop_is_found_through_a_region_window(served):
    """80% of each side from a corner: the content's fingerprint is far from the stored one,
    a window of the crop meets the stored region fingerprint. The match names the region
    fingerprint (the server's word) and its distance includes the penalty."""
    from rosvd.match import REGION_PENALTY
    client, _, issued = served
    target = issued[5]["certificate"]
    (found,) = client.post("/v1/query", files=[upload("crop.png", png(corner_crop(scene(5))), "file")]
                           ).json()["results"]
    assert len(found["windows"]) == 27 and found["windows"][0] == "3/4@0,0"
    best = found["matches"][0]
    assert best["certificate_id"] == target["id"] and best["region_fingerprint"] is not None
    assert best["view"] in found["windows"] and best["confirmed"] is True
    assert REGION_PENALTY <= best["distance"] <= CANDIDATE_DISTANCE
    # the same from JSON: the client sends its windows (computed as the server does)
    views = query_views(SVDParams(), corner_crop(scene(5)))
    body = views_body(views)
    body["queries"][0].update(window_fingerprints=[f.hex() for f in views.windows.fingerprints],
                              window_descriptors=[d.hex() for d in views.windows.descriptors])
    (sent,) = client.post("/v1/query", json=body).json()["results"]
    assert sent["matches"][0]["certificate_id"] == target["id"]
    assert sent["matches"][0]["distance"] == best["distance"] and sent["windows"][0] == "window1"
    # without its windows the crop is not found: the region fingerprint is what finds it
    (alone,) = client.post("/v1/query", json=views_body(views)).json()["results"]
    assert target["id"] not in ids(alone)


def test_malformed_windows_are_problems(served):
    client, _, _ = served
    views = query_views(SVDParams(), scene(1))
    item = views_body(views)["queries"][0]
    windows = [f.hex() for f in views.windows.fingerprints]
    described = [d.hex() for d in views.windows.descriptors]
    with_windows = {**item, "window_fingerprints": windows}
    cases = [
        ({**with_windows, "window_descriptors": described[:3]}, "3 window descriptors"),
        ({**item, "window_descriptors": described}, "window_descriptors without window_fingerprints"),
        ({"blake3": "00" * 32, "window_fingerprints": windows}, "need the content's fingerprints"),
        ({**with_windows, "window_descriptors": ["ff" + described[0][2:]] + described[1:]},
         "window_descriptors[0]"),
    ]
    for query, detail in cases:
        response = client.post("/v1/query", json={"queries": [query]})
        assert response.status_code == 422 and detail in response.json()["detail"], (detail, response.json())
    too_many = client.post("/v1/query", json={"queries": [{**item, "window_fingerprints": windows * 2}]})
    assert too_many.status_code == 422 and too_many.json()["type"] == "urn:rosvd:problem:invalid-request"
