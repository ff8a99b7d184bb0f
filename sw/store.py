"""Durable storage of certificates and epochs: SQLite in WAL mode, or PostgreSQL.

Backends (docs/storage.md): by default one SQLite file in the appliance home; given a
``postgresql://`` URL (``Store(path, url=...)``), one schema of a PostgreSQL database
through psycopg 3. Both run the same schema and the same statements, written in SQLite's
dialect; :class:`_PostgresConnection` translates the few differences (placeholders,
BLOB/BYTEA, 64-bit integers) and ``BEGIN IMMEDIATE`` becomes ``BEGIN`` plus a
transaction-scoped advisory lock on the store's schema, so writers queue exactly as they
do on SQLite. The SQLite path is the plain :mod:`sqlite3` connection, untouched.

Durability: ``synchronous=FULL`` with WAL, so a transaction that has committed survives
a crash of the process or of the machine; on PostgreSQL every session sets
``synchronous_commit=on`` (the server's ``fsync`` and ``full_page_writes`` must stay on:
``rosvd store check`` says when they are not). Every state change is one transaction:
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

import functools
import re
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 3
#: Older schemas this one extends (opened stores are upgraded): 1 lacks the anchor
#: tables, 2 the anchors' device signature and the epochs' opening block.
UPGRADABLE_SCHEMAS = (1, 2)
#: Waiting for another writer (a second `rosvd certify`) before giving up, in seconds.
BUSY_TIMEOUT_S = 30
#: Query parameters of a PostgreSQL URL that messages never show.
SECRET_PARAMETERS = frozenset({"password", "sslpassword"})
#: URL schemes that select the PostgreSQL backend.
POSTGRES_SCHEMES = ("postgresql", "postgres")
#: First key of the advisory lock a PostgreSQL write transaction takes (the second is the
#: hash of the store's schema): the analogue of SQLite's ``BEGIN IMMEDIATE`` write lock.
POSTGRES_LOCK_CLASS = 0x524F5356  # "ROSV"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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
CREATE TABLE IF NOT EXISTS epoch_trees (
    epoch        INTEGER PRIMARY KEY REFERENCES epochs(number),
    nodes        BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS match_descriptors (
    sequence     INTEGER PRIMARY KEY REFERENCES certificates(sequence),
    descriptor   BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS region_fingerprints (
    sequence     INTEGER PRIMARY KEY REFERENCES certificates(sequence),
    fingerprint  BLOB NOT NULL,
    descriptor   BLOB NOT NULL
);
"""
#: Tables of fingerprint codes a :class:`~rosvd.fingerprint_index.FingerprintIndex` serves
#: (keyed by certificate sequence, written with the certificate): the content's own, and
#: its central region's (rosvd.fingerprint_regions).
CODE_TABLES = ("certificates", "region_fingerprints")


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


class StoreUnavailable(StoreError):
    """The PostgreSQL server cannot be reached, refused the connection, or a lock wait
    timed out (the analogue of SQLite's busy timeout)."""


def is_postgres_url(url: str | None) -> bool:
    return url is not None and urllib.parse.urlsplit(url).scheme in POSTGRES_SCHEMES


@dataclass(frozen=True)
class PostgresTarget:
    """A ``postgresql://`` URL split into what libpq reads and the store's schema (the
    URL's own ``schema`` parameter, default ``public``; libpq never sees it)."""

    conninfo: str
    schema: str
    shown: str   #: the URL with any password replaced by ``***``, for messages

    @classmethod
    def parse(cls, url: str) -> PostgresTarget:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in POSTGRES_SCHEMES:
            raise StoreError(f"{url!r} is not a PostgreSQL URL (postgresql://user@host/database)")
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        schemas = [value for key, value in query if key == "schema"]
        schema = schemas[-1] if schemas else "public"
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise StoreError(f"schema {schema!r}: give a lower-case SQL name (letters, digits, _)")
        rest = urllib.parse.urlencode([(key, value) for key, value in query if key != "schema"])
        conninfo = urllib.parse.urlunsplit(parts._replace(query=rest))
        netloc = parts.netloc
        if parts.password is not None:
            netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
        # libpq takes secrets as query parameters too (?password=, ?sslpassword=): masked alike.
        shown_query = urllib.parse.urlencode(
            [(key, "***" if key in SECRET_PARAMETERS else value) for key, value in query], safe="*")
        shown = urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=shown_query))
        return cls(conninfo, schema, shown)


