"""POST /v1/certificates: the token, the limits, and certificates committed before the answer."""
import time

import numpy as np
import pytest

from rosvd.api import tokens
from rosvd.api.settings import Settings
from rosvd.store import Store

from .conftest import bearer, client_of, enrolled, png, scene, upload


@pytest.fixture
def home(tmp_path):
    return enrolled(tmp_path / "home")


def certify(client, token, *files, headers=None):
    return client.post("/v1/certificates", headers=bearer(token) if headers is None else headers,
                       files=list(files))


def test_certificates_are_committed_before_the_answer(home):
    path, token = home
    with client_of(path) as client:
        response = certify(client, token, upload("a.png", png(scene(1))), upload("b.bin", b"plain bytes"))
        assert response.status_code == 201
        issued = response.json()["issued"]
        # A store opened apart from the service already holds both, signed and numbered.
        store = Store(path / "rosvd.sqlite")
        try:
            assert [store.certificate_by_id(bytes.fromhex(item["certificate"]["certificate"]["id"])).name
                    for item in issued] == ["a.png", "b.bin"]
        finally:
            store.close()
        assert [item["certificate"]["certificate"]["content_kind"] for item in issued] == [1, 0]
        again = certify(client, token, upload("a-again.png", png(scene(1)))).json()["issued"]
        assert again[0]["existing"] and again[0]["certificate"] == issued[0]["certificate"]


def test_token_required_refused_and_rotated(home):
    path, token = home
    item = upload("a.png", png(scene(2)))
    with client_of(path) as client:
        missing = certify(client, token, item, headers={})
        assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
        assert missing.json()["type"] == "urn:rosvd:problem:unauthorized"
        wrong = certify(client, token, item, headers=bearer(token[:-1] + ("A" if token[-1] != "A" else "B")))
        assert wrong.status_code == 403 and wrong.json()["type"] == "urn:rosvd:problem:bad-token"
        assert certify(client, token, item, headers={"Authorization": f"Basic {token}"}).status_code == 401
        # The token is checked before the body is read: a garbled body without one is a 401, not a 400.
        garbled = client.post("/v1/certificates", content=b"--x\r\ngarbage",
                              headers={"Content-Type": "multipart/form-data; boundary=x"})
        assert garbled.status_code == 401
        new = tokens.rotate(path)  # takes effect at once, without a restart
        assert certify(client, token, item).status_code == 403
        assert certify(client, new, item).status_code == 201
    stored = (path / tokens.TOKEN_FILE).read_text()
    assert token not in stored and new not in stored
    assert (path / tokens.TOKEN_FILE).stat().st_mode & 0o077 == 0


def test_no_token_configured_refuses_writes(home):
    path, token = home
    (path / tokens.TOKEN_FILE).unlink()
    with client_of(path) as client:
        response = certify(client, token, upload("a.png", png(scene(2))))
        assert response.status_code == 403 and response.json()["type"] == "urn:rosvd:problem:no-token"


def count(path) -> int:
    store = Store(path / "rosvd.sqlite")
    try:
        return store.certificate_count()
    finally:
        store.close()


def test_size_pixel_and_count_limits_refuse_with_413_and_write_nothing(home):
    path, token = home
    settings = Settings(max_request_bytes=200_000, max_file_bytes=100_000, max_pixels=128 * 160, max_files=2)
    flat = np.full((200, 200, 3), 90, np.uint8)  # a small file with more pixels than allowed
    with client_of(path, settings) as client:
        declared = certify(client, token, upload("big.bin", bytes(300_000)))
        assert declared.status_code == 413 and declared.json()["type"] == "urn:rosvd:problem:too-large"

        def chunks():  # no Content-Length: counted as it streams
            for _ in range(30):
                yield bytes(10_000)
        multipart = {**bearer(token), "Content-Type": "multipart/form-data; boundary=x"}
        streamed = client.post("/v1/certificates", headers=multipart, content=chunks())
        assert streamed.status_code == 413 and streamed.json()["type"] == "urn:rosvd:problem:too-large"
        one_file = certify(client, token, upload("file.bin", bytes(150_000)))
        assert one_file.status_code == 413 and one_file.json()["type"] == "urn:rosvd:problem:file-too-large"
        pixels = certify(client, token, upload("wide.png", png(flat)))
        assert pixels.status_code == 413 and pixels.json()["type"] == "urn:rosvd:problem:too-many-pixels"
        files = certify(client, token, *[upload(f"{i}.bin", bytes([i])) for i in range(3)])
        assert files.status_code == 413 and files.json()["type"] == "urn:rosvd:problem:too-many-files"
        assert certify(client, token, upload("ok.png", png(scene(3)))).status_code == 201
    assert count(path) == 1


def test_refused_content_refuses_the_whole_upload(home):
    path, token = home
    with client_of(path) as client:
        response = certify(client, token, upload("good.png", png(scene(4))),
                           upload("broken.png", png(scene(5))[:200]))
        assert response.status_code == 422
        problem = response.json()
        assert problem["type"] == "urn:rosvd:problem:refused-content" and problem["error"] == "CorruptContent"
        assert "broken.png" in problem["detail"]
        empty = certify(client, token, upload("empty.bin", b""))
        assert empty.status_code == 422 and empty.json()["error"] == "EmptyContent"
        assert client.post("/v1/certificates", headers=bearer(token)).status_code == 415  # not multipart
        no_files = certify(client, token, upload("x.bin", b"x", field="other"))
        assert no_files.status_code == 422 and "`files`" in no_files.json()["detail"]
    assert count(path) == 0


def test_the_service_seals_an_old_epoch_by_itself(tmp_path):
    from rosvd import ingest
    from rosvd.certify import Appliance, ApplianceConfig, initialise
    from rosvd.epochs import EpochPolicy
    home = tmp_path / "aged"
    initialise(home, ApplianceConfig(dev_mode=True, policy=EpochPolicy(100, 0.01, 300)))
    with Appliance(home) as appliance:  # `certify` alone never seals: only the service's check can
        appliance.certify([ingest.from_bytes(b"old news", "old.bin")])
    with client_of(home, Settings(seal_check_s=0.05)) as client:
        deadline = time.monotonic() + 5
        while client.get("/v1/epochs").json()["epochs"][0]["status"] != "closed":
            assert time.monotonic() < deadline, "the open epoch was never sealed by age"
            time.sleep(0.05)
