"""An enrolled home (model device, small epochs), its write token, and a client of its app."""
import contextlib
import io
import warnings

import numpy as np
import pytest
from PIL import Image

from rosvd.api import tokens
from rosvd.api.app import create_app
from rosvd.api.settings import Settings
from rosvd.certify import ApplianceConfig, initialise
from rosvd.epochs import EpochPolicy

from ..host.test_verify import scene

#: Six certificates close an epoch (its VDF is 300 squarings: milliseconds).
POLICY = EpochPolicy(max_certificates=6, max_age_s=3600, vdf_iterations=300)




def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(array: np.ndarray, quality: int = 75) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def enrolled(path) -> tuple:
    initialise(path, ApplianceConfig(dev_mode=True, policy=POLICY))
    return path, tokens.rotate(path)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@contextlib.contextmanager
def client_of(home, settings: Settings | None = None, writer=None, **options):
    # Starlette's TestClient warns that it prefers httpx2; httpx (pinned) is what we ship.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    with TestClient(create_app(home, settings, writer), **options) as client:
        yield client


def upload(name: str, data: bytes, field: str = "files"):
    return (field, (name, data, "application/octet-stream"))


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """A home with seven scenes certified through the API: epoch 1 closed (six), epoch 2
    open (one); yields (client, token, issued records by scene seed)."""
    home, token = enrolled(tmp_path_factory.mktemp("served") / "home")
    with client_of(home) as client:
        response = client.post("/v1/certificates", headers=bearer(token),
                               files=[upload(f"scene{seed}.png", png(scene(seed))) for seed in range(7)])
        assert response.status_code == 201, response.text
        issued = {seed: item["certificate"] for seed, item in enumerate(response.json()["issued"])}
        yield client, token, issued
