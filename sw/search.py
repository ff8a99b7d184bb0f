"""Fingerprint search: the nearest stored robust fingerprints to a probe.

One small interface, :class:`FingerprintSearch`, so the look-up (``rosvd.verify.find``,
the HTTP query service) does not care how the neighbours are found. :class:`StoreScan`
is the exact answer: every stored fingerprint compared with the probe. An index
(``rosvd.fingerprint_index``) answers through the same call and is checked against it.

Distances are normalised Hamming distances, differing bits / 256 for the 32-byte
fingerprint (``rosvd.fingerprint.hamming_distance``), in [0, 1]; ``max_distance`` is
inclusive. Certificates without a fingerprint (plain files, scheme 0) are never returned.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from .fingerprint import FINGERPRINT_BYTES
from .store import Store

#: Normalised distance at or below which two fingerprints are taken as the same picture:
#: 39/256, i.e. ``d < 40/256`` from docs/fingerprint.md, a false-positive rate of about
#: 1e-4 on its different-content pairs (held out: 8.6e-6) with JPEG-75 copies all found.
MATCH_DISTANCE = 39 / 256


class FingerprintSearch(Protocol):
    def search(self, fingerprint: bytes, max_distance: float, limit: int) -> list[tuple[int, float]]:
        """Up to ``limit`` (sequence, distance) pairs with distance <= ``max_distance``,
        nearest first, ties by ascending sequence."""
        ...


def check_probe(fingerprint: bytes, max_distance: float, limit: int) -> None:
    if len(fingerprint) != FINGERPRINT_BYTES:
        raise ValueError(f"a fingerprint is {FINGERPRINT_BYTES} bytes, not {len(fingerprint)}")
    if not 0.0 <= max_distance <= 1.0:
        raise ValueError(f"max_distance must be in [0, 1], not {max_distance}")
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")


class StoreScan:
    """Exact search: reads every stored fingerprint for each query (cost grows with the store)."""

    def __init__(self, store: Store):
        self.store = store

    def search(self, fingerprint: bytes, max_distance: float, limit: int) -> list[tuple[int, float]]:
        check_probe(fingerprint, max_distance, limit)
        sequences, packed = self.store.fingerprints()
        if not sequences:
            return []
        stored = np.frombuffer(packed, dtype=np.uint8).reshape(len(sequences), FINGERPRINT_BYTES)
        probe = np.frombuffer(fingerprint, dtype=np.uint8)
        bits = np.unpackbits(stored ^ probe, axis=1).sum(axis=1)
        order = np.argsort(bits, kind="stable")  # rows are in sequence order: ties by sequence
        distances = bits / (8 * FINGERPRINT_BYTES)
        results = []
        for index in order[:limit]:
            if distances[index] > max_distance:
                break
            results.append((sequences[index], float(distances[index])))
        return results
