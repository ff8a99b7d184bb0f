"""Certificates: what a device states about one piece of content, and its signature.

Canonical encoding (version 1): the Solidity ``abi.encode`` of ten static fields, one
32-byte big-endian word each (320 bytes), in this order::

    uint8   version             1
    uint8   content_kind        0 file (bytes only), 1 image, 2 array
    uint16  fingerprint_scheme  0 none, 1 rosvd-svd (docs/fingerprint.md)
    bytes32 content_hash        BLAKE3-256 of the exact bytes
    bytes32 fingerprint         robust fingerprint (zero when the scheme is 0)
    address device              the signing device's address
    bytes32 entropy_commitment  BLAKE3(ENTROPY_DOMAIN || nonce), nonce 32 device bytes
    uint64  timestamp_ms        Unix time in milliseconds
    uint64  epoch               epoch the certificate belongs to
    uint64  sequence            the device's certificate counter, from 1, no gaps

The certificate id is ``keccak256(encoding)``; the signature is EIP-191 ``personal_sign``
over the id by the device key (see :mod:`.identity`). The epoch's Merkle leaf is the
OpenZeppelin ``StandardMerkleTree`` leaf of type ``bytes32`` holding the id, so a
contract can recompute the id from the fields with ``keccak256(abi.encode(...))``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import IntEnum

import blake3
from eth_hash.auto import keccak

from .identity import DeviceIdentity, checksum_address, recover_address

CERTIFICATE_VERSION = 1
WORD = 32
FIELD_COUNT = 10
ENCODED_SIZE = FIELD_COUNT * WORD
ENTROPY_DOMAIN = b"rosvd/entropy-commitment/v1\x00"
NONCE_BYTES = 32
#: Merkle leaf types of an epoch tree (OpenZeppelin StandardMerkleTree).
LEAF_TYPES = ("bytes32",)


class ContentKind(IntEnum):
    FILE = 0
    IMAGE = 1
    ARRAY = 2


class FingerprintScheme(IntEnum):
    NONE = 0
    ROSVD_SVD = 1


class CertificateError(ValueError):
    """A certificate that does not decode or does not verify."""


def entropy_commitment(nonce: bytes) -> bytes:
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"entropy nonce must be {NONCE_BYTES} bytes")
    return blake3.blake3(ENTROPY_DOMAIN + nonce).digest()


@dataclass(frozen=True)
class Certificate:
    content_kind: int
    fingerprint_scheme: int
    content_hash: bytes
    fingerprint: bytes
    device: str
    entropy_commitment: bytes
    timestamp_ms: int
    epoch: int
    sequence: int
    version: int = CERTIFICATE_VERSION

    def encode(self) -> bytes:
        """The canonical 320-byte encoding (computed once per instance)."""
        cached = self.__dict__.get("_encoding")
        if cached is None:
            cached = self._encode()
            object.__setattr__(self, "_encoding", cached)  # frozen: not a field, not compared
        return cached

    def _encode(self) -> bytes:
        for name in ("content_hash", "fingerprint", "entropy_commitment"):
            if len(getattr(self, name)) != WORD:
                raise CertificateError(f"{name} must be 32 bytes")
        device = bytes.fromhex(self.device[2:] if self.device.startswith("0x") else self.device)
        if len(device) != 20:
            raise CertificateError("device must be a 20-byte address")
        ints = ((self.version, 8), (self.content_kind, 8), (self.fingerprint_scheme, 16))
        out = bytearray()
        for value, bits in ints:
            if not 0 <= value < (1 << bits):
                raise CertificateError(f"value {value} does not fit uint{bits}")
            out += value.to_bytes(WORD, "big")
        out += self.content_hash + self.fingerprint + device.rjust(WORD, b"\x00") + self.entropy_commitment
        for value in (self.timestamp_ms, self.epoch, self.sequence):
            if not 0 <= value < (1 << 64):
                raise CertificateError(f"value {value} does not fit uint64")
            out += value.to_bytes(WORD, "big")
        return bytes(out)

    @property
    def id(self) -> bytes:
        cached = self.__dict__.get("_id")
        if cached is None:
            cached = keccak(self.encode())
            object.__setattr__(self, "_id", cached)
        return cached

    def to_json(self) -> dict:
        record = asdict(self)
        for name in ("content_hash", "fingerprint", "entropy_commitment"):
            record[name] = record[name].hex()
        record["id"] = self.id.hex()
        return record


def decode(encoding: bytes) -> Certificate:
    """Inverse of :meth:`Certificate.encode`; refuses anything non-canonical."""
    if len(encoding) != ENCODED_SIZE:
        raise CertificateError(f"a version-1 certificate is {ENCODED_SIZE} bytes, not {len(encoding)}")
    words = [encoding[i:i + WORD] for i in range(0, ENCODED_SIZE, WORD)]
    version = int.from_bytes(words[0], "big")
    if version != CERTIFICATE_VERSION:
        raise CertificateError(f"certificate version {version} is not supported")
    device = words[5]
    if device[:12] != bytes(12):
        raise CertificateError("address word has non-zero padding")
    cert = Certificate(
        content_kind=int.from_bytes(words[1], "big"),
        fingerprint_scheme=int.from_bytes(words[2], "big"),
        content_hash=words[3], fingerprint=words[4],
        device=checksum_address(device[12:]),
        entropy_commitment=words[6],
        timestamp_ms=int.from_bytes(words[7], "big"),
        epoch=int.from_bytes(words[8], "big"),
        sequence=int.from_bytes(words[9], "big"),
        version=version)
    if cert.encode() != encoding:
        raise CertificateError("certificate encoding is not canonical")
    return cert


def sign(identity: DeviceIdentity, certificate: Certificate) -> bytes:
    if certificate.device != identity.address:
        raise CertificateError("certificate names another device")
    return identity.sign(certificate.id)


def verify_signature(certificate: Certificate, signature: bytes) -> bool:
    """True when ``signature`` is the named device's signature of this certificate."""
    try:
        return recover_address(certificate.id, signature) == certificate.device
    except ValueError:
        return False
