"""Certificates: what a device states about one piece of content, and its signature.

Canonical encoding (version 3): the Solidity ``abi.encode`` of fourteen static fields, one
32-byte big-endian word each (448 bytes), in this order::

    uint8   version             3
    uint8   content_kind        0 file (bytes only), 1 image, 2 array
    uint16  fingerprint_scheme  0 none, 1 rosvd-svd, 2 rosvd-svd with its region and
                                match descriptors (docs/fingerprint.md)
    bytes32 content_hash        BLAKE3-256 of the exact bytes
    bytes32 fingerprint         robust fingerprint (zero when the scheme is 0)
    address device              the signing device's address
    bytes32 entropy_commitment  BLAKE3(ENTROPY_DOMAIN || nonce), nonce 32 device bytes
    uint64  timestamp_ms        Unix time in milliseconds (the host's clock: a claim)
    uint64  epoch               epoch the certificate belongs to
    uint64  sequence            the device's certificate counter, from 1, no gaps
    uint64  after_block         the epoch's opening block: a chain block read when the
    bytes32 after_block_hash    epoch took its first certificate (zero without a chain)
    bytes32 region_fingerprint  scheme 2: the scheme-1 fingerprint of the content's central
                                region (rosvd.fingerprint_regions); zero otherwise
    bytes32 descriptors_hash    scheme 2: BLAKE3(DESCRIPTORS_DOMAIN || len || match
                                descriptor || region's match descriptor), what the
                                service's confirmation stage scores; zero otherwise

``after_block_hash`` is what a host cannot know in advance: a verifier who finds that block
on the chain knows the certificate is no older than it, whatever the host's clock said.
Version 1 (320 bytes: the first ten fields, no block) and version 2 (384 bytes: the first
twelve) are still decoded and verified; their last fields read as zero.

The certificate id is ``keccak256(encoding)``. Versions 2 and 3 are signed as EIP-712 typed data,
``Certificate(bytes32 id)`` in the domain ``{name: "RO-SVD certificate", version: "2"}``, raw
with low s, so a certificate signature is never a valid registry statement (another
domain) nor an EIP-191 message; version 1 was EIP-191 ``personal_sign`` over the id (see
:mod:`.identity`). The epoch's Merkle leaf is the OpenZeppelin ``StandardMerkleTree`` leaf
of type ``bytes32`` holding the id, so a contract can recompute the id from the fields with
``keccak256(abi.encode(...))``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from enum import IntEnum

import blake3
import eth_abi
from eth_hash.auto import keccak

from .identity import DeviceIdentity, checksum_address, recover_address, recover_typed

CERTIFICATE_VERSION = 3
#: Versions :func:`decode` reads.
READABLE_VERSIONS = (1, 2, 3)
WORD = 32
#: Fields of each version's encoding (version 2 adds after_block and after_block_hash,
#: version 3 region_fingerprint and descriptors_hash).
FIELD_COUNTS = {1: 10, 2: 12, 3: 14}
ENCODED_SIZES = {version: count * WORD for version, count in FIELD_COUNTS.items()}
ENCODED_SIZE = ENCODED_SIZES[CERTIFICATE_VERSION]
SIGNING_DOMAIN_NAME = "RO-SVD certificate"
SIGNING_DOMAIN_VERSION = "2"
SIGNING_DOMAIN_TYPE = b"EIP712Domain(string name,string version)"
SIGNING_TYPE = b"Certificate(bytes32 id)"
ENTROPY_DOMAIN = b"rosvd/entropy-commitment/v1\x00"
DESCRIPTORS_DOMAIN = b"rosvd/match-descriptors/v1\x00"
NONCE_BYTES = 32
#: Merkle leaf types of an epoch tree (OpenZeppelin StandardMerkleTree).
LEAF_TYPES = ("bytes32",)


def parse_hex32(text: str) -> bytes | None:
    """32 bytes from 64 hex digits (an id or a hash; ``0x`` optional), or None if it is not that."""
    try:
        value = bytes.fromhex(str(text).removeprefix("0x"))
    except ValueError:
        return None
    return value if len(value) == 32 else None


class ContentKind(IntEnum):
    FILE = 0
    IMAGE = 1
    ARRAY = 2


class FingerprintScheme(IntEnum):
    NONE = 0
    ROSVD_SVD = 1
    #: scheme 1's fingerprint, plus the region fingerprint and the descriptors' hash (version 3)
    ROSVD_SVD_REGIONS = 2


class CertificateError(ValueError):
    """A certificate that does not decode or does not verify."""


def descriptors_hash(match_descriptor: bytes, region_descriptor: bytes) -> bytes:
    """What a scheme-2 certificate signs of its two match descriptors (each length-prefixed,
    so no other pair of byte strings gives the same input)."""
    body = b"".join(len(part).to_bytes(4, "big") + bytes(part)
                    for part in (match_descriptor, region_descriptor))
    return blake3.blake3(DESCRIPTORS_DOMAIN + body).digest()


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
    after_block: int = 0
    after_block_hash: bytes = bytes(32)
    version: int = CERTIFICATE_VERSION
    region_fingerprint: bytes = bytes(32)
    descriptors_hash: bytes = bytes(32)

    def encode(self) -> bytes:
        """The canonical encoding (320, 384 or 448 bytes by version; computed once per instance)."""
        cached = self.__dict__.get("_encoding")
        if cached is None:
            cached = self._encode()
            object.__setattr__(self, "_encoding", cached)  # frozen: not a field, not compared
        return cached

    def _encode(self) -> bytes:
        if self.version not in READABLE_VERSIONS:
            raise CertificateError(f"certificate version {self.version} is not supported")
        for name in ("content_hash", "fingerprint", "entropy_commitment", "after_block_hash",
                     "region_fingerprint", "descriptors_hash"):
            if len(getattr(self, name)) != WORD:
                raise CertificateError(f"{name} must be 32 bytes")
        if self.version == 1 and (self.after_block or any(self.after_block_hash)):
            raise CertificateError("a version-1 certificate has no after_block")
        regions = any(self.region_fingerprint) or any(self.descriptors_hash)
        if self.fingerprint_scheme == FingerprintScheme.ROSVD_SVD_REGIONS and self.version < 3:
            raise CertificateError("fingerprint scheme 2 needs a version-3 certificate")
        if regions and self.fingerprint_scheme != FingerprintScheme.ROSVD_SVD_REGIONS:
            raise CertificateError("only fingerprint scheme 2 has a region fingerprint and descriptors hash")
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
            out += _uint64_word(value)
        if self.version >= 2:
            out += _uint64_word(self.after_block) + self.after_block_hash
        if self.version >= 3:
            out += self.region_fingerprint + self.descriptors_hash
        return bytes(out)

    @property
    def id(self) -> bytes:
        cached = self.__dict__.get("_id")
        if cached is None:
            cached = keccak(self.encode())
            object.__setattr__(self, "_id", cached)
        return cached

    @property
    def signing_digest(self) -> bytes:
        """What the device key signs: EIP-712 ``Certificate(id)`` (versions 2 and 3)."""
        return certificate_signing_digest(self.id)

    def to_json(self) -> dict:
        # Field by field rather than dataclasses.asdict, which deep-copies every value
        # (a third of the cost of serving a certificate).
        record = {name: getattr(self, name) for name in _FIELD_NAMES}
        for name in ("content_hash", "fingerprint", "entropy_commitment", "after_block_hash",
                     "region_fingerprint", "descriptors_hash"):
            record[name] = record[name].hex()
        record["id"] = self.id.hex()
        return record


_FIELD_NAMES = tuple(field.name for field in fields(Certificate))


def _uint64_word(value: int) -> bytes:
    if not 0 <= value < (1 << 64):
        raise CertificateError(f"value {value} does not fit uint64")
    return value.to_bytes(WORD, "big")


@functools.cache
def _signing_constants() -> tuple[bytes, bytes]:
    """The certificate domain's separator and the ``Certificate`` type hash: constants,
    hashed once per process (they were most of a certificate's signing time)."""
    domain = keccak(eth_abi.encode(("bytes32", "bytes32", "bytes32"), (
        keccak(SIGNING_DOMAIN_TYPE), keccak(SIGNING_DOMAIN_NAME.encode()),
        keccak(SIGNING_DOMAIN_VERSION.encode()))))
    return domain, keccak(SIGNING_TYPE)


def certificate_signing_digest(certificate_id: bytes) -> bytes:
    """The EIP-712 digest of ``Certificate(bytes32 id)`` in the certificate domain."""
    domain, type_hash = _signing_constants()
    return keccak(b"\x19\x01" + domain + keccak(type_hash + certificate_id))


def decode(encoding: bytes) -> Certificate:
    """Inverse of :meth:`Certificate.encode` (versions 1 to 3); refuses anything non-canonical."""
    if len(encoding) not in ENCODED_SIZES.values():
        sizes = " or ".join(f"{size} (version {v})" for v, size in ENCODED_SIZES.items())
        raise CertificateError(f"a certificate is {sizes} bytes, not {len(encoding)}")
    words = [encoding[i:i + WORD] for i in range(0, len(encoding), WORD)]
    version = int.from_bytes(words[0], "big")
    if version not in READABLE_VERSIONS:
        raise CertificateError(f"certificate version {version} is not supported")
    if len(encoding) != ENCODED_SIZES[version]:
        raise CertificateError(f"a version-{version} certificate is {ENCODED_SIZES[version]} bytes,"
                               f" not {len(encoding)}")
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
        after_block=int.from_bytes(words[10], "big") if version >= 2 else 0,
        after_block_hash=words[11] if version >= 2 else bytes(32),
        version=version,
        region_fingerprint=words[12] if version >= 3 else bytes(32),
        descriptors_hash=words[13] if version >= 3 else bytes(32))
    if cert.encode() != encoding:
        raise CertificateError("certificate encoding is not canonical")
    return cert


def sign(identity: DeviceIdentity, certificate: Certificate) -> bytes:
    if certificate.device != identity.address:
        raise CertificateError("certificate names another device")
    if certificate.version == 1:
        return identity.sign(certificate.id)
    return identity.sign_typed(certificate.signing_digest)


def verify_signature(certificate: Certificate, signature: bytes) -> bool:
    """True when ``signature`` is the named device's (low-s) signature of this certificate."""
    try:
        if certificate.version == 1:
            return recover_address(certificate.id, signature) == certificate.device
        return recover_typed(certificate.signing_digest, signature) == certificate.device
    except ValueError:
        return False
