"""Closed epochs of random certificate ids, written straight into a store.

For the anchoring tests and ``rosvd bench anchor``: the anchoring service only reads an
epoch's Merkle root, count and VDF output, so the certificates need no content, and the
VDF needs only a few squarings to give it an output to hash.
"""
from __future__ import annotations

import random

from ..epochs import close_sealed_epochs, seal_open_epoch
from ..store import Store
from .contracts import DEFAULT_MIN_VDF_ITERATIONS

#: Squarings per sample epoch: the devnet registry's minimum (a few milliseconds).
SAMPLE_VDF_ITERATIONS = DEFAULT_MIN_VDF_ITERATIONS


class FixedBlock:
    """A block source that always names block 0 (no chain is needed to seal)."""

    def recent_block(self):
        return 0, bytes(32)


def add_closed_epochs(store: Store, device: str, sizes: list[int], seed: int = 0,
                      iterations: int = SAMPLE_VDF_ITERATIONS) -> list[int]:
    """Seal and close one epoch per size (at least 1), each with that many random certificate
    ids; returns the epoch numbers."""
    numbers = []
    rng = random.Random(seed)
    for size in sizes:
        epoch = store.open_epoch().number
        start = store.next_sequence()
        rows = [(start + i, rng.randbytes(32), b"encoding", b"signature", b"nonce", rng.randbytes(32),
                 bytes(32), epoch, f"item{start + i}") for i in range(size)]
        store.insert_certificates(rows)
        numbers.append(seal_open_epoch(store, device, rng.randbytes(32), FixedBlock(), iterations))
        close_sealed_epochs(store)
    return numbers
