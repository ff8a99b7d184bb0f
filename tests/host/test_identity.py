"""Device identity: made from device entropy, simulated entropy refused outside dev mode, kept private."""
import json
import os
import stat

import pytest
from eth_account import Account
from eth_hash.auto import keccak

from rosvd.device import Entropy, ModelDevice, SimulatedEntropyRefused
from rosvd.identity import (
    HALF_ORDER,
    SECP256K1_ORDER,
    DeviceIdentity,
    IdentityError,
    enroll,
    load_identity,
    personal_digest,
    recover_address,
    recover_typed,
)
from rosvd.key_file import MIN_SCRYPT_N


class FixedEntropy(ModelDevice):
    """A device whose entropy is known, to check the key is derived from it."""

    def __init__(self, data: bytes, simulated: bool):
        super().__init__()
        self.data, self.simulated = data, simulated

    def entropy(self, nbytes):
        return Entropy(self.data[:nbytes], self.simulated)


def test_enroll_refuses_simulated_entropy_outside_dev_mode(tmp_path):
    with pytest.raises(SimulatedEntropyRefused, match="--dev"):
        enroll(ModelDevice(), tmp_path / "key.json", dev_mode=False, passphrase="p", scrypt_n=MIN_SCRYPT_N)
    assert not (tmp_path / "key.json").exists()


def test_key_comes_from_device_entropy_and_file_is_private(tmp_path):
    data = bytes(range(64))
    identity = enroll(FixedEntropy(data, simulated=False), tmp_path / "key.json", dev_mode=False,
                      passphrase="board secret", scrypt_n=MIN_SCRYPT_N)
    expected = int.from_bytes(data, "big") % SECP256K1_ORDER
    assert identity.private_key.secret == expected.to_bytes(32, "big")
    assert Account.from_key(identity.private_key.secret).address == identity.address
    assert stat.S_IMODE(os.stat(tmp_path / "key.json").st_mode) == 0o600
    loaded = load_identity(tmp_path / "key.json", "board secret", require_encrypted=True)
    assert loaded.address == identity.address and not loaded.simulated_entropy


def test_enroll_once(tmp_path):
    enroll(ModelDevice(), tmp_path / "key.json", dev_mode=True)
    with pytest.raises(IdentityError, match="already exists"):
        enroll(ModelDevice(), tmp_path / "key.json", dev_mode=True)


def test_load_refuses_missing_readable_or_tampered_files(tmp_path):
    path = tmp_path / "key.json"
    with pytest.raises(IdentityError, match="rosvd enroll"):
        load_identity(path)
    enroll(ModelDevice(), path, dev_mode=True)
    os.chmod(path, 0o644)
    with pytest.raises(IdentityError, match="chmod 600"):
        load_identity(path)
    os.chmod(path, 0o600)
    record = json.loads(path.read_text())
    record["address"] = "0x" + "00" * 20
    path.write_text(json.dumps(record))
    with pytest.raises(IdentityError, match="does not match"):
        load_identity(path)
    path.write_text("{not json")
    with pytest.raises(IdentityError, match="malformed"):
        load_identity(path)


def test_signatures_recover_to_the_address(tmp_path):
    identity = enroll(ModelDevice(), tmp_path / "key.json", dev_mode=True)
    digest = bytes(range(32))
    assert recover_address(digest, identity.sign(digest)) == identity.address
    with pytest.raises(ValueError):
        identity.sign(b"short")


def _high_s(signature: bytes) -> bytes:
    """The same signature with s replaced by n - s and the recovery bit flipped: still a
    valid ECDSA signature, but not the canonical low-s one."""
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (SECP256K1_ORDER - s).to_bytes(32, "big") + bytes([55 - signature[64]])


def test_signatures_are_low_s_and_high_s_is_refused(tmp_path):
    identity = DeviceIdentity.from_secret(bytes(range(1, 33)))
    for index in range(64):
        digest = keccak(index.to_bytes(4, "big"))
        for signature, recover in ((identity.sign(digest), recover_address),
                                   (identity.sign_typed(digest), recover_typed)):
            assert int.from_bytes(signature[32:64], "big") <= HALF_ORDER
            assert recover(digest, signature) == identity.address
            with pytest.raises(ValueError, match="high s"):
                recover(digest, _high_s(signature))


def test_typed_and_personal_signatures_are_not_interchangeable():
    """A registry statement (EIP-712, raw) never passes as a certificate signature (EIP-191)."""
    identity = DeviceIdentity.from_secret(bytes(range(1, 33)))
    digest = keccak(b"some 32-byte digest")
    assert recover_address(digest, identity.sign_typed(digest)) != identity.address
    assert recover_typed(digest, identity.sign(digest)) != identity.address
    # eth_account agrees on both forms (an independent implementation).
    account = Account.from_key(identity.private_key.secret)
    assert account.unsafe_sign_hash(digest).signature == identity.sign_typed(digest)
    assert Account._recover_hash(personal_digest(digest), signature=identity.sign(digest)) == identity.address
