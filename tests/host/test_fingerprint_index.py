"""The fingerprint index: exact against a plain scan, ordered and limited, durable and fresh."""
import threading

import blake3
import numpy as np
import pytest

from rosvd.bench.fingerprint_index import plant, rank_codes
from rosvd.fingerprint_index import (
    BLOCK_COEFFICIENTS,
    BLOCKS,
    INDEX_SUFFIX,
    PARTIAL_BLOCKS,
    FingerprintIndex,
    FingerprintSet,
    block_radii,
    levels,
    partial_words,
)
from rosvd.store import Store


def scan(codes: np.ndarray, sequences, probe: bytes, max_distance: float, limit: int):
    """The reference: every row's distance from unpacked bits, sorted by (distance, sequence)."""
    bits = np.unpackbits(codes ^ np.frombuffer(probe, np.uint8), axis=1).sum(axis=1)
    found = sorted((int(d), int(s)) for d, s in zip(bits, sequences, strict=True)
                   if d / 256 <= max_distance)
    return [(s, d / 256) for d, s in found[:limit]]


@pytest.fixture(scope="module")
def corpus():
    """20,000 scheme-1 codes; every 100th row has near-duplicates planted after it at known
    distances (2 to 60 bits), so clusters straddle every tested radius."""
    rng = np.random.default_rng(19)
    codes = list(rank_codes(rng, 20_000))
    planted = []
    for row in range(0, 20_000, 100):
        for bits in (0, 2, 8, 20, 40, 52, 60):
            planted.append(plant(rng, codes[row], bits))
    codes = np.array(codes + planted, dtype=np.uint8)
    order = rng.permutation(len(codes))
    return codes[order]


def not_thermometer(code, rng):
    """``code`` with one nibble that no scheme-1 fingerprint has (0110), 1 or 2 bits away."""
    odd = code.copy()
    byte = rng.integers(32)
    odd[byte] = (odd[byte] & 0xF0) | 0b0110
    return odd


def queries(corpus, rng):
    originals = [corpus[i] for i in rng.choice(len(corpus), 12, replace=False)]
    near = [plant(rng, code, int(bits)) for code, bits in zip(originals, rng.choice([0, 4, 16, 30], 12),
                                                              strict=True)]
    odd = not_thermometer(originals[0], rng)             # not a thermometer code: scanned
    return [bytes(q) for q in originals + near + [odd]]


def test_levels_of_thermometer_nibbles_and_others():
    code = np.zeros((1, 32), np.uint8)
    code[0, :4] = [0x08, 0xCE, 0xF6, 0x17]
    assert list(levels(code)[0, :8]) == [0, 1, 2, 3, 4, -1, -1, -1]
    assert (levels(code)[0, 8:] == 0).all()


def test_plant_gives_the_distance_asked():
    rng = np.random.default_rng(1)
    (code,) = rank_codes(rng, 1)
    for bits in (0, 2, 10, 40, 64):
        assert np.unpackbits(code ^ plant(rng, code, bits)).sum() == bits


def test_partial_words_count_the_blocks_after_the_probed_one():
    """What a table keeps beside its members: XOR-popcount of two rows' words is the L1
    distance of their levels over the PARTIAL_BLOCKS blocks after the probed one, cyclically,
    and never the probed block's own (the search adds that one exactly)."""
    rng = np.random.default_rng(4)
    a, b = rank_codes(rng, 2)
    gap = np.abs(levels(a[None])[0].astype(int) - levels(b[None])[0])
    gap = gap.reshape(BLOCKS, BLOCK_COEFFICIENTS).sum(axis=1)
    for block in range(BLOCKS):
        words = partial_words(a[None], block) ^ partial_words(b[None], block)
        differing = sum(int(w).bit_count() for w in words[0])
        following = [(block + step) % BLOCKS for step in range(1, PARTIAL_BLOCKS + 1)]
        assert differing == gap[following].sum()
    only_block = a.copy()
    only_block[0:4] = b[0:4]                         # differs from a in block 0 alone
    assert (partial_words(only_block[None], 0) == partial_words(a[None], 0)).all()


