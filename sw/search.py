"""Fingerprint search: the nearest stored robust fingerprints to a probe.

One small interface, :class:`FingerprintSearch`, so the look-up (``rosvd.verify.find``,
the HTTP query service) does not care how the neighbours are found; the index
(:class:`rosvd.fingerprint_index.FingerprintIndex`, exact) answers through it.

Distances are normalised Hamming distances, differing bits / 256 for the 32-byte
fingerprint (``rosvd.fingerprint.hamming_distance``), in [0, 1]; ``max_distance`` is
inclusive. Certificates without a fingerprint (plain files, scheme 0) are never returned.
"""
from __future__ import annotations

from typing import Protocol

#: Normalised distance at or below which two fingerprints are taken as the same picture:
#: 39/256, i.e. ``d < 40/256`` from docs/fingerprint.md, a false-positive rate of about
#: 1e-4 on its different-content pairs (held out: 8.6e-6) with JPEG-75 copies all found.
MATCH_DISTANCE = 39 / 256


class FingerprintSearch(Protocol):
    def search(self, fingerprint: bytes, max_distance: float, limit: int) -> list[tuple[int, float]]:
        """Up to ``limit`` (sequence, distance) pairs with distance <= ``max_distance``,
        nearest first, ties by ascending sequence."""
        ...

