"""A store of millions of certificates for ``rosvd bench query``, built in minutes.

What is real and what is synthetic:

- Every certificate is a canonical version-2 encoding (``rosvd.certificate.decode`` accepts
  it) of this home's device, with its id, its entropy nonce and commitment, in closed
  epochs of :data:`EPOCH_SIZE` with real Merkle roots and real (short) Wesolowski proofs,
  so every look-up, record and bundle the service builds from it is the same work as for
  certificates it issued.
- Their fingerprints are synthetic scheme-1 codes (:func:`rosvd.bench.fingerprint_index.
  rank_codes`: the code random content would get), their content hashes random.
- Filler certificates are not signed (the signature column holds :data:`UNSIGNED`): signing
  ten million would take an hour here and no look-up verifies a signature. A client that
  verifies one of their bundles sees ``device_signature`` fail, as it should.
- :data:`REAL_IMAGES` pictures are certified at the end by the appliance itself (model
  device, real signatures): the upload queries send them.

Filler rows go in through :meth:`rosvd.store.Store.insert_certificates` and epochs through
:func:`rosvd.epochs.seal_open_epoch` and :func:`~rosvd.epochs.close_sealed_epochs`, the
functions the appliance uses, so the store passes ``rosvd store check``.
"""
from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import blake3
import numpy as np

from ..certificate import (
    ENTROPY_DOMAIN,
    NONCE_BYTES,
    WORD,
    Certificate,
    ContentKind,
    FingerprintScheme,
    decode,
)
from ..certify import STORE_FILE, Appliance, ApplianceConfig, initialise
from ..epochs import EpochPolicy, NoChain, close_sealed_epochs, seal_open_epoch
from ..keccak_batch import keccak256_rows
from ..store import Store
from .fingerprint_index import rank_codes

#: Certificates per filler epoch: the appliance's default epoch size.
EPOCH_SIZE = EpochPolicy().max_certificates
#: VDF squarings of a filler epoch (a bundle's cost does not depend on it).
FILLER_VDF_ITERATIONS = 16
#: Encoding version of the filler (bulk-encoded by :func:`encodings`).
FILLER_VERSION = 2
#: Signature column of filler certificates (65 bytes, like a real one; never a valid signature).
UNSIGNED = bytes(65)
#: Pictures certified for real at the end, and their size (the upload query's 512x512 PNG).
REAL_IMAGES = 8
IMAGE_SIDE = 512
#: SQLite page cache for the build connection only (random-key index inserts at 10M rows).
BUILD_CACHE_KIB = 1_000_000
BUILT_FILE = "bench-query-store.json"
#: Bump when the layout of the built store changes, so an old work directory is rebuilt.
LAYOUT_VERSION = 1


@dataclass(frozen=True)
class BuiltStore:
    home: Path
    stored: int
    seed: int
    build_s: float
    images: list[Path]       #: the REAL_IMAGES pictures, certified (PNG files)

    @property
    def store_path(self) -> Path:
        return self.home / STORE_FILE


