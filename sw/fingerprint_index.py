"""Exact range search over the store's 256-bit robust fingerprints (docs/fingerprint.md, "Index").

``FingerprintIndex.search(fingerprint, max_distance, limit)`` returns every stored
fingerprint within ``max_distance`` (normalised Hamming distance, differing bits / 256) as
``(certificate sequence, distance)``, ascending by distance then sequence, at most
``limit``. It is exact: never a missed match, never a false one.

Structure: multi-index hashing in the rank-level domain. A scheme-1 fingerprint is a
thermometer code, four bits per DCT coefficient holding its level 0..4, so the Hamming
distance equals the L1 distance of the 64 levels. The levels are cut into ``BLOCKS`` = 8
blocks of 8 coefficients; each block's levels, read as a base-5 number, address one of
5**8 buckets of a table (CSR arrays). If two fingerprints are within ``R`` bits, some
block ``b`` is within ``r_b`` of the query, for any radii with ``sum(r_b + 1) > R``
(pigeonhole), so probing every key within ``r_b`` of the query's block ``b`` finds every
match; each candidate is then checked against the full 256 bits. Beside its members, in
bucket order, each table keeps the ``PARTIAL_BLOCKS`` blocks that follow its own, so a
probed row is first bounded by its probed block's distance plus theirs, read in sequence;
only the rows that bound leaves within the radius are read whole (at 32 bits and 10 M rows
this took a query from 8.9 ms to 2.0 ms at p50, for 128 bytes a row). When the probes would
touch more than ``SCAN_FRACTION`` of the rows (a wide radius), or the query is not a
thermometer code, the index scans every row instead, which is exact too.

Rows added after the tables were built (the "tail", at most ``tail_limit``) are scanned
on every query; a writer rebuilds the tables over all rows once the tail is full (in a
background thread for a :class:`FingerprintIndex`), and readers keep the old tables until
the new ones are published.

Concurrency: one writer (``add``, catching up from the store, publishing tables) and any
number of readers. Readers work on an immutable snapshot (arrays, row count, tables);
the writer only writes rows beyond every published count and publishes a new snapshot
with one reference assignment, so readers take no lock.

Durability: the index is derived from the store and never the authority. It lives next to
the store (``<store>.fpindex``) with the highest sequence it covers and that
certificate's id, and a BLAKE3 checksum. On open a damaged file, or one the store does
not continue (restored from an older backup, another store), is rebuilt from the store;
a valid one is loaded and caught up. Every query first catches up with the store, so a
certificate the store committed is found even if ``add`` was never called.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import struct
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import blake3
import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from .fingerprint import FINGERPRINT_BYTES, LEVELS
from .store import CODE_TABLES, CertificateReader

log = logging.getLogger(__name__)

FINGERPRINT_BITS = 8 * FINGERPRINT_BYTES
#: Coefficients (4 bits each) per fingerprint.
COEFFICIENTS = FINGERPRINT_BITS // (LEVELS - 1)
#: Multi-index hashing: tables, each keyed by the levels of BLOCK_COEFFICIENTS coefficients.
BLOCKS = 8
BLOCK_COEFFICIENTS = COEFFICIENTS // BLOCKS
KEYS = LEVELS ** BLOCK_COEFFICIENTS
#: Per-block probe radius above which probing costs more than scanning (3649 keys at 4).
MAX_PROBE_RADIUS = 4
#: Scan every row instead when the probed buckets hold more than this fraction of them.
SCAN_FRACTION = 1 / 8
#: Rows added since the tables were built that are scanned per query before a rebuild.
TAIL_LIMIT = 1 << 16
#: Rows per call of the scanning kernel (bounds its distance buffer) and of level decoding.
SCAN_CHUNK = 1 << 18
#: Blocks after the probed one whose bits each table keeps in its own bucket order (16
#: bytes a row a table): two unrelated codes differ in about 51 of those 128 bits, so at
#: the radii the tables serve nearly every probed row is turned down without reading its
#: code, whose rows lie in sequence order (one cache miss each).
PARTIAL_BLOCKS = 4
#: A block is 8 coefficients of 4 bits, one uint32; the partial blocks make two uint64 words.
BLOCK_DTYPE = np.uint32
PARTIAL_WORDS = PARTIAL_BLOCKS * np.dtype(BLOCK_DTYPE).itemsize // 8

INDEX_SUFFIX = ".fpindex"
_MAGIC = b"ROSVDFPI"
_VERSION = 1
_HEADER = struct.Struct("<8sIQqH")     # magic, version, rows, watermark, anchor id length
_ZERO = bytes(FINGERPRINT_BYTES)


def _byte_levels() -> np.ndarray:
    """(256, 2) levels of a byte's high and low nibble; -1 for a nibble not a thermometer code."""
    nibble = {0b0000: 0, 0b1000: 1, 0b1100: 2, 0b1110: 3, 0b1111: 4}
    table = np.full((256, 2), -1, dtype=np.int8)
    for byte in range(256):
        table[byte] = nibble.get(byte >> 4, -1), nibble.get(byte & 15, -1)
    return table


