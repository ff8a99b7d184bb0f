"""Every error is an RFC 9457 problem: routing, methods, rate, unhandled exceptions, settings."""
import json
import threading

import pytest

from rosvd.api import records
from rosvd.api.limits import RateLimit
from rosvd.api.settings import SETTINGS_FILE, Settings, SettingsError

from .conftest import client_of, enrolled

KEYS = {"type", "title", "status", "detail", "instance"}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return enrolled(tmp_path_factory.mktemp("problems") / "home")[0]


def test_unknown_route_and_method(home):
    with client_of(home) as client:
        missing = client.get("/v2/nothing")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        assert missing.json() == {"type": "urn:rosvd:problem:not-found", "title": "Not found", "status": 404,
                                  "detail": "no resource at /v2/nothing", "instance": "/v2/nothing"}
        method = client.delete("/v1/devices")
        assert method.status_code == 405 and set(method.json()) == KEYS
        assert "DELETE" in method.json()["detail"]


def test_an_unhandled_error_is_a_500_without_a_traceback(home, monkeypatch):
    def broken(*args):
        raise RuntimeError("secret internals /srv/path")
    monkeypatch.setattr(records, "device_record", broken)
    with client_of(home, raise_server_exceptions=False) as client:
        response = client.get("/v1/devices")
    assert response.status_code == 500 and set(response.json()) == KEYS
    assert response.json()["type"] == "urn:rosvd:problem:internal-error"
    assert "secret" not in response.text and "Traceback" not in response.text


def test_rate_limit_answers_429_with_retry_after_and_spares_probes(home):
    with client_of(home, Settings(rate_per_s=0.5, rate_burst=2)) as client:
        assert [client.get("/v1/devices").status_code for _ in range(3)] == [200, 200, 429]
        limited = client.get("/v1/epochs")
        assert limited.status_code == 429 and limited.json()["type"] == "urn:rosvd:problem:rate-limited"
        assert int(limited.headers["retry-after"]) >= 1
        assert client.get("/healthz").status_code == 200 and client.get("/metrics").status_code == 200


def test_token_bucket_refills_at_its_rate():
    now = [0.0]
    bucket = RateLimit(None, rate_per_s=2.0, burst=1, clock=lambda: now[0])
    assert bucket.take("a") == 0 and bucket.take("a") == pytest.approx(0.5) and bucket.take("b") == 0
    now[0] = 0.5
    assert bucket.take("a") == 0


def test_settings_file_is_checked(home, tmp_path):
    assert Settings.load(tmp_path) == Settings()
    (tmp_path / SETTINGS_FILE).write_text(json.dumps({"max_files": 3, "rate_per_s": 5}))
    assert Settings.load(tmp_path).max_files == 3
    for bad, message in (({"max_flies": 3}, "unknown settings max_flies"), ({"max_files": 0}, "positive"),
                         ({"max_files": "3"}, "an integer"), ({"max_distance": 0.1}, "match_distance")):
        (tmp_path / SETTINGS_FILE).write_text(json.dumps(bad))
        with pytest.raises(SettingsError, match=message):
            Settings.load(tmp_path)


def test_healthz_says_503_when_the_store_is_gone(tmp_path):
    home, _ = enrolled(tmp_path / "home")
    with client_of(home) as client:
        assert client.get("/healthz").status_code == 200
        client.app.state.readers.path = home / "moved.sqlite"   # new worker threads open this: missing
        client.app.state.readers._local = threading.local()
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["type"] == "urn:rosvd:problem:store-unavailable"
    assert str(home) not in response.text, "the public detail must not say where the store is"
