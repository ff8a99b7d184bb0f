"""Who certified this, and when: look content up, hand out a proof bundle, check one.

A proof bundle holds everything needed to check a certificate without trusting the host:
the canonical certificate, its signature, the entropy nonce behind its commitment, the
Merkle path from its leaf to the epoch root, and the epoch's VDF input (previous output,
root, entropy, block) with output and proof. :func:`check_bundle` re-verifies all of it
from the bundle alone. Once the anchoring service has confirmed the epoch on the
consortium registry, the bundle also names where (chain id, registry, block, transaction;
``anchor`` is null before that), and :func:`check_bundle_on_chain` asks the registry itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from eth_hash.auto import keccak

from . import vdf
from .certificate import LEAF_TYPES, decode, entropy_commitment, verify_signature
from .epochs import epoch_challenge, epoch_tree
from .ingest import Content
from .merkle import leaf_hash, verify
from .store import Store

#: 2 adds ``anchor``.
BUNDLE_VERSION = 2


@dataclass(frozen=True)
class Match:
    sequence: int
    certificate_id: bytes
    exact: bool          #: same exact bytes (BLAKE3)
    distance: float      #: normalised Hamming distance of the robust fingerprints (0 when exact)
    name: str


def find(store: Store, content: Content, fingerprint: bytes | None, max_distance: float) -> list[Match]:
    """Certificates of the same bytes, then of content whose fingerprint is within ``max_distance``."""
    digest = content.blake3()
    matches = [Match(row.sequence, row.id, True, 0.0, row.name) for row in store.find_by_content(digest)]
    if fingerprint is None:
        return matches
    seen = {m.sequence for m in matches}
    rows = store.db.execute("SELECT sequence, id, fingerprint, name FROM certificates"
                            " WHERE fingerprint != zeroblob(32)").fetchall()
    if not rows:
        return matches
    stored = np.frombuffer(b"".join(row[2] for row in rows), dtype=np.uint8).reshape(len(rows), -1)
    probe = np.frombuffer(fingerprint, dtype=np.uint8)
    distance = np.unpackbits(stored ^ probe, axis=1).sum(axis=1) / (8 * len(fingerprint))
    for index in np.argsort(distance, kind="stable"):
        if distance[index] > max_distance:
            break
        sequence, cid, _, name = rows[index]
        if sequence not in seen:
            matches.append(Match(sequence, cid, False, float(distance[index]), name))
    return matches


def proof_bundle(store: Store, certificate_id: bytes) -> dict:
    """The bundle for one certificate; its epoch must be closed (VDF proved)."""
    row = store.db.execute("SELECT sequence, encoding, signature, nonce, epoch FROM certificates WHERE id=?",
                           (certificate_id,)).fetchone()
    if row is None:
        raise KeyError(f"no certificate {certificate_id.hex()}")
    sequence, encoding, signature, nonce, number = row
    epoch = store.epoch(number)
    if epoch.state != "closed":
        raise ValueError(f"certificate {sequence} is in epoch {number}, which is {epoch.state}: no proof yet")
    ids = store.certificate_ids(number)
    tree = epoch_tree(ids)
    index = ids.index(certificate_id)
    return {
        "version": BUNDLE_VERSION,
        "certificate": encoding.hex(),
        "signature": signature.hex(),
        "nonce": nonce.hex(),
        "merkle_proof": [node.hex() for node in tree.proof(index)],
        "epoch": {
            "number": number, "count": epoch.count, "merkle_root": epoch.merkle_root.hex(),
            "prev_output": epoch.prev_output.hex(), "entropy": epoch.entropy.hex(),
            "block_number": epoch.block_number, "block_hash": epoch.block_hash.hex(),
            "iterations": epoch.iterations, "vdf_output": epoch.vdf_output.hex(),
            "vdf_proof": epoch.vdf_proof.hex(),
        },
        "anchor": _anchor_record(store, number),
    }


def _anchor_record(store: Store, number: int) -> dict | None:
    """Where the epoch's root is anchored, once the anchoring service confirmed it."""
    anchor = store.anchor(number)
    if anchor is None or anchor.state != "anchored":
        return None
    return {"chain_id": anchor.chain_id, "registry": anchor.registry, "block_number": anchor.block_number,
            "tx_hash": anchor.tx_hash.hex() if anchor.tx_hash else None}


def check_bundle_on_chain(bundle: dict, registry) -> list[str]:
    """Problems found asking the registry itself (a ``RegistryClient`` on the bundle's chain):
    the root is anchored by the certificate's device for its epoch, with the epoch's VDF
    output and count, and the registry's own Merkle check accepts the certificate."""
    try:
        cert = decode(bytes.fromhex(bundle["certificate"]))
        epoch = bundle["epoch"]
        root = bytes.fromhex(epoch["merkle_root"])
        proof = [bytes.fromhex(node) for node in bundle["merkle_proof"]]
        output = bytes.fromhex(epoch["vdf_output"])
    except (KeyError, ValueError, TypeError) as exc:
        return [f"malformed bundle: {exc}"]
    record = registry.get_anchor(root)
    if record is None:
        return ["the epoch root is not anchored on this registry"]
    problems = []
    if record.device != cert.device:
        problems.append(f"root anchored by {record.device}, not by the certificate's device {cert.device}")
    if record.epoch != epoch["number"] or record.certificate_count != epoch["count"]:
        problems.append("anchored epoch number or certificate count differs from the bundle")
    if record.vdf_output_hash != keccak(output):
        problems.append("anchored VDF output hash differs from the bundle's VDF output")
    if not registry.verify_certificate(root, cert.id, proof):
        problems.append("the registry's Merkle check refuses the certificate")
    return problems


def check_bundle(bundle: dict) -> list[str]:
    """Problems found in a bundle (empty when it checks out), using nothing but the bundle."""
    problems = []
    try:
        cert = decode(bytes.fromhex(bundle["certificate"]))
        signature, nonce = bytes.fromhex(bundle["signature"]), bytes.fromhex(bundle["nonce"])
        epoch = bundle["epoch"]
        root = bytes.fromhex(epoch["merkle_root"])
        proof = [bytes.fromhex(node) for node in bundle["merkle_proof"]]
        prev, entropy, block = (bytes.fromhex(epoch[k]) for k in ("prev_output", "entropy", "block_hash"))
        output, vdf_proof = bytes.fromhex(epoch["vdf_output"]), bytes.fromhex(epoch["vdf_proof"])
    except (KeyError, ValueError, TypeError) as exc:
        return [f"malformed bundle: {exc}"]
    if not verify_signature(cert, signature):
        problems.append("signature is not the named device's")
    if len(nonce) != 32 or entropy_commitment(nonce) != cert.entropy_commitment:
        problems.append("entropy commitment does not open to the nonce")
    if cert.epoch != epoch["number"]:
        problems.append("certificate names another epoch")
    if not verify(root, leaf_hash(LEAF_TYPES, (cert.id,)), proof):
        problems.append("Merkle proof does not lead to the epoch root")
    challenge = epoch_challenge(epoch["number"], prev, root, entropy, block)
    if not vdf.verify(challenge, epoch["iterations"], output, vdf_proof):
        problems.append("epoch VDF proof does not verify")
    return problems
