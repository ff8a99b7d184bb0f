"""The certify pipeline: content -> hashes, fingerprint, signed certificate -> store -> epochs.

An appliance home directory holds everything one device needs::

    config.json       device backend, dev mode, epoch policy (written at enrollment)
    device-key.json   the secp256k1 device key: an encrypted keystore (v3), plain only in
                      dev mode (mode 0600, :mod:`.key_file`)
    rosvd.sqlite      certificates and epochs (WAL), unless config.json names a
                      PostgreSQL store (``store_url``, docs/storage.md)

:meth:`Appliance.certify` takes a batch of :class:`~.ingest.Content`, computes every
certificate and commits them in one transaction: when it returns they are durable
(acknowledged). Then, if the open epoch is full or old enough, it is sealed and its VDF
proved. Opening an appliance first finishes any epoch a crash left sealed but unproved.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from . import ingest
from .certificate import (
    NONCE_BYTES,
    Certificate,
    ContentKind,
    FingerprintScheme,
    decode,
    descriptors_hash,
    entropy_commitment,
    sign,
)
from .device import Device, close_device, fresh_entropy, open_device
from .epochs import (
    EPOCH_ENTROPY_BYTES,
    BlockSource,
    EpochPolicy,
    NoChain,
    close_sealed_epochs,
    keep_epoch_trees,
    seal_open_epoch,
    verify_chain,
)
from .home import default_home  # noqa: F401 -- part of this module's interface
from .identity import DeviceIdentity, enroll, load_identity
from .key_file import STANDARD_SCRYPT_N, passphrase_from_env
from .store import Store, is_postgres_url, now_ms, refuse_existing_postgres_store

CONFIG_FILE = "config.json"
KEY_FILE = "device-key.json"
STORE_FILE = "rosvd.sqlite"
#: With a PostgreSQL store, the local name the files kept beside it take
#: (``rosvd.postgres.fpindex``, the anchoring lock); no file of this name is made.
POSTGRES_LOCAL = "rosvd.postgres"
CONFIG_VERSION = 1
KIND_CODES = {"file": ContentKind.FILE, "image": ContentKind.IMAGE, "array": ContentKind.ARRAY}


class ApplianceError(RuntimeError):
    """Home directory missing or misconfigured; the message says what to run."""


@dataclass(frozen=True)
class ApplianceConfig:
    device: str = "model"
    dev_mode: bool = False
    policy: EpochPolicy = EpochPolicy()
    #: The consortium registry's deployment file (``rosvd.chain.deployment``), once joined.
    deployment: str | None = None
    #: None: the SQLite store in the home; ``postgresql://user@host/db?schema=NAME``: that
    #: PostgreSQL schema (docs/storage.md). Fixed at enrollment.
    store_url: str | None = None

    def __post_init__(self):
        if self.store_url is not None and not is_postgres_url(self.store_url):
            raise ApplianceError(f"store URL {self.store_url!r}: give postgresql://user@host/database"
                                 "?schema=NAME, or none for the SQLite store in the home")

    def to_json(self) -> dict:
        record = {"version": CONFIG_VERSION, "device": self.device, "dev_mode": self.dev_mode,
                  "policy": asdict(self.policy), "deployment": self.deployment}
        return record if self.store_url is None else {**record, "store_url": self.store_url}

    @classmethod
    def from_json(cls, record: dict) -> ApplianceConfig:
        if record.get("version") != CONFIG_VERSION:
            raise ApplianceError(f"config version {record.get('version')} is not supported")
        return cls(record["device"], bool(record["dev_mode"]), EpochPolicy(**record["policy"]),
                   record.get("deployment"), record.get("store_url"))


def store_location(home: Path, config: ApplianceConfig) -> tuple[Path, str | None]:
    """(path, url) of ``home``'s store, as :class:`~.store.Store` takes them: the SQLite file
    in the home, or a PostgreSQL URL and the local name of the files kept beside it."""
    if config.store_url is None:
        return Path(home) / STORE_FILE, None
    return Path(home) / POSTGRES_LOCAL, config.store_url


def open_store(home: Path, config: ApplianceConfig | None = None, create: bool = False) -> Store:
    """``home``'s store (its config read if not given)."""
    path, url = store_location(home, config or load_config(home))
    return Store(path, create, url=url)


