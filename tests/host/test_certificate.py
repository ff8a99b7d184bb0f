"""Certificates: pinned canonical bytes, ABI compatibility, signatures Ethereum tools accept."""
from dataclasses import replace

import coincurve
import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from rosvd.certificate import (
    ENCODED_SIZE,
    ENCODED_SIZES,
    Certificate,
    CertificateError,
    decode,
    entropy_commitment,
    sign,
    verify_signature,
)
from rosvd.identity import DeviceIdentity, address_of

KEY = coincurve.PrivateKey(bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"))
IDENTITY = DeviceIdentity(KEY, address_of(KEY.public_key), simulated_entropy=True)
KNOWN = Certificate(content_kind=1, fingerprint_scheme=1, content_hash=bytes(range(32)),
                    fingerprint=bytes(range(32, 64)), device=IDENTITY.address,
                    entropy_commitment=entropy_commitment(bytes(32)), timestamp_ms=1_764_331_200_000,
                    epoch=7, sequence=42, version=1)
#: The same statement as a version-2 certificate naming a block.
KNOWN_V2 = replace(KNOWN, version=2, after_block=123_456, after_block_hash=bytes(range(64, 96)))
#: And as a version-3, scheme-2 certificate with its region fingerprint and descriptors hash.
KNOWN_V3 = replace(KNOWN_V2, version=3, fingerprint_scheme=2, region_fingerprint=bytes(range(96, 128)),
                   descriptors_hash=bytes(range(128, 160)))

# The pinned encoding of KNOWN: changing the format must change this test on purpose.
KNOWN_HEX = (
    "0000000000000000000000000000000000000000000000000000000000000001"
    "0000000000000000000000000000000000000000000000000000000000000001"
    "0000000000000000000000000000000000000000000000000000000000000001"
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "0000000000000000000000002c7536e3605d9c16a7a3d7b1898e529396a65c23"
    "7163fce8fdb3a4df6df95797171f113c72dd4cf609b5b2347bae0b0330431c56"
    "0000000000000000000000000000000000000000000000000000019aca559e00"
    "0000000000000000000000000000000000000000000000000000000000000007"
    "000000000000000000000000000000000000000000000000000000000000002a"
)


def test_known_key_has_the_published_address():
    # The example key of the eth-account documentation and its address.
    assert IDENTITY.address == "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
    assert Account.from_key(KEY.secret).address == IDENTITY.address


def test_encoding_is_pinned():
    """Version 1 stays readable byte for byte; version 2 appends two words to it."""
    assert KNOWN.encode().hex() == KNOWN_HEX
    assert KNOWN.id.hex() == "9d04285cd8b26edddbc7e3a6e374a581753eb2e3af9a9ee2d03bc1c5744afe9c"
    assert len(KNOWN_V2.encode()) == ENCODED_SIZES[2] == 384
    v2 = KNOWN_V2.encode().hex()
    assert v2[:64] == "00" * 31 + "02" and v2[64:640] == KNOWN_HEX[64:]
    assert v2[640:] == f"{123_456:064x}" + bytes(range(64, 96)).hex()
    # version 3 appends the region fingerprint and the descriptors hash to version 2
    assert len(KNOWN_V3.encode()) == ENCODED_SIZE == ENCODED_SIZES[3] == 448
    v3 = KNOWN_V3.encode().hex()
    assert v3[:64] == "00" * 31 + "03" and v3[128:192] == "00" * 31 + "02" and v3[192:768] == v2[192:]
    assert v3[768:] == bytes(range(96, 160)).hex()


def test_version_3_encoding_equals_solidity_abi_encode_and_its_rules():
    abi = abi_encode(
        ["uint8", "uint8", "uint16", "bytes32", "bytes32", "address", "bytes32",
         "uint64", "uint64", "uint64", "uint64", "bytes32", "bytes32", "bytes32"],
        [3, KNOWN.content_kind, 2, KNOWN.content_hash, KNOWN.fingerprint, KNOWN.device,
         KNOWN.entropy_commitment, KNOWN.timestamp_ms, KNOWN.epoch, KNOWN.sequence, KNOWN_V2.after_block,
         KNOWN_V2.after_block_hash, KNOWN_V3.region_fingerprint, KNOWN_V3.descriptors_hash])
    assert abi == KNOWN_V3.encode() and KNOWN_V3.id == keccak(abi) and decode(abi) == KNOWN_V3
    signature = sign(IDENTITY, KNOWN_V3)
    assert verify_signature(KNOWN_V3, signature)
    for field in ("region_fingerprint", "descriptors_hash"):    # each is signed
        assert not verify_signature(replace(KNOWN_V3, **{field: bytes(32)}), signature)
    with pytest.raises(CertificateError, match="only fingerprint scheme 2"):
        replace(KNOWN_V3, fingerprint_scheme=1).encode()
    with pytest.raises(CertificateError, match="needs a version-3"):
        replace(KNOWN_V2, fingerprint_scheme=2).encode()
    assert decode(replace(KNOWN_V3, fingerprint_scheme=0, region_fingerprint=bytes(32),
                          descriptors_hash=bytes(32)).encode()).version == 3     # a plain file


def test_descriptors_hash_is_blake3_of_the_domain_and_both_descriptors_length_prefixed():
    import blake3

    from rosvd.certificate import descriptors_hash
    expected = blake3.blake3(b"rosvd/match-descriptors/v1\x00" + (2).to_bytes(4, "big") + b"ab"
                             + (1).to_bytes(4, "big") + b"c").digest()
    assert descriptors_hash(b"ab", b"c") == expected
    assert descriptors_hash(b"ab", b"c") != descriptors_hash(b"a", b"bc")      # the prefixes tell them apart


def test_version_2_encoding_equals_solidity_abi_encode():
    abi = abi_encode(
        ["uint8", "uint8", "uint16", "bytes32", "bytes32", "address", "bytes32",
         "uint64", "uint64", "uint64", "uint64", "bytes32"],
        [2, KNOWN.content_kind, KNOWN.fingerprint_scheme, KNOWN.content_hash, KNOWN.fingerprint,
         KNOWN.device, KNOWN.entropy_commitment, KNOWN.timestamp_ms, KNOWN.epoch, KNOWN.sequence,
         KNOWN_V2.after_block, KNOWN_V2.after_block_hash])
    assert abi == KNOWN_V2.encode() and KNOWN_V2.id == keccak(abi)
    assert decode(abi) == KNOWN_V2


def test_version_2_signature_is_eip712_typed_data_eth_account_recovers():
    """The signing digest against eth_account's own EIP-712 implementation."""
    signable = encode_typed_data(full_message={
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"}],
                  "Certificate": [{"name": "id", "type": "bytes32"}]},
        "primaryType": "Certificate",
        "domain": {"name": "RO-SVD certificate", "version": "2"},
        "message": {"id": KNOWN_V2.id}})
    assert keccak(b"\x19" + signable.version + signable.header + signable.body) == KNOWN_V2.signing_digest
    signature = sign(IDENTITY, KNOWN_V2)
    assert Account.recover_message(signable, signature=signature) == IDENTITY.address
    assert verify_signature(KNOWN_V2, signature)
    # Never interchangeable with version 1's EIP-191 signature of the same id.
    assert not verify_signature(KNOWN_V2, sign(IDENTITY, KNOWN))
    assert not verify_signature(KNOWN, signature)
    v1_as_v2 = replace(KNOWN_V2, after_block=0, after_block_hash=bytes(32))
    assert v1_as_v2.id != KNOWN.id, "the version word alone tells them apart"


