"""The committed OpenAPI document is the one the app serves."""
import json
from pathlib import Path

from rosvd.api.openapi import render

from .conftest import client_of, enrolled

COMMITTED = Path(__file__).parents[2] / "docs" / "openapi.json"


def test_committed_openapi_matches_the_app(tmp_path):
    home, _ = enrolled(tmp_path / "home")
    with client_of(home) as client:
        served = client.get("/openapi.json").json()
    assert render(served) == COMMITTED.read_text(), (
        "docs/openapi.json is out of date: run `python -m rosvd.api.openapi docs/openapi.json`")
    errors = {code for path in served["paths"].values() for op in path.values() for code in op["responses"]
              if code >= "400"}
    assert {"404", "409", "413", "422", "429", "500"} <= errors
    schemes = json.loads(COMMITTED.read_text())["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