@dataclass(frozen=True)
class Issued:
    """An acknowledged certificate and what the store keeps beside it."""

    certificate: Certificate
    signature: bytes
    nonce: bytes
    name: str
    #: The content was certified before: this is that certificate (``name`` is this request's).
    existing: bool = False

    def to_json(self) -> dict:
        return {"name": self.name, **self.certificate.to_json(), "signature": self.signature.hex(),
                "nonce": self.nonce.hex(), "existing": self.existing}


def initialise(home: Path, config: ApplianceConfig, passphrase: str | None = None,
               scrypt_n: int = STANDARD_SCRYPT_N) -> str:
    """Enroll a device into a new home directory; returns its address. The key is encrypted
    under ``passphrase`` (default: from the environment, :func:`.key_file.passphrase_from_env`),
    which only dev mode may go without."""
    home = Path(home)
    passphrase = passphrase if passphrase is not None else passphrase_from_env()
    if (home / CONFIG_FILE).exists():
        raise ApplianceError(f"{home} already holds an enrolled device")
    if home.exists() and not home.is_dir():
        raise ApplianceError(f"{home} exists and is not a directory; give --home a directory")
    try:
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        probe = home / ".rosvd-write-test"
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise ApplianceError(f"cannot use {home} as the appliance home: {error.strerror}") from None
    if config.store_url is not None:
        # before the key is made: a wrong URL or a schema already in use leaves the home re-enrollable
        refuse_existing_postgres_store(config.store_url)
    device = open_device(config.device)
    try:
        identity = enroll(device, home / KEY_FILE, config.dev_mode, passphrase, scrypt_n)
    finally:
        close_device(device)
    store = open_store(home, config, create=True)
    store.set_meta("device_address", identity.address)
    store.close()
    _write_config(home, config)  # config last: its presence means enrolled
    return identity.address


def _write_config(home: Path, config: ApplianceConfig) -> None:
    tmp = home / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(config.to_json(), indent=1))
    os.replace(tmp, home / CONFIG_FILE)


def load_config(home: Path) -> ApplianceConfig:
    config_path = Path(home) / CONFIG_FILE
    if not config_path.exists():
        raise ApplianceError(f"no enrolled device in {home}; run `rosvd enroll --home {home}`"
                             " (add --dev to accept simulated entropy)")
    return ApplianceConfig.from_json(json.loads(config_path.read_text()))


def device_identity(home: Path, config: ApplianceConfig, passphrase: str | None = None) -> DeviceIdentity:
    """Unlock ``home``'s device key (``passphrase`` default: from the environment). Outside dev
    mode a key kept unencrypted is refused."""
    passphrase = passphrase if passphrase is not None else passphrase_from_env()
    return load_identity(Path(home) / KEY_FILE, passphrase, require_encrypted=not config.dev_mode)


def join_chain(home: Path, deployment: Path) -> None:
    """Record the registry this appliance anchors to and takes its epochs' blocks from."""
    config = load_config(home)
    _write_config(Path(home), replace(config, deployment=str(Path(deployment).resolve())))


