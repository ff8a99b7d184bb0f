"""Write the service's OpenAPI document: ``python -m rosvd.api.openapi docs/openapi.json``.

The committed copy is the contract; ``tests/api/test_openapi.py`` fails when it differs
from what the app serves at ``/openapi.json``. The document does not depend on the home
(settings only change limits, not the schema), so any enrolled home produces it.
"""
import json
import sys
import tempfile
from pathlib import Path


def document() -> dict:
    from ..certify import ApplianceConfig, initialise
    from .app import create_app
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / "home"
        initialise(home, ApplianceConfig(dev_mode=True))
        return create_app(home).openapi()


def render(spec: dict) -> str:
    return json.dumps(spec, indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    text = render(document())
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text)
    else:
        sys.stdout.write(text)