@pytest.mark.parametrize("max_distance", [0.0, 0.03, 0.0625, 0.1, 0.125, 0.156, 0.2031, 0.25, 1.0])
def test_equals_an_exact_scan(corpus, max_distance):
    rng = np.random.default_rng(int(max_distance * 1000))
    sequences = np.arange(1, len(corpus) + 1) * 3            # gaps: plain files in between
    probes = queries(corpus, rng)
    odd_rows = corpus.copy()         # rows no scheme-1 fingerprint would be: near the queries, and noise
    for row, probe in zip(range(5, 20_000, 1000), probes[:-1], strict=False):
        odd_rows[row] = not_thermometer(np.frombuffer(probe, np.uint8), rng)
    odd_rows[::997] = rng.integers(0, 256, (len(odd_rows[::997]), 32), dtype=np.uint8)
    fingerprints = FingerprintSet(tail_limit=1000)
    fingerprints.append(sequences[:-900], odd_rows[:-900])
    fingerprints.rebuild()                                   # tables over most, a tail of 900
    fingerprints.append(sequences[-900:], odd_rows[-900:])
    assert fingerprints.tail == 900
    for probe in probes:
        want = scan(odd_rows, sequences, probe, max_distance, 50)
        assert fingerprints.search(probe, max_distance, 50) == want
    # up to 0.1 the tables answer (a fraction of the rows checked); wider radii scan
    probed = [fingerprints.probed(probe, max_distance) for probe in probes]
    assert probed[-1] is None                                  # not a thermometer code
    if max_distance <= 0.125:
        assert all(count is not None and count < len(corpus) / 8 for count in probed[:-1])
    elif max_distance >= 0.2:
        assert all(count is None for count in probed)


def test_block_radii_meet_the_pigeonhole_bound():
    sizes = np.arange(8)[::-1]
    for bits in range(0, 80):
        radii = block_radii(bits, sizes)
        assert (radii + 1).sum() == bits + 1 and radii.max() - radii.min() <= 1
    assert list(block_radii(2, sizes)) == [-1] * 5 + [0, 0, 0]   # the smallest buckets


def test_limit_ties_and_order():
    rng = np.random.default_rng(2)
    (code,) = rank_codes(rng, 1)
    same = [plant(rng, code, 8) for _ in range(5)]
    codes = np.array([same[0], code, same[1], code, same[2], same[3], code, same[4]])
    fingerprints = FingerprintSet(tail_limit=0)
    fingerprints.append([3, 5, 8, 13, 21, 34, 55, 89], codes)
    fingerprints.rebuild()
    found = fingerprints.search(bytes(code), 8 / 256, 100)
    assert found == [(5, 0.0), (13, 0.0), (55, 0.0)] + [(s, 8 / 256) for s in (3, 8, 21, 34, 89)]
    assert fingerprints.search(bytes(code), 8 / 256, 4) == found[:4]
    assert fingerprints.search(bytes(code), 8 / 256, 0) == []
    assert fingerprints.search(bytes(code), 7.9 / 256, 100) == found[:3]
    assert fingerprints.search(bytes(code), -0.1, 100) == []
    with pytest.raises(ValueError, match="32 bytes"):
        fingerprints.search(bytes(31), 0.1, 1)
    with pytest.raises(ValueError, match="ascend"):
        fingerprints.append([89], codes[:1])


def test_zero_fingerprints_are_not_indexed():
    fingerprints = FingerprintSet()
    (code,) = rank_codes(np.random.default_rng(3), 1)
    assert fingerprints.append([1, 2, 3], [bytes(32), code, bytes(32)], watermark=4) == 1
    assert len(fingerprints) == 1 and fingerprints.watermark == 4
    assert fingerprints.search(bytes(32), 1.0, 10) == [(2, 126 / 256)]


# -- the store-bound index -----------------------------------------------------------------

def make_store(path):
    store = Store(path, create=True)
    return store


