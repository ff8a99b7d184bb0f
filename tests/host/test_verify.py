"""Look-up and proof bundles: exact and robust matches, bundles that check out alone, tampering caught."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from rosvd import ingest
from rosvd.certify import Appliance, ApplianceConfig, initialise
from rosvd.epochs import EpochPolicy
from rosvd.fingerprint import fingerprint_images
from rosvd.verify import check_bundle, find, proof_bundle


def scene(seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:128, 0:160] / 128.0
    image = np.zeros((128, 160, 3))
    for _ in range(6):
        cy, cx, r = rng.uniform(0.1, 1.1), rng.uniform(0.1, 1.1), rng.uniform(0.05, 0.4)
        image += np.where((x - cx) ** 2 + (y - cy) ** 2 < r * r, 1.0, 0.0)[..., None] * rng.uniform(0, 90, 3)
    return np.clip(image + 40 * x[..., None], 0, 255).astype(np.uint8)


def png(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(array, quality=75) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture
def certified(tmp_path):
    initialise(tmp_path / "h", ApplianceConfig(dev_mode=True, policy=EpochPolicy(8, 3600, 400)))
    appliance = Appliance(tmp_path / "h")
    contents = [ingest.from_bytes(png(scene(seed)), f"scene{seed}.png") for seed in range(6)]
    issued = [item for batch in appliance.certify_all(contents) for item in batch]
    appliance.seal()
    yield appliance, issued
    appliance.close()


def fingerprint_of(content):
    from rosvd.hw.svd.params import SVDParams
    return fingerprint_images(SVDParams(), [content.pixels])[0]


def test_exact_and_robust_lookup(certified):
    appliance, issued = certified
    original = ingest.from_bytes(png(scene(2)), "again.png")
    (match,) = [m for m in find(appliance.store, original, fingerprint_of(original), 0.0) if m.exact]
    assert match.certificate_id == issued[2].certificate.id
    reencoded = ingest.from_bytes(jpeg(scene(2)), "scene2.jpg")
    matches = find(appliance.store, reencoded, fingerprint_of(reencoded), 0.2)
    assert matches and not matches[0].exact and matches[0].certificate_id == issued[2].certificate.id
    unrelated = ingest.from_bytes(png(scene(99)), "other.png")
    close = find(appliance.store, unrelated, fingerprint_of(unrelated), 0.05)
    assert all(m.certificate_id != issued[2].certificate.id for m in close)


def test_bundle_checks_out_from_json_alone(certified):
    appliance, issued = certified
    bundle = json.loads(json.dumps(proof_bundle(appliance.store, issued[4].certificate.id)))
    assert check_bundle(bundle) == []


@pytest.mark.parametrize("path,problem", [
    (("signature",), "signature"),
    (("nonce",), "commitment"),
    (("merkle_proof", 0), "Merkle"),
    (("epoch", "merkle_root"), "Merkle"),
    (("epoch", "vdf_output"), "VDF"),
    (("epoch", "entropy"), "VDF"),
    (("certificate",), "signature"),
])
def test_tampered_bundles_are_caught(certified, path, problem):
    appliance, issued = certified
    bundle = proof_bundle(appliance.store, issued[1].certificate.id)
    holder = bundle
    for key in path[:-1]:
        holder = holder[key]
    value = holder[path[-1]]
    flipped = format(int(value[-2:], 16) ^ 1, "02x")
    holder[path[-1]] = value[:-2] + flipped
    problems = check_bundle(bundle)
    assert any(problem in p for p in problems), problems


def test_no_bundle_before_the_epoch_is_proved(tmp_path):
    initialise(tmp_path / "h", ApplianceConfig(dev_mode=True))
    with Appliance(tmp_path / "h") as appliance:
        (item,) = appliance.certify([ingest.from_bytes(b"x", "x")])
        with pytest.raises(ValueError, match="no proof yet"):
            proof_bundle(appliance.store, item.certificate.id)
        with pytest.raises(KeyError):
            proof_bundle(appliance.store, bytes(32))