class Appliance:
    """One enrolled device's host side."""

    def __init__(self, home: Path, device: Device | None = None, blocks: BlockSource | None = None,
                 policy: EpochPolicy | None = None, passphrase: str | None = None):
        self.home = Path(home)
        self.config = load_config(self.home)
        self.policy = policy or self.config.policy
        #: A device this appliance opened is closed with it; one handed in stays the caller's.
        self._owns_device = device is None
        self.device = device or open_device(self.config.device)
        self.identity = device_identity(self.home, self.config, passphrase)
        self.blocks = blocks or self._chain_blocks()
        self.store = open_store(self.home, self.config)
        if self.store.get_meta("device_address") != self.identity.address:
            raise ApplianceError(f"{self.home}: the store belongs to another device key")
        self._pool: ThreadPoolExecutor | None = None
        self.recovered_epochs = close_sealed_epochs(self.store)
        #: Trees of epochs sealed before the store kept them, added now (once per store):
        #: every bundle then reads its Merkle path from one row.
        self.kept_trees = keep_epoch_trees(self.store)
        #: Seconds sealing (Merkle root), proving (VDF, in the background) and waiting for
        #: a proof, and epochs sealed, by this instance.
        self.timings = {"seal_s": 0.0, "vdf_s": 0.0, "vdf_wait_s": 0.0, "epochs": 0}
        self._prover: threading.Thread | None = None
        self._prover_error: BaseException | None = None

    def _chain_blocks(self) -> BlockSource:
        if self.config.deployment is None:
            return NoChain()
        from .chain.blocks import ChainBlocks
        from .chain.deployment import Deployment
        return ChainBlocks(Deployment.load(Path(self.config.deployment)).web3())

    def close(self) -> None:
        try:
            self.wait_for_proofs()
            if self._pool is not None:
                self._pool.shutdown()
            self.store.close()
        finally:
            if self._owns_device:
                close_device(self.device)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def address(self) -> str:
        return self.identity.address

    def _reconnect_if_lost(self) -> None:
        """A PostgreSQL server that ended this appliance's session (restart, failover, idle
        timeout): the call that met it failed; this one opens a new session instead of
        failing until the process restarts."""
        if self.store.lost():
            with contextlib.suppress(Exception):
                self.store.close()
            self.store = open_store(self.home, self.config)

    def _prepare(self, content: ingest.Content) -> tuple[bytes, np.ndarray | None]:
        """BLAKE3 of the exact bytes and the engine matrices (None for plain files): the
        content's and its central region's (rosvd.fingerprint_regions), ``(2, n, n)``."""
        from .fingerprint_regions import region_images
        from .preprocess_fast import preprocess_fast
        if content.pixels is None:
            return content.blake3(), None
        params = self.device.params
        images = [content.pixels, *region_images(content.pixels)]
        return content.blake3(), np.stack([preprocess_fast(params, image) for image in images])

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="rosvd-prep")
        return self._pool

    def _submit(self, contents: list[ingest.Content]) -> list[Future]:
        """Start hashing and preprocessing in the thread pool (both release the GIL)."""
        return [self._executor().submit(self._prepare, content) for content in contents]

    def _fingerprints(self, prepared: list[tuple[bytes, np.ndarray | None]]) -> tuple[list[bytes], list]:
        """One device batch for every item that has matrices (the content's and its region's):
        its fingerprint (zero for plain files), and what is kept beside the certificate, None
        for plain files: (match descriptor, region fingerprint, region descriptor), all from
        the engine's inputs and outputs."""
        from .fingerprint import robust_fingerprints
        from .fingerprint_confirm import descriptors
        fingerprints: list[bytes] = [bytes(32)] * len(prepared)
        kept: list = [None] * len(prepared)
        indices = [i for i, (_, matrices) in enumerate(prepared) if matrices is not None]
        if indices:
            matrices = np.concatenate([prepared[i][1] for i in indices])    # content, region, content, ...
            decomposition = self.device.decompose(matrices)
            computed = robust_fingerprints(self.device.params, matrices, decomposition)
            described = descriptors(self.device.params, matrices, decomposition)
            for k, i in enumerate(indices):
                fingerprints[i] = computed[2 * k]
                kept[i] = (described[2 * k], computed[2 * k + 1], described[2 * k + 1])
        return fingerprints, kept

    def warm_up(self) -> None:
        """Compile and load the JIT kernels (PNG decoding, preprocessing, the fingerprint
        path) now, so the first batch is not slow."""
        import io

        from PIL import Image
        png = io.BytesIO()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(png, "PNG")
        self._fingerprints([self._prepare(ingest.from_bytes(png.getvalue(), "warm-up.png"))])

    def certify(self, contents: list[ingest.Content], again: bool = False) -> list[Issued]:
        """Certify a batch (at most the room left in the open epoch); durable on return.
        Content this device certified before gets its existing certificate back (marked
        ``existing``), unless ``again``; the result keeps the order of ``contents``."""
        self._reconnect_if_lost()
        if len(contents) > 1:
            prepared = [future.result() for future in self._submit(contents)]
        else:
            prepared = [self._prepare(content) for content in contents]
        known, fresh, repeats = self._partition(contents, prepared, again)
        issued = dict(zip(fresh, self._issue([contents[i] for i in fresh], [prepared[i] for i in fresh]),
                          strict=True))
        known.update(self._resolve(contents, prepared, repeats))
        return [issued[i] if i in issued else known[i] for i in range(len(contents))]

    def existing_certificate(self, content_hash: bytes, name: str) -> Issued | None:
        """The first certificate this device issued for content with this BLAKE3 hash."""
        stored = self.store.find_by_content(content_hash)
        if not stored:
            return None
        first = stored[0]
        return Issued(decode(first.encoding), first.signature, first.nonce, name, existing=True)

    def _partition(self, contents, prepared, again: bool):
        """Split a batch: ``known`` (index -> existing certificate), ``fresh`` (indices to
        issue) and ``repeats`` (indices repeating a fresh one, resolved once it is stored)."""
        if again:
            return {}, list(range(len(contents))), []
        known, fresh, repeats, seen = {}, [], [], set()
        for index, (content, (content_hash, _)) in enumerate(zip(contents, prepared, strict=True)):
            if content_hash in seen:
                repeats.append(index)
            elif (existing := self.existing_certificate(content_hash, content.name)) is not None:
                known[index] = existing
            else:
                seen.add(content_hash)
                fresh.append(index)
        return known, fresh, repeats

    def _resolve(self, contents, prepared, repeats) -> dict:
        return {index: self.existing_certificate(prepared[index][0], contents[index].name)
                for index in repeats}

    def _issue(self, contents: list[ingest.Content], prepared: list[tuple[bytes, np.ndarray | None]]
               ) -> list[Issued]:
        if not contents:
            return []
        epoch = self.store.open_epoch()
        room = self.policy.max_certificates - self.store.count_in(epoch.number)
        if len(contents) > room:
            raise ValueError(f"batch of {len(contents)} exceeds the {room} left in epoch {epoch.number};"
                             " use certify_all to split it")
        if epoch.opened_block_hash is None:
            # The epoch's first certificate: name a block of the chain it will be anchored
            # on, which its certificates carry as proof they are no older than that block.
            block_number, block_hash = self.blocks.recent_block()
            self.store.set_opening_block(epoch.number, block_number, block_hash)
            epoch = self.store.open_epoch()
        fingerprints, kept = self._fingerprints(prepared)
        entropy = fresh_entropy(self.device, NONCE_BYTES * len(contents), self.config.dev_mode)
        sequence = self.store.next_sequence()
        timestamp = now_ms()
        issued, rows = [], []
        for offset, (content, (content_hash, _), fingerprint, beside) in enumerate(
                zip(contents, prepared, fingerprints, kept, strict=True)):
            nonce = entropy[offset * NONCE_BYTES:(offset + 1) * NONCE_BYTES]
            # Scheme 2 signs the region fingerprint and the descriptors' hash too, so a match
            # through the region, and a confirmation, are checked against signed bytes.
            regions = {} if beside is None else {
                "region_fingerprint": beside[1], "descriptors_hash": descriptors_hash(beside[0], beside[2])}
            cert = Certificate(
                content_kind=KIND_CODES[content.kind],
                fingerprint_scheme=FingerprintScheme.NONE if content.pixels is None
                else FingerprintScheme.ROSVD_SVD_REGIONS,
                content_hash=content_hash, fingerprint=fingerprint, device=self.address,
                entropy_commitment=entropy_commitment(nonce), timestamp_ms=timestamp,
                epoch=epoch.number, sequence=sequence + offset, after_block=epoch.opened_block_number,
                after_block_hash=epoch.opened_block_hash, **regions)
            signature = sign(self.identity, cert)
            issued.append(Issued(cert, signature, nonce, content.name))
            rows.append((cert.sequence, cert.id, cert.encode(), signature, nonce, content_hash,
                         fingerprint, epoch.number, content.name))
        beside = [(sequence + offset, *item) for offset, item in enumerate(kept) if item is not None]
        self.store.insert_certificates(rows, [(s, descriptor) for s, descriptor, _, _ in beside],
                                       [(s, region, region_descriptor) for s, _, region, region_descriptor
                                        in beside])
        return issued

    def certify_all(self, contents: Iterable[ingest.Content], batch: int = 256, again: bool = False):
        """Certify ``contents`` (any iterable, consumed lazily) in batches that respect epoch
        boundaries; yields each acknowledged batch. Content certified before yields its
        existing certificate (``existing``), in a batch of its own, unless ``again``.

        The next batch is hashed and preprocessed in the thread pool while the current one
        is decomposed, signed and committed. Epochs that fill up are sealed at once and
        proved in the background; the generator waits for the last proof before it ends.
        """
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self._reconnect_if_lost()
        source = iter(contents)

        def next_chunk():
            chunk = list(itertools.islice(source, batch))
            return chunk, self._submit(chunk)

        chunk, futures = next_chunk()
        while chunk:
            upcoming = next_chunk()
            prepared = [future.result() for future in futures]
            known, fresh, repeats = self._partition(chunk, prepared, again)
            if known:
                yield list(known.values())
            todo, todo_prepared = [chunk[i] for i in fresh], [prepared[i] for i in fresh]
            while todo:
                self.maybe_seal()
                epoch = self.store.open_epoch()
                room = self.policy.max_certificates - self.store.count_in(epoch.number)
                yield self._issue(todo[:room], todo_prepared[:room])
                todo, todo_prepared = todo[room:], todo_prepared[room:]
            if repeats:
                yield list(self._resolve(chunk, prepared, repeats).values())
            chunk, futures = upcoming
        self.maybe_seal()
        self.wait_for_proofs()

    def maybe_seal(self) -> int | None:
        """Seal the open epoch if the policy says it is due; prove it in the background."""
        self._reconnect_if_lost()
        epoch = self.store.open_epoch()
        count = self.store.count_in(epoch.number)
        full = count >= self.policy.max_certificates
        old = count > 0 and now_ms() - epoch.opened_ms >= self.policy.max_age_s * 1000
        return self.seal(wait=False) if full or old else None

    def seal(self, wait: bool = True) -> int:
        """Seal the open epoch now and prove its VDF (in a background thread unless ``wait``).

        Sealing needs the previous epoch proved, so a proof still running is waited for
        first. The sealed state is committed before proving starts: a crash during the
        proof is finished on the next start.
        """
        self.wait_for_proofs()
        entropy = fresh_entropy(self.device, EPOCH_ENTROPY_BYTES, self.config.dev_mode)
        start = time.perf_counter()
        number = seal_open_epoch(self.store, self.address, entropy, self.blocks, self.policy.vdf_iterations)
        self.timings["seal_s"] += time.perf_counter() - start
        self.timings["epochs"] += 1
        self._prover = threading.Thread(target=self._prove_sealed, name="rosvd-vdf", daemon=True)
        self._prover.start()
        if wait:
            self.wait_for_proofs()
        return number

    def _prove_sealed(self) -> None:
        # chiavdf releases the GIL, so this overlaps with certification. SQLite
        # connections belong to one thread: the prover opens its own.
        start = time.perf_counter()
        try:
            store = Store(self.store.path, url=self.store.url)
            try:
                close_sealed_epochs(store)
            finally:
                store.close()
        except BaseException as error:  # handed to the thread that waits
            self._prover_error = error
        self.timings["vdf_s"] += time.perf_counter() - start

    def wait_for_proofs(self) -> None:
        """Block until the background VDF proof (if any) is stored; re-raise its failure."""
        if self._prover is not None:
            start = time.perf_counter()
            self._prover.join()
            self.timings["vdf_wait_s"] += time.perf_counter() - start
            self._prover = None
        error, self._prover_error = self._prover_error, None
        if error is not None:
            raise error

    def verify_chain(self):
        self.wait_for_proofs()
        return verify_chain(self.store, self.address)