_BYTE_LEVELS = _byte_levels()
_POWERS = LEVELS ** np.arange(BLOCK_COEFFICIENTS - 1, -1, -1, dtype=np.int64)


def levels(codes: np.ndarray) -> np.ndarray:
    """(N, 64) int8 coefficient levels of (N, 32) packed fingerprints; -1 where a nibble is
    not a thermometer code (not a scheme-1 fingerprint)."""
    return _BYTE_LEVELS[codes].reshape(len(codes), COEFFICIENTS)


@intrinsic
def _popcount(typingctx, x):
    """Set bits of a uint64: LLVM's ctpop (the POPCNT instruction on x86-64)."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])
    return types.uint64(types.uint64), codegen


@njit(cache=True, inline="always")
def _distance(codes, row, probe):
    return np.int64(_popcount(codes[row, 0] ^ probe[0]) + _popcount(codes[row, 1] ^ probe[1])
                    + _popcount(codes[row, 2] ^ probe[2]) + _popcount(codes[row, 3] ^ probe[3]))


@njit(cache=True, nogil=True)
def _distances(codes, probe, out):
    for row in range(codes.shape[0]):
        out[row] = _distance(codes, row, probe)


def _scan_within(codes, start, stop, probe, bits):
    """(rows, distances) of rows [start, stop) of (N, 4) uint64 ``codes`` within ``bits``."""
    rows, distances = [np.empty(0, np.int64)], [np.empty(0, np.int32)]
    buffer = np.empty(min(SCAN_CHUNK, max(0, stop - start)), np.int32)
    for first in range(start, stop, SCAN_CHUNK):
        chunk = buffer[:min(stop, first + SCAN_CHUNK) - first]
        _distances(codes[first:first + len(chunk)], probe, chunk)
        close = np.flatnonzero(chunk <= bits)
        rows.append(first + close)
        distances.append(chunk[close])
    return np.concatenate(rows), np.concatenate(distances)


@njit(cache=True, inline="always")
def _partial_distance(partial, block, position, partial_probe):
    return np.int64(_popcount(partial[block, position, 0] ^ partial_probe[block, 0])
                    + _popcount(partial[block, position, 1] ^ partial_probe[block, 1]))


@njit(cache=True, nogil=True)
def _probe_within(codes, probe, bits, query_levels, radii, offsets, by_norm, norms, starts, members,
                  partial, partial_probe, budget):
    """Rows of the tables within ``bits`` (a row may repeat, once per table it is found in)
    and their distances; ``found = -1`` when more than ``budget`` rows would be checked.

    A bucket's rows are first bounded from below by what the table keeps beside them, in
    its own order (so read in sequence, not one cache miss a row): the probed block's
    distance (the offset's norm, exact) plus the distance over the PARTIAL_BLOCKS blocks
    that follow it; only rows within ``bits`` by that bound are read whole."""
    rows = np.empty(64, np.int64)
    distances = np.empty(64, np.int32)
    found = 0
    checked = 0
    for block in range(radii.shape[0]):
        if radii[block] < 0:
            continue
        for offset in range(by_norm[radii[block]]):
            key = 0
            for j in range(offsets.shape[1]):
                level = query_levels[block * offsets.shape[1] + j] + offsets[offset, j]
                if level < 0 or level >= 5:
                    key = -1
                    break
                key = key * 5 + level
            if key < 0:
                continue
            low, high = starts[block, key], starts[block, key + 1]
            checked += high - low
            if checked > budget:
                return rows[:0], distances[:0], -1
            slack = bits - norms[offset]
            for position in range(low, high):
                if _partial_distance(partial, block, position, partial_probe) > slack:
                    continue
                row = members[block, position]
                distance = _distance(codes, row, probe)
                if distance <= bits:
                    if found == len(rows):
                        rows = np.concatenate((rows, np.empty(found, np.int64)))
                        distances = np.concatenate((distances, np.empty(found, np.int32)))
                    rows[found] = row
                    distances[found] = distance
                    found += 1
    return rows[:found], distances[:found], checked


def partial_words(codes: np.ndarray, block: int) -> np.ndarray:
    """(N, PARTIAL_WORDS) uint64: the PARTIAL_BLOCKS blocks after ``block`` (cyclically) of each row of
    (N, 32) uint8 ``codes``, the bits a table keeps beside its members; XOR and popcount
    of two rows' words count the bits those blocks differ in."""
    following = [(block + step) % BLOCKS for step in range(1, PARTIAL_BLOCKS + 1)]
    blocks = np.ascontiguousarray(codes, dtype=np.uint8).view(BLOCK_DTYPE).reshape(len(codes), BLOCKS)
    return np.ascontiguousarray(blocks[:, following]).view(np.uint64).reshape(len(codes), PARTIAL_WORDS)


def _probe_bytes(probe: np.ndarray) -> np.ndarray:
    """(1, 32) uint8 of a probe's (4,) uint64 words."""
    return np.ascontiguousarray(probe).view(np.uint8).reshape(1, FINGERPRINT_BYTES)


def _words(codes: np.ndarray) -> np.ndarray:
    """(N, 4) uint64 view of (N, 32) packed codes."""
    return np.ascontiguousarray(codes, dtype=np.uint8).view(np.uint64).reshape(-1, FINGERPRINT_BYTES // 8)


def hamming_bits(codes: np.ndarray, fingerprint: bytes | np.ndarray) -> np.ndarray:
    """(N,) int32 differing bits between each row of ``codes`` ((N, 32) uint8) and one
    fingerprint: the index's exact distance kernel (numba, GIL released)."""
    probe = np.frombuffer(bytes(fingerprint), dtype=np.uint64)
    codes = np.asarray(codes, dtype=np.uint8)
    if codes.ndim != 2 or codes.shape[1] != FINGERPRINT_BYTES or len(probe) != 4:
        raise ValueError(f"codes must be (N, {FINGERPRINT_BYTES}) uint8 and the fingerprint"
                         f" {FINGERPRINT_BYTES} bytes, not {codes.shape} and {8 * len(probe)}")
    out = np.empty(len(codes), dtype=np.int32)
    _distances(_words(codes), probe, out)
    return out


def as_codes(fingerprints) -> np.ndarray:
    """(N, 32) uint8 from an array or from a sequence of 32-byte fingerprints."""
    if isinstance(fingerprints, np.ndarray):
        return np.ascontiguousarray(fingerprints, dtype=np.uint8).reshape(-1, FINGERPRINT_BYTES)
    joined = b"".join(bytes(fingerprint) for fingerprint in fingerprints)
    if len(joined) % FINGERPRINT_BYTES:
        raise ValueError(f"fingerprints must be {FINGERPRINT_BYTES} bytes each")
    return np.frombuffer(joined, np.uint8).reshape(-1, FINGERPRINT_BYTES)


def radius_bits(max_distance: float) -> int:
    """The largest bit count ``d`` with ``d / 256 <= max_distance`` (-1 if none)."""
    if math.isnan(max_distance):
        raise ValueError("max_distance is NaN")
    if max_distance < 0:
        return -1
    return FINGERPRINT_BITS if max_distance >= 1 else math.floor(max_distance * FINGERPRINT_BITS)


@functools.cache
def _offsets(radius: int) -> np.ndarray:
    """(K, 8) int8: every level offset of one block with L1 norm <= ``radius`` (each offset
    of norm r is one unit step from one of norm r - 1)."""
    if radius == 0:
        return np.zeros((1, BLOCK_COEFFICIENTS), dtype=np.int8)
    smaller = _offsets(radius - 1)
    unit = np.eye(BLOCK_COEFFICIENTS, dtype=np.int8)
    steps = np.concatenate([unit, -unit])
    grown = (smaller[:, None, :] + steps[None, :, :]).reshape(-1, BLOCK_COEFFICIENTS)
    return np.unique(np.concatenate([smaller, grown]), axis=0)


def _offsets_by_norm() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every offset up to MAX_PROBE_RADIUS ordered by L1 norm, for each radius r how many
    lead the list (those of norm <= r), and each offset's norm."""
    offsets = _offsets(MAX_PROBE_RADIUS)
    norms = np.abs(offsets.astype(np.int64)).sum(axis=1)
    order = np.argsort(norms, kind="stable")
    return (np.ascontiguousarray(offsets[order].astype(np.int64)),
            np.searchsorted(norms[order], np.arange(MAX_PROBE_RADIUS + 1), side="right"),
            np.ascontiguousarray(norms[order]))


_OFFSETS = _offsets_by_norm()


def block_radii(bits: int, block_sizes: np.ndarray) -> np.ndarray:
    """Per-block probe radii, -1 = not probed, with ``sum(r + 1) = bits + 1`` (pigeonhole:
    a row within ``bits`` of the query is within ``r_b`` of it in some block ``b``).
    Below 8 bits only the blocks whose exact-key buckets are smallest are probed."""
    need = bits + 1
    radii = np.full(BLOCKS, need // BLOCKS - 1, dtype=np.int64)
    radii[np.argsort(block_sizes, kind="stable")[:need % BLOCKS]] += 1
    return radii


@dataclass(frozen=True)
class _Tables:
    """Multi-index hash tables over rows [0, rows) (immutable once built)."""

    rows: int
    starts: np.ndarray   #: (BLOCKS, KEYS + 2) int64 bucket starts; key KEYS holds non-scheme-1 rows
    members: np.ndarray  #: (BLOCKS, rows) int32 row numbers ordered by key
    partial: np.ndarray  #: (BLOCKS, rows, PARTIAL_WORDS) uint64 :func:`partial_words` in members order
    odd: np.ndarray      #: rows that are not thermometer codes, checked on every query

    @classmethod
    def build(cls, codes: np.ndarray) -> _Tables:
        count = len(codes)
        keys = np.empty((BLOCKS, count), dtype=np.int32)
        odd = []
        for start in range(0, count, SCAN_CHUNK):
            chunk = levels(codes[start:start + SCAN_CHUNK]).reshape(-1, BLOCKS, BLOCK_COEFFICIENTS)
            bad = (chunk < 0).any(axis=(1, 2))
            block_keys = chunk.astype(np.int64) @ _POWERS
            block_keys[bad] = KEYS
            keys[:, start:start + len(chunk)] = block_keys.T
            odd.append(start + np.flatnonzero(bad))
        starts = np.zeros((BLOCKS, KEYS + 2), dtype=np.int64)
        members = np.empty((BLOCKS, count), dtype=np.int32)
        partial = np.empty((BLOCKS, count, PARTIAL_WORDS), dtype=np.uint64)
        for block in range(BLOCKS):
            members[block] = np.argsort(keys[block], kind="stable")
            np.cumsum(np.bincount(keys[block], minlength=KEYS + 1), out=starts[block, 1:])
            partial[block] = partial_words(codes, block)[members[block]]
        return cls(count, starts, members, partial, np.concatenate(odd) if odd else np.empty(0, np.int64))

    def within(self, words: np.ndarray, probe: np.ndarray, query_levels: np.ndarray, bits: int,
               budget: int) -> tuple[np.ndarray, np.ndarray, int] | None:
        """(rows, distances, rows checked) of the table rows within ``bits`` of the query,
        each row once; None when that would check more than ``budget`` rows or need a
        per-block radius above MAX_PROBE_RADIUS (the caller scans instead)."""
        blocks = query_levels.reshape(BLOCKS, BLOCK_COEFFICIENTS).astype(np.int64)
        exact_keys = blocks @ _POWERS
        block_index = np.arange(BLOCKS)
        sizes = self.starts[block_index, exact_keys + 1] - self.starts[block_index, exact_keys]
        radii = block_radii(bits, sizes)
        if radii.max() > MAX_PROBE_RADIUS:
            return None
        query = _probe_bytes(probe)
        partial_probe = np.stack([partial_words(query, block)[0] for block in range(BLOCKS)])
        rows, distances, checked = _probe_within(words, probe, bits, blocks.reshape(-1), radii, *_OFFSETS,
                                                 self.starts, self.members, self.partial, partial_probe,
                                                 budget)
        if checked < 0:
            return None
        if len(self.odd):
            odd = self.odd[hamming_bits(words[self.odd].view(np.uint8), probe) <= bits]
            rows = np.concatenate([rows, odd])
            distances = np.concatenate([distances, hamming_bits(words[odd].view(np.uint8), probe)])
        # a row may come from several tables: keep each once (the matches are few)
        rows, first = np.unique(rows, return_index=True)
        return rows, distances[first], checked + len(self.odd)

    @property
    def nbytes(self) -> int:
        return self.starts.nbytes + self.members.nbytes + self.partial.nbytes + self.odd.nbytes


@dataclass(frozen=True)
class _Snapshot:
    """What a reader sees: rows [0, count) of the arrays, tables over [0, tables.rows)."""

    codes: np.ndarray       #: (capacity, 32) uint8, rows in ascending sequence
    sequences: np.ndarray   #: (capacity,) int64
    count: int
    watermark: int          #: highest store sequence covered (plain files included)
    tables: _Tables | None


class FingerprintSet:
    """The in-memory structure: append-only rows (sequence, fingerprint) and exact search.

    One writer (``append``, ``rebuild``) and many readers (``search``) may run at once.
    Sequences must be appended in ascending order; zero fingerprints are skipped.
    """

    def __init__(self, tail_limit: int = TAIL_LIMIT):
        if tail_limit < 0:
            raise ValueError(f"tail_limit must be >= 0, not {tail_limit}")
        self.tail_limit = tail_limit
        empty = np.empty((0, FINGERPRINT_BYTES), np.uint8)
        self._snapshot = _Snapshot(empty, np.empty(0, np.int64), 0, 0, None)
        self._writer = threading.Lock()

    def __len__(self) -> int:
        return self._snapshot.count

    @property
    def watermark(self) -> int:
        return self._snapshot.watermark

    @property
    def tail(self) -> int:
        """Rows not covered by the tables (scanned on every query)."""
        snapshot = self._snapshot
        return snapshot.count - (snapshot.tables.rows if snapshot.tables else 0)

    @property
    def nbytes(self) -> int:
        snapshot = self._snapshot
        return (snapshot.codes.nbytes + snapshot.sequences.nbytes
                + (snapshot.tables.nbytes if snapshot.tables else 0))

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(sequences, codes) of every row, read-only views."""
        snapshot = self._snapshot
        return snapshot.sequences[:snapshot.count], snapshot.codes[:snapshot.count]

    def append(self, sequences, codes, watermark: int | None = None) -> int:
        """Append rows (ascending sequences above every stored one); returns rows added.
        ``watermark`` (default: the last sequence) is the highest store sequence covered."""
        sequences = np.asarray(sequences, dtype=np.int64).reshape(-1)
        codes = as_codes(codes)
        if len(sequences) != len(codes):
            raise ValueError(f"{len(sequences)} sequences for {len(codes)} fingerprints")
        keep = codes.any(axis=1)
        sequences, codes = sequences[keep], codes[keep]
        with self._writer:
            snapshot = self._snapshot
            last = int(snapshot.sequences[snapshot.count - 1]) if snapshot.count else 0
            if len(sequences) and (sequences[0] <= max(last, snapshot.watermark)
                                   or (np.diff(sequences) <= 0).any()):
                raise ValueError("sequences must ascend above the last one covered"
                                 f" ({max(last, snapshot.watermark)})")
            top = max(snapshot.watermark, int(sequences[-1]) if len(sequences) else 0,
                      watermark if watermark is not None else 0)
            count, needed = snapshot.count, snapshot.count + len(sequences)
            stored_codes, stored_sequences = snapshot.codes, snapshot.sequences
            if needed > len(stored_codes):
                capacity = max(needed, 2 * len(stored_codes), 1024)
                stored_codes = np.empty((capacity, FINGERPRINT_BYTES), np.uint8)
                stored_sequences = np.empty(capacity, np.int64)
                stored_codes[:count] = snapshot.codes[:count]
                stored_sequences[:count] = snapshot.sequences[:count]
            # rows beyond every published count: no reader looks at them yet
            stored_codes[count:needed] = codes
            stored_sequences[count:needed] = sequences
            self._snapshot = replace(snapshot, codes=stored_codes, sequences=stored_sequences,
                                     count=needed, watermark=top)
        return len(sequences)

    def needs_rebuild(self) -> bool:
        return self.tail > self.tail_limit

    def rebuild(self) -> None:
        """Build tables over every row now (readers keep the old ones until it is done)."""
        snapshot = self._snapshot
        tables = _Tables.build(snapshot.codes[:snapshot.count])
        with self._writer:
            current = self._snapshot
            if current.tables is None or current.tables.rows < tables.rows:
                self._snapshot = replace(current, tables=tables)

    def search(self, fingerprint: bytes, max_distance: float, limit: int) -> list[tuple[int, float]]:
        """Every row within ``max_distance`` as (sequence, distance), nearest first (ties by
        sequence), at most ``limit``."""
        if len(fingerprint) != FINGERPRINT_BYTES:
            raise ValueError(f"a fingerprint has {FINGERPRINT_BYTES} bytes, not {len(fingerprint)}")
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        bits = radius_bits(max_distance)
        snapshot = self._snapshot
        if bits < 0 or limit == 0 or snapshot.count == 0:
            return []
        rows, distances = self._within(snapshot, bytes(fingerprint), bits)
        order = np.lexsort((snapshot.sequences[rows], distances))[:limit]
        return [(int(snapshot.sequences[rows[i]]), int(distances[i]) / FINGERPRINT_BITS) for i in order]

    def probed(self, fingerprint: bytes, max_distance: float) -> int | None:
        """How many table rows a search would check (tail excluded), or None if it would
        scan every row (no tables, not a thermometer code, or too wide a radius)."""
        snapshot = self._snapshot
        probe = np.frombuffer(bytes(fingerprint), np.uint64)
        query_levels = levels(np.frombuffer(bytes(fingerprint), np.uint8)[None])[0]
        if snapshot.tables is None or (query_levels < 0).any() or radius_bits(max_distance) < 0:
            return None
        found = snapshot.tables.within(_words(snapshot.codes), probe, query_levels,
                                       radius_bits(max_distance), int(SCAN_FRACTION * snapshot.count))
        return None if found is None else found[2]

    def _within(self, snapshot: _Snapshot, fingerprint: bytes, bits: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, distances in bits) of every row within ``bits``."""
        tables, count = snapshot.tables, snapshot.count
        words = _words(snapshot.codes)
        probe = np.frombuffer(fingerprint, np.uint64)
        found = None
        query_levels = levels(np.frombuffer(fingerprint, np.uint8)[None])[0]
        if tables is not None and (query_levels >= 0).all():
            found = tables.within(words, probe, query_levels, bits, int(SCAN_FRACTION * count))
        if found is None:
            return _scan_within(words, 0, count, probe, bits)
        rows, distances, _ = found
        tail_rows, tail_distances = _scan_within(words, tables.rows, count, probe, bits)
        return np.concatenate([rows, tail_rows]), np.concatenate([distances, tail_distances])


def warm_up() -> None:
    """Load (or compile, the first time) the numba kernels now rather than in a query."""
    code = np.zeros((1, FINGERPRINT_BYTES), np.uint8)
    fingerprints = FingerprintSet(tail_limit=0)
    fingerprints.append([1], code + 0xFF)
    fingerprints.rebuild()
    fingerprints.search(bytes(code[0]), 8 / FINGERPRINT_BITS, 1)       # tables
    fingerprints.search(bytes(code[0]), 1.0, 1)                        # scan


class IndexFileError(ValueError):
    """An index file that cannot be trusted (truncated, altered, another format)."""


def write_index_file(path: Path, fingerprints: FingerprintSet, anchor: bytes) -> None:
    """Persist the rows and watermark atomically (temporary file, fsync, rename).
    ``anchor`` is the id of the certificate at the watermark (empty for none)."""
    sequences, codes = fingerprints.rows()
    header = _HEADER.pack(_MAGIC, _VERSION, len(sequences), fingerprints.watermark, len(anchor)) + anchor
    digest = blake3.blake3(header)
    payload = [memoryview(np.ascontiguousarray(part).view(np.uint8).reshape(-1))
               for part in (codes, sequences.astype("<i8"))]
    for part in payload:
        digest.update(part)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(temporary, "wb") as out:
        out.write(header)
        for part in payload:
            out.write(part)
        out.write(digest.digest())
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_index_file(path: Path) -> tuple[np.ndarray, np.ndarray, int, bytes]:
    """(sequences, codes, watermark, anchor) from a file; IndexFileError if it is damaged."""
    data = Path(path).read_bytes()
    if len(data) < _HEADER.size + 32:
        raise IndexFileError(f"{path}: {len(data)} bytes, shorter than a header")
    magic, version, count, watermark, anchor_length = _HEADER.unpack_from(data)
    if magic != _MAGIC or version != _VERSION:
        raise IndexFileError(f"{path}: not a fingerprint index of version {_VERSION}")
    start = _HEADER.size + anchor_length
    end = start + count * (FINGERPRINT_BYTES + 8)
    if blake3.blake3(memoryview(data)[:end]).digest() != data[end:]:     # also a wrong length
        raise IndexFileError(f"{path}: checksum mismatch (altered or truncated)")
    codes_end = start + count * FINGERPRINT_BYTES
    codes = np.frombuffer(data, np.uint8, count * FINGERPRINT_BYTES, start).reshape(count, FINGERPRINT_BYTES)
    sequences = np.frombuffer(data, "<i8", count, codes_end).astype(np.int64)
    return sequences, codes, watermark, data[_HEADER.size:start]


class FingerprintIndex:
    """The store's fingerprints, searchable, kept up to date with the store.

    ``FingerprintIndex(store_path)`` loads ``<store>.fpindex`` if it is sound and the store
    continues it (else rebuilds it from the store and, if ``persist``, writes it), then
    catches up with the store. ``add`` is called after a store commit; ``search`` catches
    up first in any case. One writer thread and many reader threads may use it at once;
    each thread reads the store through its own connection.
    """

    def __init__(self, store_path: Path, *, store_url: str | None = None, index_path: Path | None = None,
                 persist: bool = True, tail_limit: int = TAIL_LIMIT, background: bool = True,
                 table: str = "certificates"):
        """``store_path`` and ``store_url`` as :class:`~.store.Store` takes them: with a
        PostgreSQL URL, ``store_path`` only names the index file (``<store_path>.fpindex``).
        ``table`` is the store's table of codes served (:data:`rosvd.store.CODE_TABLES`): the
        certificates' fingerprints, or their regions' (file ``<store_path>.<table>.fpindex``)."""
        if table not in CODE_TABLES:
            raise ValueError(f"no fingerprint table {table!r}; known: {', '.join(CODE_TABLES)}")
        self.store_path = Path(store_path)
        self.store_url = store_url
        self.table = table
        if store_url is None and not self.store_path.is_file():
            raise FileNotFoundError(f"the store {self.store_path} is missing")
        suffix = INDEX_SUFFIX if table == "certificates" else f".{table}{INDEX_SUFFIX}"
        self.index_path = Path(index_path) if index_path else self.store_path.with_name(
            self.store_path.name + suffix)
        self.persist = persist
        self.background = background
        self.rebuilt_because: str | None = None    #: why the file was not used (None if it was)
        self._local = threading.local()
        self._catching_up = threading.Lock()
        self._rebuilder: threading.Thread | None = None
        self._saved_watermark = -1
        warm_up()
        self.fingerprints = self._load(tail_limit)
        self._catch_up()
        if self.fingerprints.needs_rebuild():
            self.fingerprints.rebuild()
        if persist and self.fingerprints.watermark != self._saved_watermark:
            self.save()

    # -- store access --------------------------------------------------------------------
    def _db(self) -> CertificateReader:
        db = getattr(self._local, "db", None)
        if db is not None and db.lost():   # the server ended the session: a new one
            with contextlib.suppress(Exception):
                db.close()
            db = None
        if db is None:
            db = self._local.db = CertificateReader(self.store_path, self.store_url)
        return db

    def _store_top(self) -> int:
        return self._db().top()

    def _certificate_id(self, sequence: int) -> bytes | None:
        return self._db().certificate_id(sequence)

    def _load(self, tail_limit: int) -> FingerprintSet:
        fingerprints = FingerprintSet(tail_limit)
        if not self.persist or not self.index_path.exists():
            self.rebuilt_because = "no index file" if self.persist else "not persisted"
            return fingerprints
        try:
            sequences, codes, watermark, anchor = read_index_file(self.index_path)
        except (OSError, IndexFileError) as error:
            self.rebuilt_because = str(error)
            log.warning("fingerprint index %s not used (%s); rebuilding it from the store",
                        self.index_path, error)
            return fingerprints
        if watermark and self._certificate_id(watermark) != anchor:
            self.rebuilt_because = (f"{self.index_path}: the store has no certificate {watermark} with the"
                                    " id the index covers (another store, or restored from a backup)")
            log.warning("%s; rebuilding it", self.rebuilt_because)
            return fingerprints
        fingerprints.append(sequences, codes, watermark)
        self._saved_watermark = watermark
        return fingerprints

    # -- writer --------------------------------------------------------------------------
    def catch_up(self) -> int:
        """Add whatever the store holds beyond the watermark; returns rows added. Once the
        tail is full the tables are rebuilt (in the background unless ``background`` is off)."""
        added = self._catch_up()
        if self.fingerprints.needs_rebuild():
            self._rebuild_later()
        return added

    def _catch_up(self) -> int:
        with self._catching_up:
            watermark = self.fingerprints.watermark
            top = self._store_top()
            if top <= watermark:
                return 0
            added = 0
            for rows in self._db().fingerprints(watermark, top, 1 << 16, FINGERPRINT_BYTES, self.table):
                sequences = np.fromiter((row[0] for row in rows), np.int64, len(rows))
                codes = np.frombuffer(b"".join(row[1] for row in rows), np.uint8)
                added += self.fingerprints.append(sequences, codes)
            self.fingerprints.append([], [], top)
        return added

    def add(self, sequences, fingerprints) -> None:
        """Certificates the store has just committed: caught up from the store (the
        authority), then checked against what the caller says it committed."""
        self.catch_up()
        stored, codes = self.fingerprints.rows()
        for sequence, fingerprint in zip(sequences, fingerprints, strict=True):
            if sequence > self.fingerprints.watermark:
                raise ValueError(f"certificate {sequence} is not in the store; add after the commit")
            if bytes(fingerprint) == _ZERO:
                continue
            row = int(np.searchsorted(stored, sequence))
            if row == len(stored) or stored[row] != sequence or bytes(codes[row]) != bytes(fingerprint):
                raise ValueError(f"certificate {sequence}'s fingerprint differs from the store's")

    def _rebuild_later(self) -> None:
        if not self.background:
            self.fingerprints.rebuild()
            return
        with self._catching_up:
            if self._rebuilder is not None and self._rebuilder.is_alive():
                return
            self._rebuilder = threading.Thread(target=self._rebuild_while_behind, daemon=True,
                                               name="rosvd-fpindex-rebuild")
            self._rebuilder.start()

    def _rebuild_while_behind(self) -> None:
        while self.fingerprints.needs_rebuild():      # rows added while it built
            self.fingerprints.rebuild()

    def save(self) -> None:
        """Write the index file (call at shutdown, or now and then; never needed for correctness)."""
        with self._catching_up:
            watermark = self.fingerprints.watermark
            anchor = (self._certificate_id(watermark) or b"") if watermark else b""
            write_index_file(self.index_path, self.fingerprints, anchor)
            self._saved_watermark = watermark

    def close(self) -> None:
        if self._rebuilder is not None:
            self._rebuilder.join()
        if self.persist and self.fingerprints.watermark != self._saved_watermark:
            self.save()
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- readers -------------------------------------------------------------------------
    def search(self, fingerprint: bytes, max_distance: float, limit: int) -> list[tuple[int, float]]:
        """Every stored fingerprint within ``max_distance`` as (certificate sequence,
        distance = differing bits / 256), nearest first, ties by sequence, at most ``limit``;
        certificates the store committed before the call are included."""
        if self._store_top() > self.fingerprints.watermark:
            self.catch_up()
        return self.fingerprints.search(fingerprint, max_distance, limit)
