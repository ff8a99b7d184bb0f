"""schemathesis against a real `rosvd serve`, and what it found (one regression test each).

The full run (>= 10,000 cases) is `scripts/api_fuzz.py --cases 10000` (docs/api.md,
"Reliability"); the default suite runs a small one with the same checks.
"""
import json

import pytest

from rosvd.api.app import MAX_INT64
from rosvd.api.fuzz import fuzz
from rosvd.api.process import ServerProcess, local_home

from .conftest import POLICY, bearer, client_of, enrolled

#: Cases of the suite's run: every operation, every phase, ~20 s on 2 cores.
SUITE_CASES = 200


def test_a_small_schemathesis_run_finds_no_5xx_and_no_schema_violation(tmp_path):
    pytest.importorskip("schemathesis")
    token = local_home(tmp_path / "home", POLICY)
    with ServerProcess(tmp_path / "home", tmp_path / "serve.log") as server:
        report = fuzz(server.url, token, SUITE_CASES, log=tmp_path / "schemathesis.log")
    summary = json.dumps({key: report[key] for key in ("cases", "responses", "server_errors", "no_response",
                                                        "runs", "failures")}, indent=1)
    assert report["failures"] == [] and report["server_errors"] == 0, summary
    assert report["ok"] and report["cases"] >= SUITE_CASES and report["responses"] >= SUITE_CASES, summary
    writes = report["statuses"]["POST /v1/certificates"]
    # With the token the fuzzer certifies; without it (and with a wrong one) it is refused.
    assert writes.get("201") and writes.get("401") and writes.get("403"), writes
    assert {"GET /healthz", "GET /v1/epochs", "POST /v1/query", "GET /v1/bundles/{certificate_id}"} <= set(
        report["statuses"])


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return enrolled(tmp_path_factory.mktemp("fuzz") / "home")


@pytest.fixture(scope="module")
def spec(home):
    with client_of(home[0]) as client:
        return client.get("/openapi.json").json()


def test_epoch_numbers_past_sqlite_integers_are_refused_not_a_500(home):
    # Found: GET /v1/epochs?after=59811550338832634704530767872 was a 500 (SQLite cannot bind it).
    with client_of(home[0], raise_server_exceptions=False) as client:
        assert client.get(f"/v1/epochs?after={MAX_INT64}").json() == {"epochs": [], "next_after": None}
        refused = client.get(f"/v1/epochs?after={MAX_INT64 + 1}")
        assert refused.status_code == 422 and refused.json()["errors"][0]["loc"] == ["query", "after"]


def test_error_responses_are_documented_as_the_problem_documents_they_are(spec):
    # Found: every 4xx/5xx was documented as application/json (FastAPI's default), and the
    # 422 of three routes as FastAPI's HTTPValidationError, a shape the service never sends.
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status >= "400":
                    assert set(response["content"]) == {"application/problem+json"}, (method, path, status)
                    assert response["content"]["application/problem+json"]["schema"] == {
                        "$ref": "#/components/schemas/ProblemDetail"}
            if path not in ("/healthz", "/metrics"):  # rate limited, size limited, validated
                assert {"413", "422", "429", "500"} <= set(operation["responses"]), (method, path)
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_every_reference_in_the_document_resolves(spec):
    # Found: the JSON query body referred to #/components/schemas/QueryRequest, which was missing.
    def refs(node):
        if isinstance(node, dict):
            yield from ([node["$ref"]] if "$ref" in node else [])
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)
    names = {ref.removeprefix("#/components/schemas/") for ref in refs(spec)}
    assert {"QueryRequest", "QueryItem"} <= names <= set(spec["components"]["schemas"])


def test_upload_refusals_are_documented(home, spec):
    # Found: POST /v1/certificates answered 415 (not multipart) and 400 (broken multipart),
    # POST /v1/query 400, none of them documented.
    path, token = home
    broken = {"content": b"--x\r\n[[]]--x--\r\n",
              "headers": {"content-type": "multipart/form-data; boundary=x", **bearer(token)}}
    with client_of(path) as client:
        for route, status, kwargs in (("/v1/certificates", 415, {"json": {}, "headers": bearer(token)}),
                                      ("/v1/certificates", 400, broken), ("/v1/query", 400, broken)):
            answer = client.post(route, **kwargs)
            assert answer.status_code == status, (route, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert str(status) in spec["paths"][route]["post"]["responses"], (route, status)


def test_405_names_every_method_of_the_path_in_allow(home):
    # Found: OPTIONS /v1/certificates said `Allow: GET` (the first route of the path), not POST too.
    with client_of(home[0]) as client:
        for method, path, allowed in (("OPTIONS", "/v1/certificates", "GET, POST"),
                                      ("DELETE", "/v1/devices", "GET"),
                                      ("PUT", "/v1/query", "POST")):
            answer = client.request(method, path)
            assert answer.status_code == 405 and answer.headers["allow"] == allowed, (method, path)
            assert answer.headers["content-type"] == "application/problem+json"