def _session_lost(db: _PostgresConnection) -> bool:
    """The server ended this session (restart, failover, idle timeout): psycopg marks it."""
    return bool(db.connection.closed or db.connection.broken)


def connect_postgres(url: str, *, read_only: bool = False) -> _PostgresConnection:
    """A session on the store's schema: ``search_path`` set to it, ``synchronous_commit=on``
    (a commit returns once its WAL is flushed), lock waits bounded by BUSY_TIMEOUT_S.
    ``read_only`` sessions refuse every write (``check``, the fingerprint index)."""
    import psycopg
    from psycopg import sql
    target = PostgresTarget.parse(url)
    try:
        connection = psycopg.connect(target.conninfo, autocommit=True, connect_timeout=BUSY_TIMEOUT_S)
    except psycopg.Error as error:
        raise StoreUnavailable(f"the PostgreSQL store {target.shown} cannot be reached: {error}") from None
    connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(target.schema)))
    connection.execute("SET synchronous_commit TO on")
    connection.execute(f"SET lock_timeout TO '{BUSY_TIMEOUT_S}s'")
    connection.execute("SET default_transaction_isolation TO 'read committed'")
    if read_only:
        connection.execute("SET default_transaction_read_only TO on")
    return _PostgresConnection(connection, target)


def refuse_existing_postgres_store(url: str) -> None:
    """Raise unless the server at ``url`` answers and its schema holds no store (yet)."""
    db = connect_postgres(url, read_only=True)
    try:
        if _has_meta(db):
            raise StoreError(f"{db.target.shown} already holds a store in schema {db.target.schema};"
                             " a store is created once (give another ?schema=)")
    finally:
        db.close()


def _has_meta(db: _PostgresConnection) -> bool:
    return db.execute("SELECT 1 FROM information_schema.tables WHERE table_schema=? AND table_name='meta'",
                      (db.target.schema,)).fetchone() is not None


