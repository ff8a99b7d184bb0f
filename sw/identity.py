"""Device identity: a secp256k1 key made from device entropy at enrollment.

The key is kept in an encrypted Ethereum keystore, or a plain file in dev mode
(:mod:`rosvd.key_file`: formats, permissions, where the passphrase comes from). Its
Ethereum address is what the consortium registry knows the device by. Signatures are
Ethereum ``personal_sign`` (EIP-191) over a 32-byte digest, 65 bytes ``r || s || v``
with ``v`` in {27, 28}, so Solidity's
``ECDSA.recover(MessageHashUtils.toEthSignedMessageHash(digest), sig)`` checks them.
Registry statements (registration, anchors) are EIP-712 digests signed raw
(:meth:`DeviceIdentity.sign_typed`, :func:`recover_typed`). Every signature has a low ``s``
(at most half the group order), the only form OpenZeppelin's ``ECDSA`` accepts, so a
signature has exactly one valid encoding; recovery refuses the other.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import coincurve
from eth_hash.auto import keccak

from . import key_file
from .device import Device, fresh_entropy
from .key_file import DEVICE_PASSPHRASE_ENV, FILE_SUFFIX, STANDARD_SCRYPT_N, IdentityError, check_scrypt_n

#: Order of the secp256k1 group: a private key is an integer in [1, ORDER).
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
#: Entropy drawn per candidate key: twice the key size, so reducing it is unbiased enough.
KEY_ENTROPY_BYTES = 64
#: Largest canonical ``s`` of a signature (EIP-2, OpenZeppelin ``ECDSA``).
HALF_ORDER = SECP256K1_ORDER // 2
PERSONAL_SIGN_PREFIX = b"\x19Ethereum Signed Message:\n32"


@functools.lru_cache(maxsize=1024)  # a store names one device thousands of times
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


def enroll(device: Device, path: Path, dev_mode: bool, passphrase: str | None = None,
           scrypt_n: int = STANDARD_SCRYPT_N) -> DeviceIdentity:
    """Create the device key from fresh device entropy; refuse to overwrite one. The key is
    written encrypted under ``passphrase``, which only dev mode may go without."""
    path = Path(path)
    if path.exists():
        raise IdentityError(f"{path} already exists; a device is enrolled once")
    if passphrase is None and not dev_mode:
        raise IdentityError(f"outside dev mode the device key is kept encrypted: give a passphrase in"
                            f" {DEVICE_PASSPHRASE_ENV}{FILE_SUFFIX} (a file) or {DEVICE_PASSPHRASE_ENV}")
    if passphrase is not None:
        check_scrypt_n(scrypt_n)
    while True:
        value = int.from_bytes(fresh_entropy(device, KEY_ENTROPY_BYTES, dev_mode), "big") % SECP256K1_ORDER
        if value:
            break
    key = coincurve.PrivateKey(value.to_bytes(32, "big"))
    identity = DeviceIdentity(key, address_of(key.public_key), simulated_entropy=dev_mode)
    write_key_file(path, key, passphrase, scrypt_n, device=device.kind, simulated_entropy=dev_mode)
    return identity


def write_key_file(path: Path, key: coincurve.PrivateKey, passphrase: str | None = None,
                   scrypt_n: int = STANDARD_SCRYPT_N, **details) -> None:
    """Write a key file (refusing to overwrite one), readable by its owner only: a keystore
    encrypted under ``passphrase``, or plain without one."""
    secret = key.secret
    record = (key_file.plain_record(secret, address_of(key.public_key), details) if passphrase is None
              else key_file.keystore_record(secret, passphrase, scrypt_n, details))
    key_file.write_new(path, record)


def load_identity(path: Path, passphrase: str | None = None, require_encrypted: bool = False,
                  passphrase_env: str = DEVICE_PASSPHRASE_ENV) -> DeviceIdentity:
    """The identity in a key file. ``require_encrypted`` (outside dev mode) refuses a plain one."""
    path = Path(path)
    if not path.exists():
        raise IdentityError(f"no device key at {path}; run `rosvd enroll` first")
    opened = key_file.read(path, passphrase, passphrase_env)
    if require_encrypted and not opened.encrypted:
        raise IdentityError(f"{path} holds the key unencrypted, which only dev mode allows; encrypt it"
                            f" with `rosvd key encrypt` (passphrase in {passphrase_env}{FILE_SUFFIX}"
                            f" or {passphrase_env})")
    try:
        key = coincurve.PrivateKey(opened.secret)
    except ValueError as exc:
        raise IdentityError(f"{path}: malformed key file ({exc})") from exc
    identity = DeviceIdentity(key, address_of(key.public_key), bool(opened.details.get("simulated_entropy")))
    if identity.address.lower() != str(opened.stated_address).lower():
        raise IdentityError(f"{path}: stored address does not match the key")
    return identity


def encrypt_key_file(path: Path, passphrase: str, scrypt_n: int = STANDARD_SCRYPT_N) -> DeviceIdentity:
    """Replace a plain key file by a keystore of the same key (atomically: a crash leaves one
    or the other, never neither)."""
    path = Path(path)
    if path.exists() and key_file.is_encrypted(path):
        raise IdentityError(f"{path} is already encrypted")
    identity = load_identity(path)
    opened = key_file.read(path, None)
    details = {k: v for k, v in opened.details.items() if k not in ("version", "created")}
    key_file.replace_with(path, key_file.keystore_record(opened.secret, passphrase, scrypt_n, details))
    return identity