def commit(store: Store, codes) -> list[int]:
    """Commit certificates with these fingerprints (bytes(32) for a plain file)."""
    first = store.next_sequence()
    epoch = store.open_epoch().number
    rows = [(first + i, (first + i).to_bytes(32, "big"), b"cert", b"sig", b"nonce", bytes(32),
             bytes(code), epoch, f"file{first + i}") for i, code in enumerate(codes)]
    store.insert_certificates(rows)
    return [row[0] for row in rows]


@pytest.fixture
def store(tmp_path):
    store = make_store(tmp_path / "rosvd.sqlite")
    yield store
    store.close()


def everything(index, probe):
    return index.search(bytes(probe), 1.0, 10**9)


def test_persisted_round_trip_and_stale_file_caught_up(store):
    rng = np.random.default_rng(4)
    codes = rank_codes(rng, 300)
    commit(store, list(codes[:200]) + [bytes(32)])
    with FingerprintIndex(store.path, tail_limit=50, background=False) as index:
        assert index.rebuilt_because == "no index file"
        assert index.fingerprints.watermark == 201           # the plain file is covered too
        first = everything(index, codes[0])
    assert len(first) == 200 and (store.path.parent / (store.path.name + INDEX_SUFFIX)).is_file()
    later = commit(store, codes[200:])                        # the file is now behind the store
    with FingerprintIndex(store.path, tail_limit=50, background=False) as index:
        assert index.rebuilt_because is None                 # loaded, then caught up
        assert index.fingerprints.watermark == later[-1]
        assert everything(index, codes[0]) == scan(codes, [*range(1, 201), *later], bytes(codes[0]), 1.0, 999)


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "empty", "version"])
def test_a_damaged_file_is_rebuilt(store, damage):
    rng = np.random.default_rng(5)
    codes = rank_codes(rng, 100)
    commit(store, codes)
    FingerprintIndex(store.path).close()
    path = store.path.with_name(store.path.name + INDEX_SUFFIX)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[100] ^= 1
    elif damage == "truncate":
        data = data[:-7]
    elif damage == "garbage":
        data = bytearray(b"x" * len(data))
    elif damage == "empty":
        data = bytearray()
    else:                                   # a sound file of another format version
        data[8] += 1
        data[-32:] = blake3.blake3(bytes(data[:-32])).digest()
    path.write_bytes(bytes(data))
    with FingerprintIndex(store.path) as index:
        assert index.rebuilt_because is not None and index.rebuilt_because != "no index file"
        assert everything(index, codes[0]) == scan(codes, range(1, 101), bytes(codes[0]), 1.0, 999)
    with FingerprintIndex(store.path) as index:
        assert index.rebuilt_because is None                 # and the rebuilt file is sound


def test_a_file_the_store_does_not_continue_is_rebuilt(tmp_path):
    rng = np.random.default_rng(6)
    codes = rank_codes(rng, 20)
    one = make_store(tmp_path / "a" / "rosvd.sqlite")
    commit(one, codes[:10])
    FingerprintIndex(one.path).close()
    other = make_store(tmp_path / "b" / "rosvd.sqlite")        # e.g. restored from an older backup
    commit(other, codes[10:15])
    index_file = one.path.with_name(one.path.name + INDEX_SUFFIX)
    other.path.with_name(other.path.name + INDEX_SUFFIX).write_bytes(index_file.read_bytes())
    with FingerprintIndex(other.path) as index:
        assert "no certificate 10" in index.rebuilt_because
        assert everything(index, codes[10]) == scan(codes[10:15], range(1, 6), bytes(codes[10]), 1.0, 99)
    one.close()
    other.close()


def test_a_certificate_committed_without_add_is_found(store):
    rng = np.random.default_rng(7)
    codes = rank_codes(rng, 3)
    with FingerprintIndex(store.path, persist=False) as index:
        assert index.search(bytes(codes[0]), 0.0, 10) == []
        (sequence,) = commit(store, codes[:1])               # no index.add(...)
        assert index.search(bytes(codes[0]), 0.0, 10) == [(sequence, 0.0)]
        more = commit(store, codes[1:])
        index.add(more, codes[1:])
        assert index.search(bytes(codes[2]), 0.0, 10) == [(more[1], 0.0)]
        with pytest.raises(ValueError, match="not in the store"):
            index.add([more[-1] + 1], codes[:1])
        with pytest.raises(ValueError, match="differs"):
            index.add([more[0]], codes[:1])


