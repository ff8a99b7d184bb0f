"""The proof bundle format (version 3), parsed strictly: every field typed, sized and bounded.

A bundle is JSON, made by :func:`rosvd.verify.proof_bundle`::

    {"version": 3,
     "certificate": hex (the canonical certificate encoding),
     "signature": hex (65 bytes, the device's signature of the certificate id),
     "nonce": hex (32 bytes, opens the entropy commitment),
     "merkle_proof": [hex (32 bytes), ...] (leaf to root, at most MAX_PROOF_NODES),
     "epoch": {"number", "count", "merkle_root", "prev_output", "entropy", "block_number",
               "block_hash", "iterations", "vdf_output", "vdf_proof"},
     "anchor": null | {"chain_id", "registry", "block_number", "tx_hash" (of the anchoring transaction),
                       "signature" (65 bytes, the device's EIP-712 signature of the anchor)}}

Hex is lowercase without ``0x`` (the registry address is ``0x`` + 40 lowercase hex), integers
are JSON integers within ``uint64``. Unknown or missing keys, wrong types, wrong sizes and
out-of-range integers raise :class:`BundleError` naming the field, so one bundle has exactly
one reading and a malformed one never reaches the checks (nor raises anything else).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import vdf
from .certificate import ENCODED_SIZES

BUNDLE_VERSION = 3
#: A Merkle path longer than this would need a tree of more than 2**64 certificates.
MAX_PROOF_NODES = 64
#: Largest bundle file the command line reads (a full bundle is about 3 kB).
MAX_BUNDLE_BYTES = 64 * 1024
UINT64_MAX = 2**64 - 1
_HEX = re.compile(r"[0-9a-f]*")
_ADDRESS = re.compile(r"0x[0-9a-f]{40}")
TOP_KEYS = {"version", "certificate", "signature", "nonce", "merkle_proof", "epoch", "anchor"}
EPOCH_KEYS = {"number", "count", "merkle_root", "prev_output", "entropy", "block_number", "block_hash",
              "iterations", "vdf_output", "vdf_proof"}
ANCHOR_KEYS = {"chain_id", "registry", "block_number", "tx_hash", "signature"}
#: Sizes of a certificate encoding this rosvd reads (rosvd.certificate: versions 1 to 3).
CERTIFICATE_SIZES = tuple(ENCODED_SIZES.values())
#: Epoch 1's previous output is the 32-byte genesis output; later ones are VDF outputs.
PREV_OUTPUT_SIZES = (32, vdf.FORM_BYTES)


class BundleError(ValueError):
    """A bundle that is not well formed; ``field`` names where."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"bundle field {field}: {message}")


@dataclass(frozen=True)
class EpochPart:
    number: int
    count: int
    merkle_root: bytes
    prev_output: bytes
    entropy: bytes
    block_number: int
    block_hash: bytes
    iterations: int
    vdf_output: bytes
    vdf_proof: bytes


@dataclass(frozen=True)
class AnchorPart:
    chain_id: int
    registry: str            #: 0x + 40 lowercase hex
    block_number: int
    tx_hash: bytes
    signature: bytes


@dataclass(frozen=True)
class Bundle:
    certificate: bytes
    signature: bytes
    nonce: bytes
    merkle_proof: tuple[bytes, ...]
    epoch: EpochPart
    anchor: AnchorPart | None


def _keys(value, expected: set[str], field: str) -> dict:
    if not isinstance(value, dict):
        raise BundleError(field, f"must be an object, not {type(value).__name__}")
    missing, unknown = expected - value.keys(), value.keys() - expected
    if missing:
        raise BundleError(field, f"missing {', '.join(sorted(missing))}")
    if unknown:
        raise BundleError(field, f"unknown {', '.join(sorted(map(str, unknown)))}")
    return value


def _hex(value, field: str, sizes: tuple[int, ...]) -> bytes:
    if not isinstance(value, str):
        raise BundleError(field, f"must be a hex string, not {type(value).__name__}")
    if len(value) not in tuple(2 * size for size in sizes):
        raise BundleError(field, f"must be {' or '.join(map(str, sizes))} bytes, not {len(value) / 2:g}")
    if not _HEX.fullmatch(value):
        raise BundleError(field, "must be lowercase hex without 0x")
    return bytes.fromhex(value)


def _uint(value, field: str, low: int = 0, high: int = UINT64_MAX) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BundleError(field, f"must be an integer, not {type(value).__name__}")
    if not low <= value <= high:
        raise BundleError(field, f"must be in {low} .. {high}, not {value}")
    return value


def parse(record) -> Bundle:
    """The :class:`Bundle` in a decoded JSON ``record``; :class:`BundleError` if malformed."""
    record = _keys(record, TOP_KEYS, "bundle")
    version = _uint(record["version"], "version")
    if version != BUNDLE_VERSION:
        raise BundleError("version", f"this rosvd reads bundle version {BUNDLE_VERSION}, not {version}"
                                     " (make the bundle again with `rosvd bundle`)")
    proof = record["merkle_proof"]
    if not isinstance(proof, list):
        raise BundleError("merkle_proof", f"must be a list, not {type(proof).__name__}")
    if len(proof) > MAX_PROOF_NODES:
        raise BundleError("merkle_proof", f"has {len(proof)} nodes, at most {MAX_PROOF_NODES}")
    epoch = _keys(record["epoch"], EPOCH_KEYS, "epoch")
    parsed_epoch = EpochPart(
        number=_uint(epoch["number"], "epoch.number", 1),
        count=_uint(epoch["count"], "epoch.count", 1),
        merkle_root=_hex(epoch["merkle_root"], "epoch.merkle_root", (32,)),
        prev_output=_hex(epoch["prev_output"], "epoch.prev_output", PREV_OUTPUT_SIZES),
        entropy=_hex(epoch["entropy"], "epoch.entropy", (32,)),
        block_number=_uint(epoch["block_number"], "epoch.block_number"),
        block_hash=_hex(epoch["block_hash"], "epoch.block_hash", (32,)),
        iterations=_uint(epoch["iterations"], "epoch.iterations", 1, vdf.MAX_ITERATIONS),
        vdf_output=_hex(epoch["vdf_output"], "epoch.vdf_output", (vdf.FORM_BYTES,)),
        vdf_proof=_hex(epoch["vdf_proof"], "epoch.vdf_proof", (vdf.FORM_BYTES,)))
    anchor = None
    if record["anchor"] is not None:
        raw = _keys(record["anchor"], ANCHOR_KEYS, "anchor")
        registry = raw["registry"]
        if not isinstance(registry, str) or not _ADDRESS.fullmatch(registry):
            raise BundleError("anchor.registry", "must be 0x followed by 40 lowercase hex digits")
        tx_hash = _hex(raw["tx_hash"], "anchor.tx_hash", (32,))
        anchor = AnchorPart(chain_id=_uint(raw["chain_id"], "anchor.chain_id", 1), registry=registry,
                            block_number=_uint(raw["block_number"], "anchor.block_number", 1),
                            tx_hash=tx_hash,
                            signature=_hex(raw["signature"], "anchor.signature", (65,)))
    return Bundle(
        certificate=_hex(record["certificate"], "certificate", CERTIFICATE_SIZES),
        signature=_hex(record["signature"], "signature", (65,)),
        nonce=_hex(record["nonce"], "nonce", (32,)),
        merkle_proof=tuple(_hex(node, f"merkle_proof[{i}]", (32,)) for i, node in enumerate(proof)),
        epoch=parsed_epoch, anchor=anchor)