def test_entropy_commitment_is_blake3_of_the_domain_and_nonce():
    import blake3
    expected = blake3.blake3(b"rosvd/entropy-commitment/v1\x00" + bytes(32)).digest()
    assert entropy_commitment(bytes(32)) == expected
    with pytest.raises(ValueError):
        entropy_commitment(bytes(31))


def test_encoding_equals_solidity_abi_encode():
    abi = abi_encode(
        ["uint8", "uint8", "uint16", "bytes32", "bytes32", "address", "bytes32",
         "uint64", "uint64", "uint64"],
        [1, KNOWN.content_kind, KNOWN.fingerprint_scheme, KNOWN.content_hash, KNOWN.fingerprint,
         KNOWN.device, KNOWN.entropy_commitment, KNOWN.timestamp_ms, KNOWN.epoch, KNOWN.sequence])
    assert abi == KNOWN.encode()
    assert KNOWN.id == keccak(abi)


def test_decode_round_trip_and_refusals():
    assert decode(KNOWN.encode()) == KNOWN
    raw = bytearray(KNOWN.encode())
    with pytest.raises(CertificateError, match="320"):
        decode(bytes(raw[:-1]))
    bad_version = bytearray(raw)
    bad_version[31] = 2
    with pytest.raises(CertificateError, match="version-2 certificate is 384 bytes"):
        decode(bytes(bad_version))
    bad_version[31] = 3
    with pytest.raises(CertificateError, match="version-3 certificate is 448 bytes"):
        decode(bytes(bad_version))
    bad_version[31] = 4
    with pytest.raises(CertificateError, match="version 4"):
        decode(bytes(bad_version))
    assert decode(KNOWN_V2.encode()) == KNOWN_V2
    with pytest.raises(CertificateError, match="no after_block"):
        replace(KNOWN, after_block=1).encode()
    padded_address = bytearray(raw)
    padded_address[5 * 32] = 1
    with pytest.raises(CertificateError, match="padding"):
        decode(bytes(padded_address))
    wide_kind = bytearray(raw)
    wide_kind[32 + 30] = 1   # content_kind = 257 does not fit uint8
    with pytest.raises(CertificateError):
        decode(bytes(wide_kind))


