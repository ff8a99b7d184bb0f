"""Look-up and proof bundles: exact and robust matches, bundles that check out alone, tampering caught."""
import io
import json
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from rosvd import ingest
from rosvd.bundle import BundleError, parse
from rosvd.certify import Appliance, ApplianceConfig, initialise
from rosvd.epochs import EpochPolicy
from rosvd.fingerprint import fingerprint_images
from rosvd.verifier import CHAIN_CHECKS, verify_bundle
from rosvd.verify import find, proof_bundle


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


OFFLINE_PASSING = {"bundle_format", "certificate_canonical", "device_signature", "entropy_commitment",
                   "epoch_number", "merkle_path", "vdf_proof", "vdf_genesis"}


def test_unanchored_bundle_passes_the_math_but_is_never_verified(certified):
    appliance, issued = certified
    bundle = json.loads(json.dumps(proof_bundle(appliance.store, issued[4].certificate.id)))
    result = verify_bundle(bundle)
    assert {check.name for check in result.checks if check.ok is True} == OFFLINE_PASSING
    assert result.check("anchor_signature").ok is False, "no anchor yet"
    assert all(result.check(name).ok is None for name in CHAIN_CHECKS), "no node: not checked"
    assert result.ok is False and result.to_json()["ok"] is False


@pytest.mark.parametrize("path,check", [
    (("signature",), "device_signature"),
    (("nonce",), "entropy_commitment"),
    (("merkle_proof", 0), "merkle_path"),
    (("epoch", "merkle_root"), "merkle_path"),
    (("epoch", "vdf_output"), "vdf_proof"),
    (("epoch", "entropy"), "vdf_proof"),
    (("epoch", "prev_output"), "vdf_genesis"),
    (("certificate",), "device_signature"),
])
def test_tampered_bundles_fail_the_named_check(certified, path, check):
    appliance, issued = certified
    bundle = proof_bundle(appliance.store, issued[1].certificate.id)
    holder = bundle
    for key in path[:-1]:
        holder = holder[key]
    value = holder[path[-1]]
    flipped = format(int(value[-2:], 16) ^ 1, "02x")
    holder[path[-1]] = value[:-2] + flipped
    result = verify_bundle(bundle)
    assert result.check(check).ok is False, result.to_json()
    assert not result.ok


def test_epoch_number_check_is_made(certified):
    """A certificate of epoch 1 presented as epoch 2's fails by name (not only through the VDF)."""
    appliance, issued = certified
    bundle = proof_bundle(appliance.store, issued[1].certificate.id)
    bundle["epoch"]["number"] = 2
    assert verify_bundle(bundle).check("epoch_number").ok is False


@pytest.mark.parametrize("mutate,field", [
    (lambda b: b["epoch"].pop("iterations"), "epoch"),
    (lambda b: b["epoch"].__setitem__("number", "1"), "epoch.number"),
    (lambda b: b["epoch"].__setitem__("number", 10**30), "epoch.number"),
    (lambda b: b["epoch"].__setitem__("iterations", True), "epoch.iterations"),
    (lambda b: b["epoch"].__setitem__("merkle_root", "00" * 31), "epoch.merkle_root"),
    (lambda b: b["merkle_proof"].__setitem__(0, "ab" * 31), "merkle_proof[0]"),
    (lambda b: b.__setitem__("merkle_proof", ["00" * 32] * 1_000_000), "merkle_proof"),
    (lambda b: b.__setitem__("version", 2), "version"),
    (lambda b: b.__setitem__("extra", 1), "bundle"),
    (lambda b: b.__setitem__("signature", "0x" + "00" * 64), "signature"),
    (lambda b: b.__setitem__("nonce", "AB" * 32), "nonce"),
    (lambda b: b.__setitem__("epoch", []), "epoch"),
])
def test_malformed_bundles_name_the_field_and_never_raise(certified, mutate, field):
    appliance, issued = certified
    bundle = proof_bundle(appliance.store, issued[1].certificate.id)
    mutate(bundle)
    started = time.perf_counter()
    with pytest.raises(BundleError) as info:
        parse(bundle)
    assert info.value.field == field
    result = verify_bundle(bundle)
    assert result.check("bundle_format").ok is False and field in result.check("bundle_format").detail
    assert not result.ok and time.perf_counter() - started < 1.0, "bounded: no million-node walk"


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=8), max_leaves=20))
def test_bundle_parser_refuses_arbitrary_json_by_name(value):
    try:
        parse(value)
    except BundleError as error:
        assert error.field
    else:  # pragma: no cover - arbitrary JSON is never a whole bundle
        raise AssertionError("parsed an arbitrary value")


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_bundle_parser_on_mutated_real_bundles(certified_bundle, data):
    """Any field of a real bundle replaced by an arbitrary JSON value: a BundleError or a
    bundle whose checks run without raising."""
    bundle = json.loads(json.dumps(certified_bundle))
    holder, key = _pick_field(bundle, data)
    holder[key] = data.draw(st.none() | st.booleans() | st.integers() | st.text(max_size=210)
                            | st.lists(st.text(max_size=66), max_size=3), label="value")
    verify_bundle(bundle)  # must not raise


