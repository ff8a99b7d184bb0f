"""The search contract the service relies on (ranking, threshold, limit), on the index's
in-memory core, and the body limit's early refusal."""
import asyncio

import numpy as np
import pytest

from rosvd.api.limits import BodyLimit
from rosvd.fingerprint_index import FingerprintSet, as_codes


def Fingerprints(codes: dict[int, bytes]) -> FingerprintSet:  # noqa: N802 -- reads as the set it builds
    found = FingerprintSet()
    if codes:
        sequences = sorted(codes)
        found.append(np.array(sequences, dtype=np.int64), as_codes([codes[s] for s in sequences]))
    return found


def flipped(code: bytes, bits: int) -> bytes:
    value = np.unpackbits(np.frombuffer(code, np.uint8))
    value[:bits] ^= 1
    return np.packbits(value).tobytes()


def test_scan_ranks_by_distance_then_sequence_within_the_threshold_and_limit():
    probe = bytes(range(32))
    scan = Fingerprints({1: flipped(probe, 9), 2: flipped(probe, 3), 3: probe,
                         4: flipped(probe, 3), 5: flipped(probe, 60)})
    assert scan.search(probe, 9 / 256, 10) == [(3, 0.0), (2, 3 / 256), (4, 3 / 256), (1, 9 / 256)]
    assert scan.search(probe, 8 / 256, 10) == [(3, 0.0), (2, 3 / 256), (4, 3 / 256)]
    assert scan.search(probe, 1.0, 2) == [(3, 0.0), (2, 3 / 256)]
    assert Fingerprints({}).search(probe, 1.0, 5) == []
    for bad in ((probe[:31], 0.1, 1), (probe, 0.1, -1)):
        with pytest.raises(ValueError):
            scan.search(*bad)


def test_body_limit_refuses_a_declared_length_before_reading_anything():
    sent = []

    async def app(scope, receive, send):
        raise AssertionError("the app must not run")

    async def receive():
        raise AssertionError("the body must not be read")

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": "/v1/certificates", "headers": [(b"content-length", b"1000001")]}
    asyncio.run(BodyLimit(app, max_bytes=1_000_000)(scope, receive, send))
    assert sent[0]["status"] == 413 and b"too-large" in sent[1]["body"]
