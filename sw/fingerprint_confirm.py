"""Confirmation descriptor for the two-stage fingerprint match (host code).

Stage 1: the index returns certificates whose scheme-1 fingerprint lies within
:data:`CANDIDATE_RADIUS_BITS` of one of the query's fingerprints. Stage 2: each candidate's
stored descriptor is scored against the query's descriptor (same variant) and the candidate
is confirmed when the score is at least :data:`CONFIRM_THRESHOLD`.

Baseline (version 1): the 16 x 16 lowest DCT-II coefficients of the engine input ``X``
without the DC term (255 values), scaled so the largest magnitude is 127 and rounded to
int8; the score is their cosine similarity. Integer arithmetic throughout (the integer DCT
table of scheme 1), so the bytes are the same on every host.
"""
from __future__ import annotations

import numpy as np

from rosvd.fingerprint import dct_table
from rosvd.hw.svd.params import SVDParams

#: First byte of every descriptor blob.
DESCRIPTOR_VERSION = 1
#: DCT block kept (``SIZE x SIZE`` lowest frequencies, DC dropped).
SIZE = 16
#: Coefficient count and blob length.
COEFFICIENTS = SIZE * SIZE - 1
DESCRIPTOR_BYTES = 1 + COEFFICIENTS
#: Stage-1 radius (bits of 256) and stage-2 threshold (score >= it confirms).
CANDIDATE_RADIUS_BITS = 32
CONFIRM_THRESHOLD = 0.85


def _coefficients(params: SVDParams, matrices: np.ndarray) -> np.ndarray:
    table = dct_table(params.n, SIZE)
    x = np.asarray(matrices, dtype=np.int64)
    f = np.einsum("ur,brc,vc->buv", table, x, table).reshape(len(x), -1)[:, 1:]
    peak = np.abs(f).max(axis=1, keepdims=True)
    safe = np.where(peak == 0, 1, peak)
    magnitude = (2 * 127 * np.abs(f) + safe) // (2 * safe)
    return np.where(f < 0, -magnitude, magnitude).astype(np.int8)


def descriptors(params: SVDParams, matrices, decomposition=None) -> list[bytes]:
    """Descriptor blobs of ``(B, n, n)`` engine inputs (``decomposition`` is not needed)."""
    x = np.asarray(matrices, dtype=np.int64)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1:] != (params.n, params.n):
        raise ValueError(f"expected (B, {params.n}, {params.n}) matrices, got {x.shape}")
    head = bytes([DESCRIPTOR_VERSION])
    return [head + row.tobytes() for row in _coefficients(params, x)]


def _decode(blobs: list[bytes]) -> np.ndarray:
    for blob in blobs:
        if not isinstance(blob, (bytes, bytearray, memoryview)):
            raise ValueError(f"a descriptor must be bytes, not {type(blob).__name__}")
        if len(blob) != DESCRIPTOR_BYTES:
            raise ValueError(f"descriptor of {len(blob)} bytes; version {DESCRIPTOR_VERSION} has"
                             f" {DESCRIPTOR_BYTES}")
        if blob[0] != DESCRIPTOR_VERSION:
            raise ValueError(f"descriptor version {blob[0]}; expected {DESCRIPTOR_VERSION}")
    if not blobs:
        return np.zeros((0, COEFFICIENTS), dtype=np.int64)
    raw = np.frombuffer(b"".join(bytes(b) for b in blobs), dtype=np.int8).reshape(len(blobs), -1)
    return raw[:, 1:].astype(np.int64)


def confirmation_scores(stored: list[bytes], query: bytes) -> np.ndarray:
    """Scores (float64, higher = more alike, in [-1, 1]) of each stored descriptor against
    the query's."""
    s = _decode(list(stored))
    q = _decode([query])[0]
    dot = (s @ q).astype(np.float64)
    norms = np.sqrt((s * s).sum(axis=1).astype(np.float64) * float(q @ q))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, dot / np.where(norms > 0, norms, 1.0), 0.0)


def confirmation_score(stored: bytes, query: bytes) -> float:
    """:func:`confirmation_scores` of one stored descriptor."""
    return float(confirmation_scores([stored], query)[0])
