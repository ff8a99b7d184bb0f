"""Durable storage of certificates and epochs: SQLite in WAL mode.

Durability: ``synchronous=FULL`` with WAL, so a transaction that has committed survives
a crash of the process or of the machine. Every state change is one transaction:
a batch of certificates, sealing an epoch (its Merkle root, entropy and VDF challenge,
and opening the next), closing it (the VDF output and proof). A process killed at any
point therefore leaves either the state before a step or the state after it.

Epoch states: ``open`` (receiving certificates) -> ``sealed`` (membership and VDF input
fixed) -> ``closed`` (VDF proved). Exactly one epoch is open at any time.

Anchoring (``rosvd.chain.anchor``) keeps its state here too, so an anchor and the epoch it
anchors can never disagree after a crash: ``anchors`` has one row per closed epoch the
service has taken up, ``anchor_txs`` every signed transaction it made for it, written
*before* the transaction is broadcast.
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 3
#: Older schemas this one extends (opened stores are upgraded): 1 lacks the anchor
#: tables, 2 the anchors' device signature and the epochs' opening block.
UPGRADABLE_SCHEMAS = (1, 2)
#: Waiting for another writer (a second `rosvd certify`) before giving up, in seconds.
BUSY_TIMEOUT_S = 30

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS certificates (
    sequence     INTEGER PRIMARY KEY,
    id           BLOB NOT NULL UNIQUE,
    encoding     BLOB NOT NULL,
    signature    BLOB NOT NULL,
    nonce        BLOB NOT NULL,
    content_hash BLOB NOT NULL,
    fingerprint  BLOB NOT NULL,
    epoch        INTEGER NOT NULL REFERENCES epochs(number),
    name         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS certificates_content ON certificates(content_hash);
CREATE INDEX IF NOT EXISTS certificates_epoch ON certificates(epoch);
CREATE TABLE IF NOT EXISTS epochs (
    number       INTEGER PRIMARY KEY,
    state        TEXT NOT NULL CHECK (state IN ('open', 'sealed', 'closed')),
    opened_ms    INTEGER NOT NULL,
    count        INTEGER,
    merkle_root  BLOB,
    entropy      BLOB,
    block_number INTEGER,
    block_hash   BLOB,
    prev_output  BLOB,
    challenge    BLOB,
    iterations   INTEGER,
    vdf_output   BLOB,
    vdf_proof    BLOB,
    sealed_ms    INTEGER,
    closed_ms    INTEGER,
    opened_block_number INTEGER,
    opened_block_hash   BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS one_open_epoch ON epochs(state) WHERE state = 'open';
CREATE TABLE IF NOT EXISTS anchors (
    epoch        INTEGER PRIMARY KEY REFERENCES epochs(number),
    state        TEXT NOT NULL
                 CHECK (state IN ('empty', 'queued', 'pending', 'mined', 'anchored', 'refused')),
    chain_id     INTEGER NOT NULL,
    registry     TEXT NOT NULL,
    sender       TEXT NOT NULL,
    vdf_hash     BLOB NOT NULL,
    tx_hash      BLOB,
    block_number INTEGER,
    block_hash   BLOB,
    error        TEXT,
    updated_ms   INTEGER NOT NULL,
    signature    BLOB
);
CREATE TABLE IF NOT EXISTS anchor_txs (
    tx_hash      BLOB PRIMARY KEY,
    epoch        INTEGER NOT NULL REFERENCES anchors(epoch),
    nonce        INTEGER NOT NULL,
    fee_wei      INTEGER NOT NULL,
    fields       TEXT NOT NULL,
    raw          BLOB NOT NULL,
    created_ms   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS anchor_txs_epoch ON anchor_txs(epoch);
"""


class StoreError(RuntimeError):
    """The store is missing, from another schema, or inconsistent."""


class StoreDamaged(StoreError):
    """SQLite cannot read the store (truncated, overwritten, not a database)."""

    def __init__(self, path: Path, error: sqlite3.DatabaseError):
        super().__init__(f"the store {path} is damaged ({error}); `rosvd store check` says what is"
                         " readable; restore it from a backup (`rosvd store backup`)")
        self.path = path


@dataclass(frozen=True)
class Epoch:
    number: int
    state: str
    opened_ms: int
    count: int | None
    merkle_root: bytes | None
    entropy: bytes | None
    block_number: int | None
    block_hash: bytes | None
    prev_output: bytes | None
    challenge: bytes | None
    iterations: int | None
    vdf_output: bytes | None
    vdf_proof: bytes | None
    sealed_ms: int | None
    closed_ms: int | None
    #: The chain block read when the epoch took its first certificate (its certificates name it).
    opened_block_number: int | None = None
    opened_block_hash: bytes | None = None


