"""The confirmed rule's work at scale, for ``rosvd bench query``: match descriptors for every
certificate of the bench store, and look-alike certificates around each content query.

Why look-alikes: the store's synthetic fingerprints are uniform random rank codes, whose
nearest unrelated neighbour lies near 52 bits at 10 M, so a query would meet no candidate
at the candidate radius. Real content is not uniform: docs/fingerprint.md measures (and
fits a tail to) the unrelated certificates within ``r`` bits of a query, about 270 at 32
bits among 10 M. To time what the service really does (search, read every candidate's
descriptor, score it), each content query gets :func:`lookalikes_per_query` stored
certificates at distances up to the candidate radius, with descriptors of unrelated
pictures: candidates that the confirmation must turn down.

The descriptors are real ones (:func:`rosvd.fingerprint_confirm.descriptors` of the engine
input) of :data:`POOL` random pictures, given out in turn; every certificate also gets a
region fingerprint (a synthetic rank code, like its fingerprint) with a pool descriptor,
so the upload queries' 27 windows search a region index as large as the store; the
certified pictures (the upload queries) get their own.
"""
from __future__ import annotations

import contextlib
import functools
import math

import numpy as np

from ..certify import STORE_FILE
from ..epochs import NoChain, close_sealed_epochs, seal_open_epoch
from ..store import Store
from . import query_store
from .fingerprint_index import plant, rank_codes

#: Distinct descriptors the filler certificates take in turn, and their pictures' side.
POOL = 8192
POOL_SIDE = 64
POOL_SEED = 77
#: Expected unrelated candidates per query at 10,000,000 stored: the 95% upper bounds of
#: docs/fingerprint.md's fitted false matches per query (method ``rosvd_mirror``) by radius
#: in bits; a radius between two entries takes the larger one.
LOOKALIKES_AT_10M = {16: 37, 20: 73, 24: 140, 28: 280, 32: 560, 36: 1100, 40: 2500}
REFERENCE_STORED = 10_000_000
#: Look-alikes lie at even distances from ``radius - SPREAD_BITS`` to the radius (the
#: unrelated candidates of a radius crowd towards it: the tail grows with the distance).
SPREAD_BITS = 8
INSERT_BATCH = 100_000


@functools.cache
def pool() -> tuple[bytes, ...]:
    """The :data:`POOL` descriptors (computed once per process, about 10 s)."""
    from ..fast_model import decompose
    from ..fingerprint_confirm import descriptors
    from ..hw.svd.params import SVDParams
    from ..preprocess_fast import preprocess_fast
    params, rng = SVDParams(), np.random.default_rng(POOL_SEED)
    matrices = np.stack([preprocess_fast(params, query_store.picture(rng, POOL_SIDE)) for _ in range(POOL)])
    return tuple(descriptors(params, matrices, decompose(params, matrices)))


def pool_index(sequence: int) -> int:
    """Which pool descriptor filler certificate ``sequence`` holds."""
    return (sequence * 2654435761) % POOL


def lookalikes_per_query(stored: int, radius_bits: int) -> int:
    """Look-alikes per content query for a store of ``stored``, at ``radius_bits``."""
    above = [bits for bits in sorted(LOOKALIKES_AT_10M) if bits >= radius_bits]
    if not above:
        raise ValueError(f"no look-alike count for a radius of {radius_bits} bits (table up to"
                         f" {max(LOOKALIKES_AT_10M)})")
    return max(1, math.ceil(LOOKALIKES_AT_10M[above[0]] * stored / REFERENCE_STORED))


def image_kept(images) -> dict[bytes, tuple[bytes, bytes, bytes]]:
    """BLAKE3 of each picture file's bytes -> what its certificate keeps beside it: (match
    descriptor, region fingerprint, region descriptor), as the appliance computes them."""
    from .. import ingest
    from ..fingerprint_regions import region_images
    from ..hw.svd.params import SVDParams
    from ..match import query_views
    out = {}
    for path in images:
        content = ingest.from_path(path)
        (region,) = region_images(content.pixels)
        of_region = query_views(SVDParams(), region, windows=False)
        out[content.blake3()] = (query_views(SVDParams(), content.pixels, windows=False).descriptors[0],
                                 of_region.fingerprints[0], of_region.descriptors[0])
    return out


