"""Epochs: certificates batched into a Merkle tree, chained through a Wesolowski VDF.

Sealing epoch ``e`` fixes its certificates (Merkle root over their ids), draws fresh
device entropy, reads a recent block of the consortium chain, and sets the VDF input::

    challenge_e = vdf.challenge(EPOCH_DOMAIN, e, output_{e-1}, root_e, entropy_e, block_hash_e)

with ``output_0 = GENESIS_DOMAIN || device address`` hashed the same way. Closing it
proves the VDF (``iterations`` squarings) and stores output and proof. So epochs are
ordered (each input holds the previous output), cannot be back-dated past the block
they name, and each took measurable sequential time. ``verify_chain`` re-checks all of
it from genesis using only the store's contents.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from . import vdf
from .certificate import decode, entropy_commitment, verify_signature
from .merkle import StandardMerkleTree
from .store import Store, StoreError

EPOCH_DOMAIN = b"rosvd/epoch/v1"
GENESIS_DOMAIN = b"rosvd/genesis/v1"
EPOCH_ENTROPY_BYTES = 32
#: Root of an epoch without certificates (sealed by time with nothing in it).
EMPTY_ROOT = bytes(32)


@dataclass(frozen=True)
class EpochPolicy:
    """When the open epoch is sealed, and how long its VDF runs."""

    max_certificates: int = 4096      #: seal once this many certificates are in it
    max_age_s: float = 60.0           #: ... or once it has been open this long (and is not empty)
    vdf_iterations: int = 20_000      #: squarings per epoch (~150k/s on these cores)

    def __post_init__(self):
        if self.max_certificates < 1:
            raise ValueError("max_certificates must be at least 1")
        if self.max_age_s <= 0:
            raise ValueError("max_age_s must be positive")
        if self.vdf_iterations < 1:
            raise ValueError("vdf_iterations must be at least 1")


class EmptyEpoch(StoreError):
    """Sealing was asked of an epoch without certificates."""


class BlockSource(Protocol):
    def recent_block(self) -> tuple[int, bytes]:
        """(number, hash) of a recent block of the chain epochs are anchored on."""


class NoChain:
    """Until a chain is configured: block 0 with a zero hash, recorded as such."""

    def recent_block(self) -> tuple[int, bytes]:
        return 0, bytes(32)


def genesis_output(device_address: str) -> bytes:
    return vdf.challenge(GENESIS_DOMAIN, bytes.fromhex(device_address[2:]))


def epoch_challenge(number: int, prev_output: bytes, root: bytes, entropy: bytes, block_hash: bytes) -> bytes:
    return vdf.challenge(EPOCH_DOMAIN, number.to_bytes(8, "big"), prev_output, root, entropy, block_hash)


def epoch_tree(certificate_ids: list[bytes]) -> StandardMerkleTree:
    """The epoch's Merkle tree: one ``bytes32`` leaf per certificate id, in sequence order."""
    return StandardMerkleTree.of_bytes32(certificate_ids)


def merkle_root(certificate_ids: list[bytes]) -> bytes:
    return epoch_tree(certificate_ids).root if certificate_ids else EMPTY_ROOT


def seal_open_epoch(store: Store, device_address: str, entropy: bytes, blocks: BlockSource,
                    iterations: int) -> int:
    """Seal the open epoch (the previous one must be closed); returns its number.

    Refuses an empty epoch (:class:`EmptyEpoch`): a device's anchored epochs are numbered
    without gaps, each chained to the one before, so an epoch exists only with certificates.
    """
    epoch = store.open_epoch()
    previous = store.epoch(epoch.number - 1)
    if previous is None:
        prev_output = genesis_output(device_address)
    elif previous.state != "closed":
        raise StoreError(f"epoch {previous.number} must be closed before {epoch.number} is sealed")
    else:
        prev_output = previous.vdf_output
    ids = store.certificate_ids(epoch.number)
    if not ids:
        raise EmptyEpoch(f"epoch {epoch.number} has no certificates: nothing to seal (the registry"
                         " anchors a device's epochs 1, 2, 3, ... and each must hold certificates)")
    tree = epoch_tree(ids)
    block_number, block_hash = blocks.recent_block()
    challenge = epoch_challenge(epoch.number, prev_output, tree.root, entropy, block_hash)
    store.seal(epoch.number, count=len(ids), merkle_root=tree.root, entropy=entropy,
               block_number=block_number, block_hash=block_hash, prev_output=prev_output,
               challenge=challenge, iterations=iterations, tree_nodes=b"".join(tree.tree))
    return epoch.number