def picture(rng: np.random.Generator, side: int = IMAGE_SIDE) -> np.ndarray:
    """A smooth random RGB picture (low-frequency noise), different for every draw."""
    coarse = rng.random((8, 8, 3))
    fine = np.kron(coarse, np.ones((side // 8, side // 8, 1)))
    y, x = np.mgrid[0:side, 0:side] / side
    waves = 0.15 * np.sin(2 * np.pi * (rng.integers(1, 6) * x + rng.integers(1, 6) * y))[..., None]
    return np.clip((0.7 * fine + waves + 0.15) * 255, 0, 255).astype(np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _words(values: np.ndarray) -> np.ndarray:
    """(N,) unsigned ints -> (N, 32) big-endian words."""
    out = np.zeros((len(values), WORD), np.uint8)
    out[:, WORD - 8:] = np.asarray(values, ">u8").view(np.uint8).reshape(-1, 8)
    return out


def encodings(device: str, content_hashes: np.ndarray, fingerprints: np.ndarray, commitments: np.ndarray,
              timestamp_ms: int, epoch: int, sequences: np.ndarray) -> np.ndarray:
    """(N, 384) canonical version-2 encodings (the layout of ``Certificate.encode``): the
    filler is scheme 1, its region and descriptors kept beside it unsigned (a store holds
    certificates of several versions, as one upgraded in place does)."""
    count = len(sequences)
    device_word = np.zeros(WORD, np.uint8)
    device_word[WORD - 20:] = np.frombuffer(bytes.fromhex(device[2:]), np.uint8)
    constant = lambda value: np.broadcast_to(_words(np.array([value]))[0], (count, WORD))  # noqa: E731
    fields = [constant(FILLER_VERSION), constant(int(ContentKind.IMAGE)),
              constant(int(FingerprintScheme.ROSVD_SVD)), content_hashes, fingerprints,
              np.broadcast_to(device_word, (count, WORD)), commitments, constant(timestamp_ms),
              constant(epoch), _words(sequences), constant(0), np.zeros((count, WORD), np.uint8)]
    return np.ascontiguousarray(np.concatenate(fields, axis=1))


def filler_rows(rng: np.random.Generator, device: str, epoch: int, first_sequence: int,
                 codes: np.ndarray) -> list[tuple]:
    count = len(codes)
    sequences = np.arange(first_sequence, first_sequence + count, dtype=np.uint64)
    nonces = rng.integers(0, 256, (count, NONCE_BYTES), dtype=np.uint8)
    commitments = b"".join(blake3.blake3(ENTROPY_DOMAIN + nonce.tobytes()).digest() for nonce in nonces)
    commitments = np.frombuffer(commitments, np.uint8).reshape(count, WORD)
    content_hashes = rng.integers(0, 256, (count, WORD), dtype=np.uint8)
    encoded = encodings(device, content_hashes, codes, commitments, int(time.time() * 1000), epoch, sequences)
    ids = keccak256_rows(encoded)
    return [(int(sequences[k]), ids[k].tobytes(), encoded[k].tobytes(), UNSIGNED, nonces[k].tobytes(),
             content_hashes[k].tobytes(), codes[k].tobytes(), epoch, f"synthetic-{int(sequences[k])}")
            for k in range(count)]


def _check_canonical(row: tuple) -> None:
    """The bulk encoder must agree with Certificate.encode: decode one row and compare ids."""
    certificate: Certificate = decode(row[2])
    if certificate.id != row[1] or certificate.fingerprint != row[6] or certificate.sequence != row[0]:
        raise AssertionError("the bulk certificate encoder disagrees with rosvd.certificate")


def build(home: Path, stored: int, seed: int, progress=None) -> BuiltStore:
    """Enroll ``home`` and fill its store with ``stored`` certificates (REAL_IMAGES of them
    real); ``progress(done, total)`` is called after each epoch."""
    started = time.monotonic()
    if stored < REAL_IMAGES:
        raise ValueError(f"--stored must be at least {REAL_IMAGES} (the certified pictures)")
    policy = EpochPolicy(max_certificates=EPOCH_SIZE, max_age_s=365 * 86400,
                         vdf_iterations=FILLER_VDF_ITERATIONS)
    home.mkdir(parents=True, exist_ok=True)
    # Marks the directory as the bench's from the start, so an interrupted build may be removed.
    (home / BUILT_FILE).write_text(json.dumps({"layout": LAYOUT_VERSION, "complete": False}))
    address = initialise(home, ApplianceConfig(dev_mode=True, policy=policy))
    rng = np.random.default_rng(seed)
    filler = stored - REAL_IMAGES
    store = Store(home / STORE_FILE)
    try:
        store.db.execute(f"PRAGMA cache_size=-{BUILD_CACHE_KIB}")
        done = 0
        while done < filler:
            count = min(EPOCH_SIZE, filler - done)
            epoch = store.open_epoch().number
            rows = filler_rows(rng, address, epoch, done + 1, rank_codes(rng, count))
            if done == 0:
                _check_canonical(rows[0])
            store.insert_certificates(rows)
            seal_open_epoch(store, address, rng.bytes(32), NoChain(), FILLER_VDF_ITERATIONS)
            close_sealed_epochs(store)
            done += count
            if progress is not None:
                progress(done, stored)
    finally:
        store.close()
    images = []
    from .. import ingest
    with Appliance(home) as appliance:
        contents = []
        for index in range(REAL_IMAGES):
            path = home / f"picture{index}.png"
            path.write_bytes(png_bytes(picture(rng)))
            images.append(path)
            contents.append(ingest.from_path(path))
        appliance.certify(contents)
        appliance.seal()
    if progress is not None:
        progress(stored, stored)
    built = BuiltStore(home, stored, seed, time.monotonic() - started, images)
    (home / BUILT_FILE).write_text(json.dumps({"layout": LAYOUT_VERSION, "complete": True,
                                               "stored": stored, "seed": seed,
                                               "build_s": built.build_s,
                                               "images": [str(p) for p in images]}))
    return built


def marker(home: Path) -> dict:
    """What :data:`BUILT_FILE` records of the store in ``home`` ({} if nothing)."""
    try:
        return json.loads((home / BUILT_FILE).read_text())
    except (OSError, ValueError):
        return {}


def update_marker(home: Path, **fields) -> None:
    """Record further facts of a complete store (atomically: a torn file would read as none)."""
    record = {**marker(home), **fields}
    temporary = home / (BUILT_FILE + ".tmp")
    temporary.write_text(json.dumps(record))
    temporary.replace(home / BUILT_FILE)


def is_bench_home(home: Path) -> bool:
    """True when ``home`` was made by :func:`build` (complete or not): safe to remove."""
    return (home / BUILT_FILE).is_file()


def reuse(home: Path, stored: int, seed: int) -> BuiltStore | None:
    """The store built earlier in ``home`` for the same size and seed, if it is complete."""
    try:
        record = json.loads((home / BUILT_FILE).read_text())
    except (OSError, ValueError):
        return None
    if record.get("layout") != LAYOUT_VERSION or not record.get("complete") or (
            record.get("stored"), record.get("seed")) != (stored, seed):
        return None
    images = [Path(p) for p in record["images"]]
    if not all(path.is_file() for path in images):
        return None
    return BuiltStore(home, stored, seed, float(record["build_s"]), images)