class Store:
    """One store (an SQLite file, or a schema of a PostgreSQL database); one instance per
    thread that uses it."""

    def __init__(self, path: Path, create: bool = False, *, url: str | None = None):
        """Open the store at ``path``; only ``create`` (enrollment) makes a new one. A missing,
        empty or foreign file is refused, never replaced by an empty store: that would lose
        every certificate it held. A damaged file raises :class:`StoreDamaged`.

        With a PostgreSQL ``url`` the data lives in that database's schema and ``path`` only
        names the local files kept beside the store (``<path>.fpindex``, the anchoring
        lock); a schema without a store is refused unless ``create``, one with a store is
        refused if ``create``."""
        self.path = Path(path)
        self.url = url
        if url is not None:
            self.location = PostgresTarget.parse(url).shown
            self._open_postgres(create)
            return
        self.location = str(self.path)
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

    @property
    def dialect(self) -> str:
        return "sqlite" if self.url is None else "postgresql"

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
        self._set_up(SCHEMA)

    def _open_postgres(self, create: bool) -> None:
        from psycopg import sql
        self.db = connect_postgres(self.url)
        schema = self.db.target.schema
        try:
            with self.transaction():
                exists = _has_meta(self.db)
                if create and exists:
                    raise StoreError(f"{self.location} already holds a store in schema {schema};"
                                     " a store is created once (give another ?schema=)")
                if not create and not exists:
                    raise StoreError(f"{self.location} has no rosvd store in schema {schema}: a new store"
                                     " would lose every certificate (enroll creates it; restore it with"
                                     " pg_restore)")
                if create:
                    self.db.connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                        sql.Identifier(schema)))
                self._set_up(_postgres_schema())
        except BaseException:
            self.db.close()
            raise

    def _columns(self, table: str) -> set[str]:
        if self.url is None:
            return {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
        return {row[0] for row in self.db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema=current_schema()"
            " AND table_name=?", (table,))}

    def _ddl(self, statement: str) -> str:
        return statement if self.url is None else _postgres_types(statement)

    def _set_up(self, schema: str) -> None:
        """Create what is missing, upgrade an older schema, open an epoch if none is: one transaction."""
        with self.transaction():
            for statement in schema.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            version = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if version is None:
                self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(version[0]) in UPGRADABLE_SCHEMAS:
                if "signature" not in self._columns("anchors"):
                    self.db.execute(self._ddl("ALTER TABLE anchors ADD COLUMN signature BLOB"))
                if "opened_block_number" not in self._columns("epochs"):
                    self.db.execute(self._ddl("ALTER TABLE epochs ADD COLUMN opened_block_number INTEGER"))
                    self.db.execute(self._ddl("ALTER TABLE epochs ADD COLUMN opened_block_hash BLOB"))
                self.db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))
            elif int(version[0]) != SCHEMA_VERSION:
                raise StoreError(f"{self.location}: schema {version[0]}, this rosvd reads {SCHEMA_VERSION}")
            if self.db.execute("SELECT 1 FROM epochs WHERE state='open'").fetchone() is None:
                last = self.db.execute("SELECT MAX(number) FROM epochs").fetchone()[0] or 0
                self.db.execute("INSERT INTO epochs (number, state, opened_ms) VALUES (?, 'open', ?)",
                                (last + 1, now_ms()))

    def close(self) -> None:
        self.db.close()

    def lost(self) -> bool:
        """True once the PostgreSQL server has ended this store's session (never for SQLite)."""
        return self.url is not None and _session_lost(self.db)

    def transaction(self):
        return _Transaction(self.db) if self.url is None else _PostgresTransaction(self.db)

    # -- meta ---------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.db.execute("INSERT INTO meta VALUES (?, ?)"
                            " ON CONFLICT (key) DO UPDATE SET value=excluded.value", (key, value))

    # -- certificates -------------------------------------------------------------------
    def next_sequence(self) -> int:
        return (self.db.execute("SELECT MAX(sequence) FROM certificates").fetchone()[0] or 0) + 1

    def insert_certificates(self, rows: list[tuple], descriptors: list[tuple[int, bytes]] = (),
                            regions: list[tuple[int, bytes, bytes]] = ()) -> None:
        """Rows of (sequence, id, encoding, signature, nonce, content_hash, fingerprint,
        epoch, name), durable when this returns, in the same transaction as the match
        descriptors (sequence, descriptor) and the region fingerprints (sequence,
        fingerprint, descriptor) of those that have them. Refuses rows for an epoch not
        open, and descriptors or regions of certificates not in ``rows``."""
        with self.transaction():
            open_epoch = self.open_epoch()
            if any(row[7] != open_epoch.number for row in rows):
                raise StoreError("certificates must belong to the open epoch")
            sequences = {row[0] for row in rows}
            if not {item[0] for item in [*descriptors, *regions]} <= sequences:
                raise StoreError("a match descriptor or region must come with its certificate")
            self.db.executemany("INSERT INTO certificates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            if descriptors:
                self.db.executemany("INSERT INTO match_descriptors VALUES (?, ?)", list(descriptors))
            if regions:
                self.db.executemany("INSERT INTO region_fingerprints VALUES (?, ?, ?)", list(regions))

    def _by_sequence(self, select: str, sequences: list[int]) -> list[tuple]:
        """The rows of ``select`` (a ``SELECT ... FROM table``) whose sequence is one of these,
        asked in chunks of SQLite's bound-parameter limit; in no particular order."""
        rows = []
        for start in range(0, len(sequences), 500):
            chunk = sequences[start:start + 500]
            rows += self.db.execute(f"{select} WHERE sequence IN ({', '.join('?' * len(chunk))})",
                                    chunk).fetchall()
        return rows

    def region_fingerprints(self, sequences: list[int]) -> dict[int, bytes]:
        """The region fingerprints kept for these certificates (sequence -> fingerprint)."""
        return {row[0]: bytes(row[1]) for row in self._by_sequence(
            "SELECT sequence, fingerprint FROM region_fingerprints", sequences)}

    def match_descriptors(self, sequences: list[int], regions: bool = False) -> dict[int, bytes]:
        """The match descriptors kept for these certificates (sequence -> descriptor), of the
        content or (``regions``) of its central region; a certificate without one (a plain
        file, or issued before they were kept) is absent. A scheme-2 certificate signs their
        hash; the service's confirmation stage reads them (rosvd.match)."""
        table = "region_fingerprints" if regions else "match_descriptors"
        return {row[0]: bytes(row[1]) for row in self._by_sequence(
            f"SELECT sequence, descriptor FROM {table}", sequences)}

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
        found = {row[0]: StoredCertificate(*row) for row in self._by_sequence(
            "SELECT sequence, id, encoding, signature, nonce, epoch, name FROM certificates", sequences)}
        return [found[sequence] for sequence in sequences if sequence in found]

    # -- epochs -------------------------------------------------------------------------
    def _epoch(self, row) -> Epoch | None:
        return None if row is None else Epoch(*row)

    def open_epoch(self) -> Epoch:
        epoch = self._epoch(self.db.execute("SELECT * FROM epochs WHERE state='open'").fetchone())
        if epoch is None:
            raise StoreError(f"{self.location}: no open epoch")
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
             block_hash: bytes, prev_output: bytes, challenge: bytes, iterations: int,
             tree_nodes: bytes | None = None) -> None:
        """Fix an open epoch's membership and VDF input, and open the next, atomically;
        ``tree_nodes`` (the epoch's Merkle tree, every node) is kept with it for bundles."""
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
            if tree_nodes is not None:
                self.db.execute("INSERT INTO epoch_trees VALUES (?, ?)", (number, tree_nodes))

    def epochs_without_tree(self) -> list[int]:
        """Sealed or closed epochs whose Merkle tree the store does not keep (sealed before
        it kept trees)."""
        return [row[0] for row in self.db.execute(
            "SELECT number FROM epochs WHERE state IN ('sealed', 'closed') AND number NOT IN"
            " (SELECT epoch FROM epoch_trees) ORDER BY number")]

    def epoch_tree_nodes(self, number: int) -> bytes | None:
        """Every node of a sealed epoch's Merkle tree (``StandardMerkleTree.tree``, joined),
        if the store keeps it (epochs sealed before it did have none)."""
        row = self.db.execute("SELECT nodes FROM epoch_trees WHERE epoch=?", (number,)).fetchone()
        return None if row is None else bytes(row[0])

    def put_epoch_tree(self, number: int, tree_nodes: bytes) -> None:
        """Keep the tree of an epoch sealed before the store kept trees."""
        with self.transaction():
            epoch = self.epoch(number)
            if epoch is None or epoch.state == "open":
                raise StoreError(f"epoch {number} is not sealed: its tree is not fixed yet")
            self.db.execute("INSERT INTO epoch_trees VALUES (?, ?) ON CONFLICT (epoch) DO NOTHING",
                            (number, tree_nodes))

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
            self.db.execute("INSERT INTO anchor_txs (tx_hash, epoch, nonce, fee_wei, fields, raw, created_ms)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?)",
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


class CertificateReader:
    """Read-only access to the certificates' sequences, ids and fingerprints, for a reader
    that must never write (the fingerprint index): ``query_only`` on SQLite, a read-only
    session on PostgreSQL. One instance per thread."""

    def __init__(self, path: Path, url: str | None = None):
        self.url = url
        if url is None:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
            self.db.execute("PRAGMA query_only=1")
        else:
            self.db = connect_postgres(url, read_only=True)

    def lost(self) -> bool:
        """True once the PostgreSQL server has ended this reader's session (never for SQLite)."""
        return self.url is not None and _session_lost(self.db)

    def top(self) -> int:
        """The highest sequence stored (0 if none)."""
        return self.db.execute("SELECT MAX(sequence) FROM certificates").fetchone()[0] or 0

    def certificate_id(self, sequence: int) -> bytes | None:
        row = self.db.execute("SELECT id FROM certificates WHERE sequence=?", (sequence,)).fetchone()
        return None if row is None else bytes(row[0])

    def fingerprints(self, after: int, upto: int, size: int, length: int, table: str = "certificates"):
        """Batches of at most ``size`` (sequence, fingerprint) rows of ``table`` (one of
        :data:`CODE_TABLES`) with ``after < sequence <= upto`` in sequence order, leaving out
        fingerprints not ``length`` bytes or all zero."""
        if table not in CODE_TABLES:
            raise ValueError(f"no fingerprint table {table!r}; known: {', '.join(CODE_TABLES)}")
        if self.url is None:
            cursor = self.db.execute(
                f"SELECT sequence, fingerprint FROM {table} WHERE sequence > ? AND sequence <= ?"
                " AND fingerprint != zeroblob(?) AND length(fingerprint) = ? ORDER BY sequence",
                (after, upto, length, length))
            while rows := cursor.fetchmany(size):
                yield rows
            return
        # a server-side cursor (it needs a transaction) streams a catch-up of millions of rows
        connection = self.db.connection
        with connection.transaction(), connection.cursor(name="rosvd_fingerprints", binary=True) as cursor:
            cursor.execute(f"SELECT sequence, fingerprint FROM {table} WHERE sequence > %s"
                           " AND sequence <= %s AND fingerprint != %s AND length(fingerprint) = %s"
                           " ORDER BY sequence",
                           (after, upto, bytes(length), length))
            while rows := cursor.fetchmany(size):
                yield rows

    def close(self) -> None:
        self.db.close()


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


class _PostgresTransaction(_Transaction):
    """``BEGIN`` and the store's advisory lock, held to ``COMMIT`` or ``ROLLBACK``: writers
    to one store queue, as on SQLite, so a step that reads then writes (the open epoch and
    its count, the next sequence) sees no other writer's step half done. Readers never wait."""

    def __enter__(self):
        if not self.db.in_transaction:
            self.db.execute("BEGIN")
            try:
                # the schema's name, not current_schema(): NULL until the schema exists,
                # and the lock function returns NULL on NULL without locking anything
                self.db.execute("SELECT pg_advisory_xact_lock(?, hashtext(?))",
                                (POSTGRES_LOCK_CLASS, self.db.target.schema))
            except BaseException:
                self.db.rollback()
                raise
            self.outer = True
        return self.db

    def __exit__(self, kind, value, traceback):
        if self.outer and kind is not None:
            self.db.rollback()   # a broken connection must not hide the error that broke it
            return False
        return super().__exit__(kind, value, traceback)


@functools.cache
def _postgres_sql(statement: str) -> str:
    """A statement of the store (SQLite dialect) for psycopg: ``?`` -> ``%s``. The store's
    statements hold no ``?`` or ``%`` inside literals (checked by the tests)."""
    return statement.replace("%", "%%").replace("?", "%s")


def _postgres_types(statement: str) -> str:
    return re.sub(r"\bBLOB\b", "BYTEA", re.sub(r"\bINTEGER\b", "BIGINT", statement))


@functools.cache
def _postgres_schema() -> str:
    """SCHEMA for PostgreSQL: 64-bit integers (SQLite's INTEGER is 64-bit), BYTEA for BLOB,
    and an explicit ``rowid`` on anchor_txs (SQLite's implicit one orders them)."""
    schema = _postgres_types(SCHEMA)
    anchor_txs = "    created_ms   BIGINT NOT NULL\n);\nCREATE INDEX IF NOT EXISTS anchor_txs_epoch"
    if anchor_txs not in schema:
        raise AssertionError("SCHEMA's anchor_txs changed: update _postgres_schema")
    return schema.replace(anchor_txs, anchor_txs.replace("NOT NULL\n", "NOT NULL,\n    rowid BIGSERIAL\n"))


class _PostgresConnection:
    """A psycopg 3 connection (autocommit: transactions are the store's own ``BEGIN``) that
    takes the store's statements as :mod:`sqlite3` does: ``execute`` and ``executemany``
    with ``?`` placeholders, results as tuples, BYTEA as bytes. A lost server or a lock
    wait over BUSY_TIMEOUT_S raises :class:`StoreUnavailable`."""

    def __init__(self, connection, target: PostgresTarget):
        import psycopg
        self.connection = connection
        self.target = target
        self._unavailable = psycopg.OperationalError
        self._idle = psycopg.pq.TransactionStatus.IDLE

    @property
    def in_transaction(self) -> bool:
        return self.connection.info.transaction_status != self._idle

    def execute(self, statement: str, parameters=()):
        try:
            return self.connection.execute(_postgres_sql(statement), parameters)
        except self._unavailable as error:
            raise StoreUnavailable(f"the PostgreSQL store {self.target.shown}: {error}") from error

    def executemany(self, statement: str, rows):
        try:
            cursor = self.connection.cursor()
            cursor.executemany(_postgres_sql(statement), rows)
            return cursor
        except self._unavailable as error:
            raise StoreUnavailable(f"the PostgreSQL store {self.target.shown}: {error}") from error

    def rollback(self) -> None:
        if not self.connection.closed and self.in_transaction:
            try:
                self.connection.execute("ROLLBACK")
            except self._unavailable:
                pass    # the server ends the transaction with the session

    def close(self) -> None:
        self.connection.close()