def keep_epoch_trees(store: Store) -> int:
    """Store the Merkle tree of every sealed or closed epoch that has none yet (sealed
    before the store kept trees); returns how many were added. Each is checked against
    the epoch's root first."""
    added = 0
    for number in store.epochs_without_tree():
        epoch = store.epoch(number)
        tree = epoch_tree(store.certificate_ids(epoch.number))
        if tree.root != epoch.merkle_root:
            raise StoreError(f"epoch {epoch.number}: its certificates do not give its Merkle root")
        store.put_epoch_tree(epoch.number, b"".join(tree.tree))
        added += 1
    return added


def close_sealed_epochs(store: Store) -> list[int]:
    """Prove the VDF of every sealed epoch, oldest first (also the crash-recovery step)."""
    closed = []
    for epoch in store.epochs("sealed"):
        result = vdf.prove(epoch.challenge, epoch.iterations)
        store.close_epoch(epoch.number, result.output, result.proof)
        closed.append(epoch.number)
    return closed


@dataclass
class ChainReport:
    """What :func:`verify_chain` found."""

    ok: bool = True
    epochs_checked: int = 0
    certificates_checked: int = 0
    problems: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.ok = False
        self.problems.append(message)

    def to_json(self) -> dict:
        return {"ok": self.ok, "epochs_checked": self.epochs_checked,
                "certificates_checked": self.certificates_checked, "problems": self.problems}


def verify_chain(store: Store, device_address: str, check_certificates: bool = True) -> ChainReport:
    """Re-check every closed epoch from genesis: certificates, roots, challenges, VDF proofs."""
    report = ChainReport()
    prev_output = genesis_output(device_address)
    expected_sequence = 1
    for epoch in store.epochs():
        if epoch.state == "open":
            break
        certificates = store.certificates_of(epoch.number)
        if check_certificates:
            for stored in certificates:
                report.certificates_checked += 1
                if stored.sequence != expected_sequence:
                    report.fail(f"certificate sequence {stored.sequence}: expected {expected_sequence}")
                expected_sequence = stored.sequence + 1
                try:
                    cert = decode(stored.encoding)
                except ValueError as exc:
                    report.fail(f"certificate {stored.sequence}: {exc}")
                    continue
                if cert.id != stored.id or cert.epoch != epoch.number or cert.sequence != stored.sequence:
                    report.fail(f"certificate {stored.sequence}: id, epoch or sequence does not match")
                if cert.version >= 2 and (cert.after_block, cert.after_block_hash) != (
                        epoch.opened_block_number, epoch.opened_block_hash):
                    report.fail(f"certificate {stored.sequence}: does not name its epoch's opening block")
                if cert.device != device_address or not verify_signature(cert, stored.signature):
                    report.fail(f"certificate {stored.sequence}: bad device signature")
                if entropy_commitment(stored.nonce) != cert.entropy_commitment:
                    report.fail(f"certificate {stored.sequence}: entropy commitment does not open")
        if len(certificates) != epoch.count:
            report.fail(f"epoch {epoch.number}: {len(certificates)} certificates, sealed with {epoch.count}")
        if merkle_root([c.id for c in certificates]) != epoch.merkle_root:
            report.fail(f"epoch {epoch.number}: Merkle root does not match its certificates")
        if epoch.prev_output != prev_output:
            report.fail(f"epoch {epoch.number}: not chained to the previous epoch's VDF output")
        challenge = epoch_challenge(epoch.number, prev_output, epoch.merkle_root, epoch.entropy,
                                    epoch.block_hash)
        if challenge != epoch.challenge:
            report.fail(f"epoch {epoch.number}: VDF challenge does not match its inputs")
        if epoch.state == "sealed":
            break  # proved on the next start; nothing after it can be closed
        if not (epoch.vdf_output and epoch.vdf_proof
                and vdf.verify(challenge, epoch.iterations, epoch.vdf_output, epoch.vdf_proof)):
            report.fail(f"epoch {epoch.number}: VDF proof does not verify")
        report.epochs_checked += 1
        prev_output = epoch.vdf_output
    return report
