"""Scale of the fingerprint index on synthetic scheme-1 codes (no store, no HTTP).

``.venv/bin/python -m rosvd.bench.fingerprint_index [--stored N] [--queries Q] [--threads T]``
prints one JSON object: build time, per-query latency (p50/p99, single queries, and
queries from T threads at once), recall against an exact scan at the documented match
distances, the radius at which the index stops probing and scans, and memory.

Synthetic codes are what the fingerprint would give for random content: each code
ranks 64 random coefficients into the five levels (13, 13, 13, 13, 12 of each), as step 6
of docs/fingerprint.md does. Near-duplicates are planted at known distances by swapping
the levels of untouched coefficients (a swap of levels ``k`` apart adds exactly ``2k``
bits), so a query has matches at every radius tested. Real fingerprints are more clustered
than these (their unrelated distances centre on 0.38 with a longer near tail; these
centre on 0.40): the candidate counts here are a floor, not a bound.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time

import numpy as np

from rosvd.fingerprint import LEVELS
from rosvd.fingerprint_index import (
    COEFFICIENTS,
    FingerprintSet,
    _scan_within,
    _words,
    hamming_bits,
    levels,
    radius_bits,
)

#: Radii measured (bits / 256): 8 to 32 bits, and the two match thresholds
#: docs/fingerprint.md documents, for FPR 1e-4 (40/256) and 1e-3 (52/256) per pair.
RADII = (8 / 256, 16 / 256, 24 / 256, 32 / 256, 40 / 256, 52 / 256)
#: Planted distances (bits) of the near-duplicates.
PLANTED = (0, 2, 6, 12, 24, 40, 52)


def pack_levels(level: np.ndarray) -> np.ndarray:
    """(N, 64) levels 0..4 -> (N, 32) packed thermometer codes (step 6 of the spec)."""
    level = np.asarray(level).reshape(-1, COEFFICIENTS)
    bits = (level[:, :, None] >= np.arange(1, LEVELS)).astype(np.uint8)
    return np.packbits(bits.reshape(len(level), -1), axis=1)


def rank_codes(rng: np.random.Generator, count: int, chunk: int = 1 << 18) -> np.ndarray:
    """(count, 32) scheme-1 codes of random coefficient orders."""
    out = np.empty((count, COEFFICIENTS // 2), np.uint8)
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        rank = np.argsort(np.argsort(rng.random((n, COEFFICIENTS)), axis=1), axis=1)
        out[start:start + n] = pack_levels((LEVELS * rank) // COEFFICIENTS)
    return out


def plant(rng: np.random.Generator, code: np.ndarray, bits: int) -> np.ndarray:
    """A code exactly ``bits`` (even, <= 64) from ``code``: levels of disjoint coefficient
    pairs swapped, ``|level_a - level_b|`` summing to ``bits / 2``."""
    if bits % 2 or not 0 <= bits <= 64:
        raise ValueError(f"scheme-1 codes differ by an even number of bits (0..64 here), not {bits}")
    level = levels(np.asarray(code, np.uint8).reshape(1, -1))[0].astype(np.int64)
    free = [int(c) for c in rng.permutation(COEFFICIENTS)]
    remaining = bits // 2
    while remaining:
        pair = next(((a, b) for i, a in enumerate(free) for b in free[i + 1:]
                     if 1 <= abs(level[a] - level[b]) <= remaining), None)
        if pair is None:
            raise ValueError(f"cannot plant {bits} bits from this code")
        a, b = pair
        remaining -= abs(level[a] - level[b])
        level[a], level[b] = level[b], level[a]
        free.remove(a)
        free.remove(b)
    return pack_levels(level)[0]


def _percentiles(seconds: list[float]) -> dict:
    ms = 1000 * np.asarray(seconds)
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3), "max_ms": round(float(ms.max()), 3)}


def measure(stored: int = 1_000_000, queries: int = 300, threads: int = 2, seed: int = 19,
            limit: int = 10) -> dict:
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    codes = rank_codes(rng, stored)
    generate_s = time.perf_counter() - start
    # clusters: a stored original with planted copies, also stored (a re-certified picture)
    copies = len(PLANTED) - 1
    cluster_rows = rng.choice(stored - copies * queries, queries, replace=False)
    planted_rows = stored - copies * queries + np.arange(copies * queries)
    originals = codes[cluster_rows].copy()
    for i, code in enumerate(originals):
        for j, bits in enumerate(PLANTED[1:]):
            codes[planted_rows[i * copies + j]] = plant(rng, code, bits)
    # queries: an original itself, or a copy of it 0..16 bits away (a re-encoding)
    probes = [bytes(plant(rng, code, int(rng.choice([0, 2, 8, 16])))) for code in originals]
    sequences = np.arange(1, stored + 1)

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fingerprints = FingerprintSet(tail_limit=0)
    start = time.perf_counter()
    fingerprints.append(sequences, codes)
    fingerprints.rebuild()
    build_s = time.perf_counter() - start

    result = {"stored": stored, "queries": queries, "limit": limit, "generate_s": round(generate_s, 2),
              "index_build_s": round(build_s, 2), "index_mb": round(fingerprints.nbytes / 2**20, 1),
              "codes_mb": round(codes.nbytes / 2**20, 1), "radii": {}}
    for radius in RADII:
        single, recall_hits, recall_total, matches = [], 0, 0, []
        for probe in probes:
            begin = time.perf_counter()
            found = fingerprints.search(probe, radius, limit)
            single.append(time.perf_counter() - begin)
            matches.append(len(found))
        # recall against an exact scan on a sample of the probes
        for probe in probes[:30]:
            distance = hamming_bits(codes, probe)
            close = np.flatnonzero(distance <= radius_bits(radius))
            truth = sorted(zip(distance[close].tolist(), sequences[close].tolist(), strict=True))[:limit]
            found = fingerprints.search(probe, radius, limit)
            recall_total += len(truth)
            recall_hits += len({s for _, s in truth} & {s for s, _ in found})
        concurrent = _concurrent(fingerprints, probes, radius, limit, threads)
        result["radii"][f"{radius:.4f}"] = {
            "bits": radius_bits(radius), "single": _percentiles(single),
            f"threads_{threads}": concurrent, "mean_matches": round(float(np.mean(matches)), 2),
            "recall": recall_hits / recall_total if recall_total else None, "recall_pairs": recall_total}
    scan = []
    for probe in probes[:20]:
        begin = time.perf_counter()
        _scan_within(_words(codes), 0, stored, np.frombuffer(probe, np.uint64), 52)
        scan.append(time.perf_counter() - begin)
    result["full_scan"] = _percentiles(scan)
    result["rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    result["rss_growth_mb"] = round(growth / 1024, 1)
    result["cpus"] = os.cpu_count()
    return result


def _concurrent(fingerprints, probes, radius, limit, threads) -> dict:
    """Latency of each query while ``threads`` threads query at once, and the throughput."""
    latencies: list[float] = []
    lock = threading.Lock()

    def run(part):
        mine = []
        for probe in part:
            begin = time.perf_counter()
            fingerprints.search(probe, radius, limit)
            mine.append(time.perf_counter() - begin)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=run, args=(probes[i::threads],)) for i in range(threads)]
    begin = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - begin
    return {**_percentiles(latencies), "queries_per_s": round(len(probes) / elapsed, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rosvd.bench.fingerprint_index",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=10)
    args = parser.parse_args(argv)
    json.dump(measure(args.stored, args.queries, args.threads, limit=args.limit), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
