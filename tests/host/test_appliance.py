"""The certify pipeline end to end on the model device: durable certificates, epochs, VDF chain."""
import time

import numpy as np
import pytest

from rosvd import ingest
from rosvd.certificate import decode, verify_signature
from rosvd.certify import Appliance, ApplianceConfig, ApplianceError, initialise
from rosvd.epochs import EpochPolicy, seal_open_epoch
from rosvd.merkle import StandardMerkleTree, verify

POLICY = EpochPolicy(max_certificates=5, max_age_s=3600, vdf_iterations=500)


@pytest.fixture
def home(tmp_path):
    initialise(tmp_path / "home", ApplianceConfig(dev_mode=True, policy=POLICY))
    return tmp_path / "home"


def arrays(count, seed=0):
    rng = np.random.default_rng(seed)
    return [ingest.from_array(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), f"a{i}")
            for i in range(count)]


def test_not_enrolled_is_a_clear_error(tmp_path):
    with pytest.raises(ApplianceError, match="rosvd enroll"):
        Appliance(tmp_path)
    initialise(tmp_path / "h", ApplianceConfig(dev_mode=True))
    with pytest.raises(ApplianceError, match="already"):
        initialise(tmp_path / "h", ApplianceConfig(dev_mode=True))


def test_certificates_are_stored_signed_and_sealed_in_epochs(home):
    contents = arrays(12) + [ingest.from_bytes(b"plain bytes", "f")]
    with Appliance(home) as appliance:
        issued = [item for batch in appliance.certify_all(contents, batch=3) for item in batch]
        assert [item.certificate.sequence for item in issued] == list(range(1, 14))
        for item, content in zip(issued, contents, strict=True):
            cert = item.certificate
            assert verify_signature(cert, item.signature)
            assert cert.content_hash == content.blake3()
            assert (cert.fingerprint != bytes(32)) == (content.pixels is not None)
        # 13 certificates, 5 per epoch: epochs 1 and 2 sealed and proved, 3 open with 3.
        states = [(e.number, e.state, e.count) for e in appliance.store.epochs()]
        assert states == [(1, "closed", 5), (2, "closed", 5), (3, "open", None)]
        assert [item.certificate.epoch for item in issued] == [1] * 5 + [2] * 5 + [3] * 3
        report = appliance.verify_chain()
        assert report.ok and report.epochs_checked == 2 and report.certificates_checked == 10


def test_merkle_proof_of_a_certificate_checks_against_the_epoch_root(home):
    with Appliance(home) as appliance:
        issued = [item for batch in appliance.certify_all(arrays(5)) for item in batch]
        epoch = appliance.store.epoch(1)
        ids = appliance.store.certificate_ids(1)
        tree = StandardMerkleTree.of([(cid,) for cid in ids], ["bytes32"])
        assert tree.root == epoch.merkle_root
        index = ids.index(issued[2].certificate.id)
        assert verify(epoch.merkle_root, tree.leaf_hash(index), tree.proof(index))


def test_same_content_same_fingerprint_and_hash(home):
    with Appliance(home) as appliance:
        a, b = appliance.certify(arrays(1, seed=3) + arrays(1, seed=3), again=True)
    assert a.certificate.content_hash == b.certificate.content_hash
    assert a.certificate.fingerprint == b.certificate.fingerprint
    assert a.certificate.entropy_commitment != b.certificate.entropy_commitment  # fresh per certificate
    assert not a.existing and not b.existing


def test_images_keep_their_match_descriptor_and_region_and_plain_files_none(home):
    """The confirmation stage's descriptor is computed from the same engine input as the
    fingerprint, and the central region's fingerprint and descriptor from the region's;
    all are stored with the certificate, in the same transaction."""
    from rosvd.fingerprint import fingerprint_images
    from rosvd.fingerprint_confirm import descriptors
    from rosvd.fingerprint_regions import region_images
    from rosvd.preprocess import preprocess
    picture, plain = arrays(1, seed=4)[0], ingest.from_bytes(b"just bytes", "notes.txt")
    with Appliance(home) as appliance:
        image, text = appliance.certify([picture, plain])
        both = [image.certificate.sequence, text.certificate.sequence]
        kept = appliance.store.match_descriptors(both)
        region_kept = appliance.store.match_descriptors(both, regions=True)
        (region_row,) = appliance.store.db.execute("SELECT sequence, fingerprint FROM region_fingerprints")
        params = appliance.device.params
    expected = descriptors(params, preprocess(params, picture.pixels)[None])[0]
    assert kept == {image.certificate.sequence: expected}
    (region,) = region_images(picture.pixels)
    region_descriptor = descriptors(params, preprocess(params, region)[None])[0]
    assert region_kept == {image.certificate.sequence: region_descriptor}
    assert region_row == (image.certificate.sequence, fingerprint_images(params, [region])[0])
    assert image.certificate.fingerprint == fingerprint_images(params, [picture.pixels])[0]


