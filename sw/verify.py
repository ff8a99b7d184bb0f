"""Who certified this: look content up in the store, and hand out its proof bundle.

A proof bundle (format in :mod:`.bundle`, checked by :mod:`.verifier`) holds everything
needed to check a certificate without trusting the host: the canonical certificate, its
signature, the entropy nonce behind its commitment, the Merkle path from its leaf to the
epoch root, the epoch's VDF input (previous output, root, entropy, named block) with
output and proof, and, once the anchoring service confirmed the epoch, where it is
anchored with the device's signature of the anchor (``anchor`` is null before that).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from .bundle import BUNDLE_VERSION
from .certificate import LEAF_TYPES
from .epochs import epoch_tree
from .fingerprint_index import FingerprintIndex
from .ingest import Content
from .merkle import HASH_BYTES, leaf_hash, process_proof, proof_from_nodes
from .search import FingerprintSearch
from .store import Store, StoredCertificate


@dataclass(frozen=True)
class Match:
    sequence: int
    certificate_id: bytes
    exact: bool          #: same exact bytes (BLAKE3)
    distance: float      #: normalised Hamming distance of the robust fingerprints (0 when exact)
    name: str


def nearby(store: Store, search: FingerprintSearch, fingerprint: bytes, max_distance: float, limit: int,
           exclude: set[int] = frozenset()) -> list[tuple[StoredCertificate, float]]:
    """Up to ``limit`` certificates whose fingerprint lies within ``max_distance`` of
    ``fingerprint``, nearest first (ties by sequence), with their distances; sequences in
    ``exclude`` (the exact matches already found) are left out."""
    near = [(sequence, distance) for sequence, distance in search.search(fingerprint, max_distance,
                                                                          limit + len(exclude))
            if sequence not in exclude][:limit]
    rows = {row.sequence: row for row in store.certificates_by_sequence([sequence for sequence, _ in near])}
    return [(rows[sequence], distance) for sequence, distance in near if sequence in rows]


def find(store: Store, content: Content, fingerprint: bytes | None, max_distance: float,
         search: FingerprintSearch | None = None) -> list[Match]:
    """Certificates of the same bytes, then of content whose fingerprint is within
    ``max_distance``, nearest first (ties by sequence). ``search`` is a long-lived index
    over this store (a service's :class:`~.fingerprint_index.FingerprintIndex`); without
    one, a temporary index reads the store's fingerprints for this call."""
    digest = content.blake3()
    matches = [Match(row.sequence, row.id, True, 0.0, row.name) for row in store.find_by_content(digest)]
    if fingerprint is None:
        return matches
    seen = {m.sequence for m in matches}
    if search is None:
        with FingerprintIndex(store.path, store_url=store.url, persist=False,
                              tail_limit=sys.maxsize) as index:
            near = nearby(store, index, fingerprint, max_distance, sys.maxsize, seen)
    else:
        near = nearby(store, search, fingerprint, max_distance, sys.maxsize, seen)
    return matches + [Match(row.sequence, row.id, False, distance, row.name) for row, distance in near]


def _merkle_proof(store: Store, epoch, certificate_id: bytes) -> list[bytes]:
    """The certificate's path to its epoch's root: read from the tree the store kept when it
    sealed the epoch (one row, no hashing but the leaf's), else rebuilt from the epoch's
    certificate ids (a tree damaged in the store; an appliance keeps the trees of epochs
    sealed before trees were kept when it opens the store, :func:`rosvd.epochs.keep_epoch_trees`)."""
    nodes = store.epoch_tree_nodes(epoch.number)
    if nodes is not None and nodes[:HASH_BYTES] == epoch.merkle_root:
        leaf = leaf_hash(LEAF_TYPES, (certificate_id,))
        proof = proof_from_nodes(nodes, leaf)
        # The path must lead to the root (a dozen hashes): a damaged row is rebuilt, not served.
        if proof is not None and process_proof(leaf, proof) == epoch.merkle_root:
            return proof
    ids = store.certificate_ids(epoch.number)
    return epoch_tree(ids).proof(ids.index(certificate_id))


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
    proof = _merkle_proof(store, epoch, certificate_id)
    return {
        "version": BUNDLE_VERSION,
        "certificate": encoding.hex(),
        "signature": signature.hex(),
        "nonce": nonce.hex(),
        "merkle_proof": [node.hex() for node in proof],
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
    if anchor is None or anchor.state != "anchored" or anchor.signature is None or anchor.tx_hash is None:
        return None
    return {"chain_id": anchor.chain_id, "registry": anchor.registry.lower(),
            "block_number": anchor.block_number, "tx_hash": anchor.tx_hash.hex(),
            "signature": anchor.signature.hex()}
