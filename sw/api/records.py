"""Store rows as the API's records (:mod:`.models`), and the look-up behind ``POST /v1/query``.

Status of a certificate is its epoch's, from the store: ``open`` (still filling),
``sealed`` (membership fixed, VDF being proved), ``closed`` (proved: a bundle exists) and
``anchored`` (the anchoring service saw its root confirmed on the chain). There is no
``disputed``: dispute flags live on the chain only, and the store never records them, so
the server could only repeat what a client must check itself; the verifier reads them
from a node the client chooses (``status.open_flags`` of ``rosvd verify`` and ``rosvd query``).
"""
from __future__ import annotations

from pathlib import Path

from .. import match
from ..certificate import decode
from ..certify import ApplianceConfig
from ..match import Judgement, QueryViews
from ..search import FingerprintSearch
from ..store import Anchor, Epoch, Store, StoredCertificate
from ..verify import proof_bundle


def epoch_status(epoch: Epoch, anchor: Anchor | None) -> str:
    if epoch.state == "closed" and anchor is not None and anchor.state == "anchored":
        return "anchored"
    return epoch.state


def anchor_record(anchor: Anchor | None) -> dict | None:
    if anchor is None:
        return None
    return {"state": anchor.state, "chain_id": anchor.chain_id, "registry": anchor.registry.lower(),
            "block_number": anchor.block_number,
            "tx_hash": None if anchor.tx_hash is None else anchor.tx_hash.hex()}


def epoch_record(store: Store, epoch: Epoch) -> dict:
    anchor = store.anchor(epoch.number)
    return {"number": epoch.number, "status": epoch_status(epoch, anchor),
            "certificates": epoch.count if epoch.count is not None else store.count_in(epoch.number),
            "merkle_root": None if epoch.merkle_root is None else epoch.merkle_root.hex(),
            "opened_ms": epoch.opened_ms, "sealed_ms": epoch.sealed_ms, "closed_ms": epoch.closed_ms,
            "vdf_iterations": epoch.iterations, "anchor": anchor_record(anchor)}


def certificate_record(store: Store, stored: StoredCertificate) -> dict:
    epoch = store.epoch(stored.epoch)
    status = epoch_status(epoch, store.anchor(epoch.number))
    return {"certificate": decode(stored.encoding).to_json(), "signature": stored.signature.hex(),
            "encoding": stored.encoding.hex(), "status": status,
            "bundle_available": status in ("closed", "anchored")}


def bundle_or_reason(store: Store, certificate_id: bytes) -> tuple[dict | None, str | None]:
    """The proof bundle, or (None, why there is none yet)."""
    try:
        return proof_bundle(store, certificate_id), None
    except ValueError as error:
        return None, str(error)


def device_record(config: ApplianceConfig, store: Store, cross_check: dict | None = None) -> dict:
    registry = None
    if config.deployment is not None:
        from ..chain.deployment import Deployment
        deployment = Deployment.load(Path(config.deployment))
        # The RPC URL stays private: it may carry credentials, and clients choose their own node.
        registry = {"chain_id": deployment.chain_id, "registry": deployment.registry.lower(),
                    "deployed_block": deployment.block_number}
    return {"address": store.get_meta("device_address"), "backend": config.device, "cross_check": cross_check,
            "dev_mode": config.dev_mode, "certificates": store.certificate_count(), "registry": registry}


def lookup(store: Store, search: FingerprintSearch, blake3: bytes | None, views: QueryViews | None,
           rule: str, max_distance: float, limit: int, region_search: FingerprintSearch | None = None
           ) -> list[dict]:
    """Matches of one query: certificates of the exact bytes first (distance 0), then the
    matches of its views and windows under ``rule`` (:func:`rosvd.match.find`), nearest
    first; at most ``limit`` in all, each with its certificate and its bundle (or why none
    exists yet). A match through a region window names the stored region fingerprint it
    met (signed in a scheme-2 certificate) and the descriptors the confirmation scored."""
    found: list[tuple[StoredCertificate, bool, Judgement | None]] = []
    if blake3 is not None:
        found += [(row, True, None) for row in store.find_by_content(blake3)]
    if views is not None and any(views.fingerprints[0]) and len(found) < limit:
        seen = {row.sequence for row, _, _ in found}
        near = match.find(store, search, views, rule, max_distance, limit - len(found), seen, region_search)
        rows = {row.sequence: row
                for row in store.certificates_by_sequence([sequence for sequence, _ in near])}
        found += [(rows[sequence], False, judgement) for sequence, judgement in near if sequence in rows]
    found = found[:limit]
    judged = [row.sequence for row, _, judgement in found if judgement is not None]
    region_codes = store.region_fingerprints([row.sequence for row, _, judgement in found
                                              if judgement is not None and judgement.region])
    content_kept, region_kept = store.match_descriptors(judged), store.match_descriptors(judged, regions=True)
    matches = []
    for row, exact, judgement in found:
        bundle, reason = bundle_or_reason(store, row.id)
        matches.append({"certificate_id": row.id.hex(), "exact": exact,
                        "distance": 0.0 if judgement is None else judgement.distance,
                        "view": None if judgement is None else judgement.view,
                        "confirmation": None if judgement is None else judgement.confirmation,
                        "confirmed": None if judgement is None else judgement.confirmed,
                        "region_fingerprint": region_codes[row.sequence].hex()
                        if row.sequence in region_codes else None,
                        "descriptors": {"content": content_kept[row.sequence].hex(),
                                        "region": region_kept[row.sequence].hex()}
                        if row.sequence in content_kept and row.sequence in region_kept else None,
                        "certificate": certificate_record(store, row), "bundle": bundle,
                        "bundle_unavailable": reason})
    return matches