def fill_kept(built: query_store.BuiltStore, seed: int, progress=None) -> int:
    """Give every certificate of ``built`` what an appliance keeps beside it and it lacks:
    a match descriptor, and a region fingerprint with its descriptor (the certified
    pictures their own; the filler a pool descriptor and a synthetic region code, as its
    fingerprint is one); the number of certificates completed."""
    descriptors = pool()
    rng = np.random.default_rng(seed)
    added = 0
    with contextlib.closing(Store(built.home / STORE_FILE)) as store:
        with store.transaction():
            for content_hash, (descriptor, region, region_descriptor) in image_kept(built.images).items():
                for row in store.find_by_content(content_hash):
                    added += store.db.execute("INSERT OR IGNORE INTO match_descriptors VALUES (?, ?)",
                                              (row.sequence, descriptor)).rowcount
                    store.db.execute("INSERT OR IGNORE INTO region_fingerprints VALUES (?, ?, ?)",
                                     (row.sequence, region, region_descriptor))
        top = store.db.execute("SELECT MAX(sequence) FROM certificates").fetchone()[0] or 0
        done = store.db.execute("SELECT COUNT(*) FROM region_fingerprints").fetchone()[0]
        start = 1
        while done < top and start <= top:
            end = min(top, start + INSERT_BATCH - 1)
            sequences = range(start, end + 1)
            codes = rank_codes(rng, len(sequences))
            with store.transaction():
                added_now = store.db.executemany(
                    "INSERT OR IGNORE INTO match_descriptors VALUES (?, ?)",
                    ((s, descriptors[pool_index(s)]) for s in sequences)).rowcount
                store.db.executemany(
                    "INSERT OR IGNORE INTO region_fingerprints VALUES (?, ?, ?)",
                    ((s, codes[k].tobytes(), descriptors[pool_index(s + 1)])
                     for k, s in enumerate(sequences)))
            added += added_now
            done = end
            start = end + 1
            if progress is not None:
                progress(end, top)
    return added


def add_lookalikes(built: query_store.BuiltStore, centres: list[bytes], avoid: list[int], per_centre: int,
                   radius_bits: int, rng: np.random.Generator) -> int:
    """Append ``per_centre`` certificates around each centre code (between ``radius_bits -
    SPREAD_BITS`` and ``radius_bits`` bits from it), in filler epochs, each with a pool
    descriptor other than the centre's query descriptor ``avoid[i]``; the number added."""
    descriptors = pool()
    codes, chosen = [], []
    low = max(2, radius_bits - SPREAD_BITS) // 2
    for centre, avoided in zip(centres, avoid, strict=True):
        centre_code = np.frombuffer(centre, np.uint8)
        for _ in range(per_centre):
            codes.append(plant(rng, centre_code, 2 * int(rng.integers(low, radius_bits // 2 + 1))))
            pick = int(rng.integers(0, POOL - 1))
            chosen.append(pick + (pick >= avoided))
    codes = np.stack(codes)
    with contextlib.closing(Store(built.home / STORE_FILE)) as store:
        address = store.get_meta("device_address")
        for start in range(0, len(codes), query_store.EPOCH_SIZE):
            batch = codes[start:start + query_store.EPOCH_SIZE]
            epoch = store.open_epoch().number
            first = store.next_sequence()
            rows = query_store.filler_rows(rng, address, epoch, first, batch)
            region_codes = rank_codes(rng, len(batch))
            kept = [(first + k, descriptors[chosen[start + k]]) for k in range(len(batch))]
            regions = [(first + k, region_codes[k].tobytes(), descriptors[pool_index(first + k + 1)])
                       for k in range(len(batch))]
            store.insert_certificates(rows, kept, regions)
            seal_open_epoch(store, address, rng.bytes(32), NoChain(), query_store.FILLER_VDF_ITERATIONS)
            close_sealed_epochs(store)
    return len(codes)