def test_field_range_checks():
    with pytest.raises(CertificateError, match="uint64"):
        replace(KNOWN, epoch=1 << 64).encode()
    with pytest.raises(CertificateError, match="32 bytes"):
        replace(KNOWN, fingerprint=bytes(31)).encode()


def test_signature_is_pinned_and_eth_account_recovers_it():
    signature = sign(IDENTITY, KNOWN)
    # RFC 6979 deterministic nonces: the same key and certificate always sign alike.
    assert signature.hex() == (
        "e531f10599551e567b0ff8eaf91290acb22935eb94c75ea0ac5ba927582340ef"
        "62cb873caee4056315d05e361de510d5bf1c9f5f72293ff9198f2af70bcb149e1c")
    recovered = Account.recover_message(encode_defunct(primitive=KNOWN.id), signature=signature)
    assert recovered == IDENTITY.address
    assert verify_signature(KNOWN, signature)


def test_tampered_certificate_or_signature_fails():
    signature = sign(IDENTITY, KNOWN)
    tampered = replace(KNOWN, sequence=43)
    assert not verify_signature(tampered, signature)
    assert not verify_signature(KNOWN, signature[:64] + bytes([signature[64] ^ 1]))
    assert not verify_signature(KNOWN, signature[:-1])
    other = replace(KNOWN, device="0x" + "11" * 20)
    with pytest.raises(CertificateError, match="another device"):
        sign(IDENTITY, other)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=460), st.binary(min_size=320, max_size=320),
                 st.binary(min_size=384, max_size=384), st.binary(min_size=448, max_size=448),
                 st.builds(lambda data, index, value: _poke(data, index, value),
                           st.sampled_from([KNOWN.encode(), KNOWN_V2.encode(), KNOWN_V3.encode()]),
                           st.integers(0, 447), st.integers(0, 255))))
def test_decoder_accepts_only_canonical_encodings(raw):
    """Any bytes: a CertificateError, or a certificate that encodes back to exactly them."""
    try:
        cert = decode(raw)
    except CertificateError:
        return
    assert cert.encode() == raw and cert.version in (1, 2, 3)


def _poke(data: bytes, index: int, value: int) -> bytes:
    index %= len(data)
    return data[:index] + bytes([value]) + data[index + 1:]