def _pick_field(bundle, data):
    holder = bundle
    while True:
        keys = list(holder) if isinstance(holder, dict) else list(range(len(holder)))
        key = data.draw(st.sampled_from(keys), label="key")
        if isinstance(holder[key], dict | list) and holder[key] and data.draw(st.booleans(), label="deeper"):
            holder = holder[key]
            continue
        return holder, key


@pytest.fixture(scope="module")
def certified_bundle(tmp_path_factory):
    home = tmp_path_factory.mktemp("bundle") / "h"
    initialise(home, ApplianceConfig(dev_mode=True, policy=EpochPolicy(8, 3600, 400)))
    with Appliance(home) as appliance:
        issued = appliance.certify([ingest.from_bytes(bytes([i]) * 10, f"f{i}") for i in range(3)])
        appliance.seal()
        return proof_bundle(appliance.store, issued[1].certificate.id)


def test_no_bundle_before_the_epoch_is_proved(tmp_path):
    initialise(tmp_path / "h", ApplianceConfig(dev_mode=True))
    with Appliance(tmp_path / "h") as appliance:
        (item,) = appliance.certify([ingest.from_bytes(b"x", "x")])
        with pytest.raises(ValueError, match="no proof yet"):
            proof_bundle(appliance.store, item.certificate.id)
        with pytest.raises(KeyError):
            proof_bundle(appliance.store, bytes(32))


def _reference_bundle(store, certificate_id):
    """The bundle with its Merkle path rebuilt from the epoch's ids (no kept tree)."""
    from rosvd.epochs import epoch_tree
    bundle = proof_bundle(store, certificate_id)
    number = bundle["epoch"]["number"]
    ids = store.certificate_ids(number)
    bundle["merkle_proof"] = [node.hex() for node in epoch_tree(ids).proof(ids.index(certificate_id))]
    return bundle


def test_bundles_read_the_tree_kept_at_sealing_or_rebuild_it(tmp_path):
    """Sealing keeps the epoch's tree; bundles read their path from it. An epoch sealed
    before trees were kept (row deleted here) is rebuilt, and keep_epoch_trees (which an
    appliance runs when it opens the store) adds its tree back. A kept tree that does not
    give the epoch's root is never used."""
    from rosvd.epochs import keep_epoch_trees
    initialise(tmp_path / "h", ApplianceConfig(dev_mode=True, policy=EpochPolicy(3, 3600, 50)))
    with Appliance(tmp_path / "h") as appliance:
        store = appliance.store
        issued = [item for batch in appliance.certify_all(
            [ingest.from_bytes(bytes([i]) * 10, f"f{i}") for i in range(9)]) for item in batch]
        if store.open_epoch().number == 3:
            appliance.seal()
        ids = [item.certificate.id for item in issued]
        assert all(store.epoch_tree_nodes(n) is not None for n in (1, 2, 3))
        assert all(proof_bundle(store, cid) == _reference_bundle(store, cid) for cid in ids)
        assert store.epochs_without_tree() == [] and keep_epoch_trees(store) == 0

        with store.transaction():
            store.db.execute("DELETE FROM epoch_trees WHERE epoch IN (1, 2)")
        assert store.epochs_without_tree() == [1, 2]
        assert all(proof_bundle(store, cid) == _reference_bundle(store, cid) for cid in ids)
    with Appliance(tmp_path / "h") as appliance:        # opening the store keeps them again
        assert appliance.kept_trees == 2 and appliance.store.epochs_without_tree() == []
        store = appliance.store
        assert all(proof_bundle(store, cid) == _reference_bundle(store, cid) for cid in ids)

        from rosvd.epochs import epoch_tree
        other = epoch_tree(store.certificate_ids(1) + [bytes(range(32))])   # holds ids[0], wrong root
        with store.transaction():
            store.db.execute("UPDATE epoch_trees SET nodes=? WHERE epoch=1", (b"".join(other.tree),))
        assert proof_bundle(store, ids[0]) == _reference_bundle(store, ids[0])
        nodes = bytearray(store.epoch_tree_nodes(2))   # its root kept, an inner node damaged
        nodes[32:64] = bytes(32)
        with store.transaction():
            store.db.execute("UPDATE epoch_trees SET nodes=? WHERE epoch=2", (bytes(nodes),))
        assert all(proof_bundle(store, cid) == _reference_bundle(store, cid) for cid in ids[3:6])

        (fresh,) = appliance.certify([ingest.from_bytes(b"new", "n")])
        with pytest.raises(ValueError, match="no proof yet"):
            proof_bundle(store, fresh.certificate.id)