def test_one_writer_many_readers(store):
    rng = np.random.default_rng(8)
    codes = rank_codes(rng, 400)
    commit(store, codes[:100])
    index = FingerprintIndex(store.path, persist=False, tail_limit=64)
    errors = []
    done = threading.Event()

    def read():
        try:
            while not done.is_set():
                found = index.search(bytes(codes[0]), 0.0, 5)
                assert found == [(1, 0.0)], found
        except BaseException as error:
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    for start in range(100, 400, 30):                         # the tables rebuilt in between
        index.add(commit(store, codes[start:start + 30]), codes[start:start + 30])
    done.set()
    for reader in readers:
        reader.join()
    index.close()
    assert not errors
    assert index.fingerprints.tail < 400 - 100                # rebuilt in the background
    for probe in codes[::37]:
        assert everything(index, probe) == scan(codes, range(1, 401), bytes(probe), 1.0, 999)


def test_find_uses_the_index(store):
    from rosvd import ingest
    from rosvd.verify import find
    rng = np.random.default_rng(9)
    (code,) = rank_codes(rng, 1)
    near = [plant(rng, code, 6), plant(rng, code, 2), code, plant(rng, code, 60)]
    commit(store, near)
    content = ingest.from_bytes(b"not stored", "probe.bin")
    for index in (None, FingerprintIndex(store.path, persist=False)):
        matches = find(store, content, bytes(code), 6 / 256, search=index)
        assert [(m.sequence, m.distance, m.name, m.exact) for m in matches] == [
            (3, 0.0, "file3", False), (2, 2 / 256, "file2", False), (1, 6 / 256, "file1", False)]
        assert matches[0].certificate_id == (3).to_bytes(32, "big")


def test_crowded_buckets_fall_back_to_the_scan():
    (code,) = rank_codes(np.random.default_rng(10), 1)
    fingerprints = FingerprintSet(tail_limit=0)
    fingerprints.append(range(1, 1001), np.repeat(code[None], 1000, axis=0))
    fingerprints.rebuild()
    assert fingerprints.probed(bytes(code), 16 / 256) is None          # every row in one bucket
    assert fingerprints.search(bytes(code), 16 / 256, 3) == [(1, 0.0), (2, 0.0), (3, 0.0)]


def test_an_index_of_the_region_codes_serves_only_them(store):
    """The second code table (region fingerprints, written with their certificates) has its
    own index and file; the certificates' index never sees region codes."""
    rng = np.random.default_rng(8)
    full, region = rank_codes(rng, 40), rank_codes(rng, 40)
    first = store.next_sequence()
    epoch = store.open_epoch().number
    rows = [(first + i, (first + i).to_bytes(32, "big"), b"cert", b"sig", b"nonce", bytes(32),
             bytes(full[i]), epoch, f"file{i}") for i in range(40)]
    regions = [(first + i, bytes(region[i]), b"\x01d") for i in range(0, 40, 2)]   # every other one
    store.insert_certificates(rows, regions=regions)
    with FingerprintIndex(store.path, table="region_fingerprints", background=False) as index:
        assert index.index_path.name == store.path.name + ".region_fingerprints" + INDEX_SUFFIX
        assert everything(index, region[0]) == scan(region[::2], range(first, first + 40, 2),
                                                     bytes(region[0]), 1.0, 999)
        assert index.search(bytes(full[1]), 0.0, 5) == []
        more = commit(store, rank_codes(rng, 3))            # certificates without regions: caught up
        assert index.fingerprints.watermark < more[-1] and len(everything(index, region[0])) == 20
        assert index.fingerprints.watermark == more[-1]
    assert index.index_path.is_file()
    with FingerprintIndex(store.path, background=False) as index:
        assert everything(index, full[0])[0] == (first, 0.0) and len(everything(index, full[0])) == 43
    with pytest.raises(ValueError, match="no fingerprint table"):
        FingerprintIndex(store.path, table="epochs")