def test_certifying_the_same_bytes_again_returns_the_existing_certificate(home):
    """Re-running a killed job must not double its certificates: the same bytes on the same
    device get the certificate they already have, unless asked for a new one."""
    with Appliance(home) as appliance:
        (first,) = appliance.certify(arrays(1, seed=3))
        # In one batch: known content, new content, and a repeat of the new one, in order.
        again = appliance.certify(arrays(1, seed=3) + arrays(1, seed=4) + arrays(1, seed=4))
        assert [item.existing for item in again] == [True, False, True]
        assert again[0].certificate == first.certificate and again[0].signature == first.signature
        assert again[2].certificate == again[1].certificate
        assert appliance.store.certificate_count() == 2
        batches = list(appliance.certify_all(arrays(1, seed=3) + arrays(2, seed=5) + arrays(1, seed=5)))
        items = [item for batch in batches for item in batch]
        assert sorted(item.existing for item in items) == [False, False, True, True]
        assert appliance.store.certificate_count() == 4
        (forced,) = appliance.certify(arrays(1, seed=3), again=True)
        assert not forced.existing and forced.certificate.id != first.certificate.id
        assert appliance.store.certificate_count() == 5


def test_a_batch_larger_than_the_epoch_room_is_refused(home):
    with Appliance(home) as appliance:
        with pytest.raises(ValueError, match="certify_all"):
            appliance.certify(arrays(6))
        assert appliance.store.certificate_count() == 0


def test_epoch_sealed_by_age(home):
    policy = EpochPolicy(max_certificates=100, max_age_s=0.05, vdf_iterations=500)
    with Appliance(home, policy=policy) as appliance:
        assert appliance.maybe_seal() is None   # an empty epoch is never sealed by age
        appliance.certify(arrays(2))
        time.sleep(0.06)
        appliance.certify(arrays(1, seed=9))
        assert appliance.maybe_seal() == 1
        assert [e.state for e in appliance.store.epochs()][:1] in (["sealed"], ["closed"])  # proving
        appliance.wait_for_proofs()
        assert [e.state for e in appliance.store.epochs()] == ["closed", "open"]


def test_restart_finishes_a_sealed_epoch(home):
    with Appliance(home) as appliance:
        appliance.certify(arrays(3))
        seal_open_epoch(appliance.store, appliance.address, bytes(32), appliance.blocks, 500)
        assert appliance.store.epoch(1).state == "sealed"   # as if killed during the VDF
    with Appliance(home) as appliance:
        assert appliance.recovered_epochs == [1]
        assert appliance.store.epoch(1).state == "closed"
        assert appliance.verify_chain().ok


@pytest.mark.parametrize("tamper,problem", [
    ("UPDATE certificates SET encoding = CAST(substr(encoding, 1, 319) || x'ff' AS BLOB) WHERE sequence = 2",
     "certificate 2"),
    ("DELETE FROM certificates WHERE sequence = 3", "sequence"),
    ("UPDATE epochs SET merkle_root = zeroblob(32) WHERE number = 1", "epoch 1"),
    ("UPDATE epochs SET vdf_output = (SELECT vdf_output FROM epochs WHERE number = 2) WHERE number = 1",
     "epoch"),
    ("UPDATE certificates SET nonce = zeroblob(32) WHERE sequence = 4", "commitment"),
])
def test_verify_chain_finds_tampering(home, tamper, problem):
    with Appliance(home) as appliance:
        for _ in appliance.certify_all(arrays(10)):
            pass
        assert appliance.verify_chain().ok
        appliance.store.db.execute("PRAGMA foreign_keys=OFF")   # a tamperer is not bound by them
        appliance.store.db.execute(tamper)
        report = appliance.verify_chain()
    assert not report.ok
    assert any(problem in p for p in report.problems), report.problems


def test_stored_encoding_decodes_to_the_issued_certificate(home):
    with Appliance(home) as appliance:
        (item,) = appliance.certify(arrays(1))
        stored = appliance.store.find_by_content(item.certificate.content_hash)
    assert decode(stored[0].encoding) == item.certificate and stored[0].signature == item.signature
