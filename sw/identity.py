"""Device identity: a secp256k1 key made from device entropy at enrollment.

The key file is JSON, created with mode 0600 in a directory the host owns; loading
refuses a file that others can read. Its Ethereum address is what the consortium
registry knows the device by. Signatures are Ethereum ``personal_sign`` (EIP-191) over
a 32-byte digest, 65 bytes ``r || s || v`` with ``v`` in {27, 28}, so Solidity's
``ECDSA.recover(MessageHashUtils.toEthSignedMessageHash(digest), sig)`` checks them.
Registry statements (registration, anchors) are EIP-712 digests signed raw
(:meth:`DeviceIdentity.sign_typed`, :func:`recover_typed`). Every signature has a low ``s``
(at most half the group order), the only form OpenZeppelin's ``ECDSA`` accepts, so a
signature has exactly one valid encoding; recovery refuses the other.
"""
from __future__ import annotations

import json
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import coincurve
from eth_hash.auto import keccak

from .device import Device, fresh_entropy

KEY_FILE_VERSION = 1
#: Order of the secp256k1 group: a private key is an integer in [1, ORDER).
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
#: Entropy drawn per candidate key: twice the key size, so reducing it is unbiased enough.
KEY_ENTROPY_BYTES = 64
#: Largest canonical ``s`` of a signature (EIP-2, OpenZeppelin ``ECDSA``).
HALF_ORDER = SECP256K1_ORDER // 2
PERSONAL_SIGN_PREFIX = b"\x19Ethereum Signed Message:\n32"


class IdentityError(RuntimeError):
    """Missing, unsafe or malformed key file."""


def checksum_address(address: bytes) -> str:
    """EIP-55 mixed-case hex of a 20-byte address."""
    raw = address.hex()
    digest = keccak(raw.encode()).hex()
    return "0x" + "".join(c.upper() if int(d, 16) >= 8 else c for c, d in zip(raw, digest[:40], strict=True))


def address_of(public_key: coincurve.PublicKey) -> str:
    """Checksummed Ethereum address of a public key."""
    return checksum_address(keccak(public_key.format(compressed=False)[1:])[-20:])


def personal_digest(digest: bytes) -> bytes:
    """The hash an EIP-191 signature over a 32-byte digest actually signs."""
    return keccak(PERSONAL_SIGN_PREFIX + digest)


def _recover(signed_hash: bytes, signature: bytes) -> str:
    if not isinstance(signature, bytes | bytearray) or len(signature) != 65 or signature[64] not in (27, 28):
        raise ValueError("signature must be 65 bytes r || s || v with v in {27, 28}")
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
    if not 0 < r < SECP256K1_ORDER or not 0 < s <= HALF_ORDER:
        raise ValueError("signature has r out of range or a high s (not the canonical low-s form)")
    rsv = bytes(signature[:64]) + bytes([signature[64] - 27])
    try:
        public = coincurve.PublicKey.from_signature_and_message(rsv, signed_hash, hasher=None)
    except Exception as error:  # coincurve raises its own error types for unrecoverable points
        raise ValueError(f"signature does not recover a public key ({error})") from None
    return address_of(public)


def recover_address(digest: bytes, signature: bytes) -> str:
    """Address that produced the EIP-191 ``signature`` over ``digest``; ValueError if malformed."""
    return _recover(personal_digest(digest), signature)


def recover_typed(digest: bytes, signature: bytes) -> str:
    """Address that signed the EIP-712 ``digest`` raw; ValueError if malformed or high-s."""
    if len(digest) != 32:
        raise ValueError("an EIP-712 digest is 32 bytes")
    return _recover(digest, signature)


@dataclass(frozen=True)
class DeviceIdentity:
    private_key: coincurve.PrivateKey
    address: str
    simulated_entropy: bool

    @classmethod
    def from_secret(cls, secret: bytes, simulated_entropy: bool = True) -> DeviceIdentity:
        """An identity for a known key (tests, devnet accounts)."""
        key = coincurve.PrivateKey(bytes(secret))
        return cls(key, address_of(key.public_key), simulated_entropy)

    def sign(self, digest: bytes) -> bytes:
        """EIP-191 ``personal_sign`` of a 32-byte digest (certificates)."""
        if len(digest) != 32:
            raise ValueError("only 32-byte digests are signed")
        return self._sign_hash(personal_digest(digest))

    def sign_typed(self, digest: bytes) -> bytes:
        """Raw signature of an EIP-712 digest (registry statements, :mod:`rosvd.chain.typed_data`)."""
        if len(digest) != 32:
            raise ValueError("an EIP-712 digest is 32 bytes")
        return self._sign_hash(digest)

    def _sign_hash(self, signed_hash: bytes) -> bytes:
        # libsecp256k1 signs deterministically (RFC 6979) and always with a low s.
        rsv = self.private_key.sign_recoverable(signed_hash, hasher=None)
        return rsv[:64] + bytes([rsv[64] + 27])


def enroll(device: Device, path: Path, dev_mode: bool) -> DeviceIdentity:
    """Create the device key from fresh device entropy; refuse to overwrite one."""
    path = Path(path)
    if path.exists():
        raise IdentityError(f"{path} already exists; a device is enrolled once")
    while True:
        value = int.from_bytes(fresh_entropy(device, KEY_ENTROPY_BYTES, dev_mode), "big") % SECP256K1_ORDER
        if value:
            break
    key = coincurve.PrivateKey(value.to_bytes(32, "big"))
    identity = DeviceIdentity(key, address_of(key.public_key), simulated_entropy=dev_mode)
    write_key_file(path, key, device=device.kind, simulated_entropy=dev_mode)
    return identity


def write_key_file(path: Path, key: coincurve.PrivateKey, **details) -> None:
    """Write a key file (refusing to overwrite one), readable by its owner only."""
    record = {"version": KEY_FILE_VERSION, "address": address_of(key.public_key),
              "private_key": key.secret.hex(), **details, "created": int(time.time())}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two writers racing cannot both write; 0600 from the first byte.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())


def load_identity(path: Path) -> DeviceIdentity:
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise IdentityError(f"no device key at {path}; run `rosvd enroll` first") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise IdentityError(f"{path} is accessible by group or others (mode {stat.S_IMODE(mode):o});"
                            " run chmod 600 on it")
    try:
        record = json.loads(path.read_text())
        if record.get("version") != KEY_FILE_VERSION:
            raise IdentityError(f"{path}: key file version {record.get('version')} is not supported")
        key = coincurve.PrivateKey(bytes.fromhex(record["private_key"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise IdentityError(f"{path}: malformed key file ({exc})") from exc
    identity = DeviceIdentity(key, address_of(key.public_key), bool(record.get("simulated_entropy")))
    if identity.address != record.get("address"):
        raise IdentityError(f"{path}: stored address does not match the key")
    return identity