@dataclass(frozen=True)
class StoredCertificate:
    sequence: int
    id: bytes
    encoding: bytes
    signature: bytes
    nonce: bytes
    epoch: int
    name: str


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Store:
    """One SQLite database; one instance per process."""

    def __init__(self, path: Path, create: bool = False):
        """Open the store at ``path``; only ``create`` (enrollment) makes a new one. A missing,
        empty or foreign file is refused, never replaced by an empty store: that would lose
        every certificate it held. A damaged file raises :class:`StoreDamaged`."""
        self.path = Path(path)
        if create:
            if self.path.exists():
                raise StoreError(f"{self.path} already exists; a store is created once")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.is_file():
            raise StoreError(f"the store {self.path} is missing; restore it from a backup"
                             " (`rosvd store backup` makes one): a new store would lose every certificate")
        elif self.path.stat().st_size == 0:
            raise StoreError(f"the store {self.path} is empty (0 bytes); restore it from a backup")
        try:
            self._open(create)
        except sqlite3.DatabaseError as error:
            raise StoreDamaged(self.path, error) from None

    def _open(self, create: bool) -> None:
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so every write step is
        # exactly one transaction and concurrent writers queue instead of failing mid-step.
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
        # Before anything writes (even the journal mode): a foreign database stays untouched.
        if not create and self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone() is None:
            self.db.close()
            raise StoreError(f"{self.path} is an SQLite database but not a rosvd store; left as it is")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        with self.transaction():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            version = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if version is None:
                self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(version[0]) in UPGRADABLE_SCHEMAS:
                columns = {row[1] for row in self.db.execute("PRAGMA table_info(anchors)")}
                if "signature" not in columns:
                    self.db.execute("ALTER TABLE anchors ADD COLUMN signature BLOB")
                columns = {row[1] for row in self.db.execute("PRAGMA table_info(epochs)")}
                if "opened_block_number" not in columns:
                    self.db.execute("ALTER TABLE epochs ADD COLUMN opened_block_number INTEGER")
                    self.db.execute("ALTER TABLE epochs ADD COLUMN opened_block_hash BLOB")
                self.db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))
            elif int(version[0]) != SCHEMA_VERSION:
                raise StoreError(f"{self.path}: schema {version[0]}, this rosvd reads {SCHEMA_VERSION}")
            if self.db.execute("SELECT 1 FROM epochs WHERE state='open'").fetchone() is None:
                last = self.db.execute("SELECT MAX(number) FROM epochs").fetchone()[0] or 0
                self.db.execute("INSERT INTO epochs (number, state, opened_ms) VALUES (?, 'open', ?)",
                                (last + 1, now_ms()))

    def close(self) -> None:
        self.db.close()

    def transaction(self):
        return _Transaction(self.db)

    # -- meta ---------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- certificates -------------------------------------------------------------------
    def next_sequence(self) -> int:
        return (self.db.execute("SELECT MAX(sequence) FROM certificates").fetchone()[0] or 0) + 1

    def insert_certificates(self, rows: list[tuple]) -> None:
        """Rows of (sequence, id, encoding, signature, nonce, content_hash, fingerprint,
        epoch, name), durable when this returns. Refuses rows for an epoch not open."""
        with self.transaction():
            open_epoch = self.open_epoch()
            if any(row[7] != open_epoch.number for row in rows):
                raise StoreError("certificates must belong to the open epoch")
            self.db.executemany("INSERT INTO certificates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def certificates_of(self, epoch: int) -> list[StoredCertificate]:
        rows = self.db.execute(
            "SELECT sequence, id, encoding, signature, nonce, epoch, name FROM certificates"
            " WHERE epoch=? ORDER BY sequence", (epoch,)).fetchall()
        return [StoredCertificate(*row) for row in rows]

    def certificate_ids(self, epoch: int) -> list[bytes]:
        return [row[0] for row in self.db.execute(
            "SELECT id FROM certificates WHERE epoch=? ORDER BY sequence", (epoch,))]

    def find_by_content(self, content_hash: bytes) -> list[StoredCertificate]:
        rows = self.db.execute(
            "SELECT sequence, id, encoding, signature, nonce, epoch, name FROM certificates"
            " WHERE content_hash=? ORDER BY sequence", (content_hash,)).fetchall()
        return [StoredCertificate(*row) for row in rows]

    def certificate_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM certificates").fetchone()[0]

    def certificate_by_id(self, certificate_id: bytes) -> StoredCertificate | None:
        row = self.db.execute(
            "SELECT sequence, id, encoding, signature, nonce, epoch, name FROM certificates WHERE id=?",
            (certificate_id,)).fetchone()
        return None if row is None else StoredCertificate(*row)

    def certificates_by_sequence(self, sequences: list[int]) -> list[StoredCertificate]:
        """The certificates with these sequence numbers, in the order given (unknown ones left out)."""
        found = {}
        for start in range(0, len(sequences), 500):  # SQLite's bound-parameter limit
            chunk = sequences[start:start + 500]
            rows = self.db.execute(
                "SELECT sequence, id, encoding, signature, nonce, epoch, name FROM certificates"
                f" WHERE sequence IN ({', '.join('?' * len(chunk))})", chunk).fetchall()
            found.update((row[0], StoredCertificate(*row)) for row in rows)
        return [found[sequence] for sequence in sequences if sequence in found]

    # -- epochs -------------------------------------------------------------------------
    def _epoch(self, row) -> Epoch | None:
        return None if row is None else Epoch(*row)

    def open_epoch(self) -> Epoch:
        epoch = self._epoch(self.db.execute("SELECT * FROM epochs WHERE state='open'").fetchone())
        if epoch is None:
            raise StoreError(f"{self.path}: no open epoch")
        return epoch

    def epoch(self, number: int) -> Epoch | None:
        return self._epoch(self.db.execute("SELECT * FROM epochs WHERE number=?", (number,)).fetchone())

    def epochs(self, state: str | None = None) -> list[Epoch]:
        if state is None:
            rows = self.db.execute("SELECT * FROM epochs ORDER BY number").fetchall()
        else:
            rows = self.db.execute("SELECT * FROM epochs WHERE state=? ORDER BY number", (state,)).fetchall()
        return [Epoch(*row) for row in rows]

    def epochs_page(self, after: int, limit: int) -> list[Epoch]:
        """Up to ``limit`` epochs numbered above ``after``, in order (keyset paging)."""
        rows = self.db.execute("SELECT * FROM epochs WHERE number > ? ORDER BY number LIMIT ?",
                               (after, limit)).fetchall()
        return [Epoch(*row) for row in rows]

    def count_in(self, epoch: int) -> int:
        return self.db.execute("SELECT COUNT(*) FROM certificates WHERE epoch=?", (epoch,)).fetchone()[0]

    def seal(self, number: int, *, count: int, merkle_root: bytes, entropy: bytes, block_number: int,
             block_hash: bytes, prev_output: bytes, challenge: bytes, iterations: int) -> None:
        """Fix an open epoch's membership and VDF input, and open the next, atomically."""
        with self.transaction():
            epoch = self.open_epoch()
            if epoch.number != number:
                raise StoreError(f"epoch {number} is not the open epoch ({epoch.number} is)")
            if self.count_in(number) != count:
                raise StoreError(f"epoch {number} changed while sealing")
            self.db.execute(
                "UPDATE epochs SET state='sealed', count=?, merkle_root=?, entropy=?, block_number=?,"
                " block_hash=?, prev_output=?, challenge=?, iterations=?, sealed_ms=? WHERE number=?",
                (count, merkle_root, entropy, block_number, block_hash, prev_output, challenge,
                 iterations, now_ms(), number))
            self.db.execute("INSERT INTO epochs (number, state, opened_ms) VALUES (?, 'open', ?)",
                            (number + 1, now_ms()))

    def set_opening_block(self, number: int, block_number: int, block_hash: bytes) -> None:
        """Record the open epoch's opening block, once (before its first certificate)."""
        with self.transaction():
            updated = self.db.execute("UPDATE epochs SET opened_block_number=?, opened_block_hash=?"
                                      " WHERE number=? AND state='open' AND opened_block_hash IS NULL",
                                      (block_number, block_hash, number))
            if updated.rowcount != 1:
                raise StoreError(f"epoch {number} is not open or already has its opening block")

    def close_epoch(self, number: int, vdf_output: bytes, vdf_proof: bytes) -> None:
        with self.transaction():
            epoch = self.epoch(number)
            if epoch is None or epoch.state != "sealed":
                raise StoreError(f"epoch {number} is not sealed")
            self.db.execute("UPDATE epochs SET state='closed', vdf_output=?, vdf_proof=?, closed_ms=?"
                            " WHERE number=?", (vdf_output, vdf_proof, now_ms(), number))


    # -- anchors ------------------------------------------------------------------------
    def anchor(self, epoch: int) -> Anchor | None:
        row = self.db.execute(f"SELECT {_ANCHOR_COLUMNS} FROM anchors WHERE epoch=?", (epoch,)).fetchone()
        return None if row is None else Anchor(*row)

    def anchors(self, *states: str) -> list[Anchor]:
        """Anchor rows in epoch order, all or those in ``states``."""
        query = f"SELECT {_ANCHOR_COLUMNS} FROM anchors"
        if states:
            query += f" WHERE state IN ({', '.join('?' * len(states))})"
        return [Anchor(*row) for row in self.db.execute(query + " ORDER BY epoch", states)]

    def unanchored_closed_epochs(self) -> list[Epoch]:
        """Closed epochs the anchoring service has not taken up yet, oldest first."""
        rows = self.db.execute("SELECT epochs.* FROM epochs"
                               " LEFT JOIN anchors ON anchors.epoch = epochs.number"
                               " WHERE epochs.state='closed' AND anchors.epoch IS NULL ORDER BY number")
        return [Epoch(*row) for row in rows]

    def put_anchor(self, epoch: int, state: str, *, chain_id: int, registry: str, sender: str,
                   vdf_hash: bytes, signature: bytes | None = None) -> None:
        """Take up ``epoch`` as ``queued`` (to be sent, with the device's anchor signature)
        or ``empty`` (nothing to anchor)."""
        with self.transaction():
            self.db.execute("INSERT INTO anchors (epoch, state, chain_id, registry, sender, vdf_hash,"
                            " updated_ms, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (epoch, state, chain_id, registry, sender, vdf_hash, now_ms(), signature))

    def add_anchor_tx(self, tx: AnchorTx) -> None:
        """Record a signed transaction; call before broadcasting it."""
        with self.transaction():
            self.db.execute("INSERT INTO anchor_txs VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (tx.tx_hash, tx.epoch, tx.nonce, tx.fee_wei, tx.fields, tx.raw, tx.created_ms))
            self.db.execute("UPDATE anchors SET state='pending', tx_hash=NULL, block_number=NULL,"
                            " block_hash=NULL, error=NULL, updated_ms=? WHERE epoch=?", (now_ms(), tx.epoch))

    def anchor_txs(self, epoch: int) -> list[AnchorTx]:
        """Every transaction signed for ``epoch``, oldest first."""
        rows = self.db.execute("SELECT epoch, nonce, fee_wei, tx_hash, fields, raw, created_ms"
                               " FROM anchor_txs WHERE epoch=? ORDER BY created_ms, rowid", (epoch,))
        return [AnchorTx(*row) for row in rows]

    def anchor_targets(self) -> list[tuple[int, str]]:
        """The (chain id, registry) pairs this store's epochs were anchored to."""
        return list(self.db.execute("SELECT DISTINCT chain_id, registry FROM anchors"))

    def highest_pending_nonce(self, sender: str) -> int | None:
        """The highest nonce signed for an epoch still ``pending`` by ``sender`` (None if none)."""
        return self.db.execute(
            "SELECT MAX(anchor_txs.nonce) FROM anchor_txs JOIN anchors ON anchors.epoch = anchor_txs.epoch"
            " WHERE anchors.state='pending' AND anchors.sender=?", (sender,)).fetchone()[0]

    def update_anchor(self, epoch: int, state: str, *, tx_hash: bytes | None = None,
                      block_number: int | None = None, block_hash: bytes | None = None,
                      error: str | None = None) -> None:
        with self.transaction():
            updated = self.db.execute(
                "UPDATE anchors SET state=?, tx_hash=?, block_number=?, block_hash=?, error=?, updated_ms=?"
                " WHERE epoch=?", (state, tx_hash, block_number, block_hash, error, now_ms(), epoch))
            if updated.rowcount != 1:
                raise StoreError(f"epoch {epoch} has no anchor record")


_ANCHOR_COLUMNS = ("epoch, state, chain_id, registry, sender, vdf_hash, tx_hash, block_number, block_hash,"
                   " error, updated_ms, signature")


@dataclass(frozen=True)
class Anchor:
    """The anchoring service's record of one closed epoch."""

    epoch: int
    state: str            #: empty | queued | pending | mined | anchored | refused
    chain_id: int
    registry: str
    sender: str
    vdf_hash: bytes
    tx_hash: bytes | None     #: the transaction that mined (mined, anchored)
    block_number: int | None
    block_hash: bytes | None
    error: str | None         #: why it was refused
    updated_ms: int
    signature: bytes | None = None  #: the device's EIP-712 signature of the anchor


@dataclass(frozen=True)
class AnchorTx:
    """One signed anchor transaction, kept so it can be re-sent byte for byte."""

    epoch: int
    nonce: int
    fee_wei: int          #: gasPrice, or maxFeePerGas for EIP-1559
    tx_hash: bytes
    fields: str           #: the unsigned transaction as JSON, re-signed with a higher fee
    raw: bytes
    created_ms: int


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error); not re-entrant-safe
    across threads, re-entrant within one (inner blocks join the outer transaction)."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db
        self.outer = False

    def __enter__(self):
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
            self.outer = True
        return self.db

    def __exit__(self, kind, value, traceback):
        if self.outer:
            self.db.execute("ROLLBACK" if kind else "COMMIT")
        return False
