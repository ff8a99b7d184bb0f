"""Looking after a store: an integrity check that never writes, and an online backup.

``check`` opens the database read-only, so a damaged store is examined as it is: SQLite's
own ``integrity_check`` and ``foreign_key_check``, then the invariants the pipeline relies
on (one open epoch, epochs numbered 1..N, sealed epochs' counts match their certificates,
closed ones carry a VDF output). ``backup`` copies a live store with SQLite's backup API
(consistent even while another process certifies), into a file that did not exist, checked
before it is named as done.

A PostgreSQL store (``url``) is checked through a read-only session: the same invariants,
plus the server settings a durable commit depends on (``fsync``, ``full_page_writes``);
PostgreSQL enforces its foreign keys on every write and has no ``integrity_check`` (its
``amcheck`` extension is the operator's). Its backup is ``pg_dump``'s job: ``backup`` says so.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .store import (
    SCHEMA_VERSION,
    UPGRADABLE_SCHEMAS,
    PostgresTarget,
    Store,
    StoreError,
    StoreUnavailable,
    connect_postgres,
)

#: Problems listed at most (a badly damaged file can yield thousands).
MAX_PROBLEMS = 50


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)


def _invariants(db: sqlite3.Connection) -> list[str]:
    problems = []
    schema = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    readable = {str(version) for version in (SCHEMA_VERSION, *UPGRADABLE_SCHEMAS)}
    if schema is None or schema[0] not in readable:
        problems.append(f"schema {schema and schema[0]}: this rosvd reads {sorted(readable)}")
    numbers = [row[0] for row in db.execute("SELECT number FROM epochs ORDER BY number")]
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"epochs are not numbered 1..{len(numbers)} without gaps")
    opened = db.execute("SELECT COUNT(*) FROM epochs WHERE state='open'").fetchone()[0]
    if opened != 1:
        problems.append(f"{opened} open epochs (exactly one is open at any time)")
    for number, count, stored in db.execute(
            "SELECT e.number, e.count, (SELECT COUNT(*) FROM certificates c WHERE c.epoch = e.number)"
            " FROM epochs e WHERE e.state != 'open' ORDER BY e.number"):
        if count != stored:
            problems.append(f"epoch {number} was sealed with {count} certificates; the store holds {stored}")
    for (number,) in db.execute("SELECT number FROM epochs WHERE state != 'open' AND merkle_root IS NULL"):
        problems.append(f"epoch {number} is sealed without a Merkle root")
    for (number,) in db.execute("SELECT number FROM epochs WHERE state='closed' AND vdf_output IS NULL"):
        problems.append(f"epoch {number} is closed without a VDF output")
    return problems


def _check_postgres(url: str) -> dict:
    target = PostgresTarget.parse(url)
    report = {"store": target.shown, "ok": False, "certificates": None, "epochs": None, "problems": []}
    try:
        db = connect_postgres(url, read_only=True)
    except StoreUnavailable as error:
        report["problems"] = [f"unreachable: {error}"]
        return report
    try:
        tables = {row[0] for row in db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema=?", (target.schema,))}
        if not {"meta", "certificates", "epochs"} <= tables:
            problems = [f"not a rosvd store: schema {target.schema}'s tables are {sorted(tables)}"]
        else:
            problems = [f"the server runs with {setting}=off: a commit may not survive a crash of the machine"
                        for setting in ("fsync", "full_page_writes")
                        if db.execute(f"SELECT current_setting('{setting}')").fetchone()[0] != "on"]
            problems += _invariants(db)
            report["certificates"] = db.execute("SELECT COUNT(*) FROM certificates").fetchone()[0]
            report["epochs"] = db.execute("SELECT COUNT(*) FROM epochs").fetchone()[0]
    finally:
        db.close()
    report["problems"] = _capped(problems)
    report["ok"] = not problems
    return report


def _capped(problems: list[str]) -> list[str]:
    return problems[:MAX_PROBLEMS] + ([f"... {len(problems) - MAX_PROBLEMS} more"]
                                      if len(problems) > MAX_PROBLEMS else [])


def check(path: Path, url: str | None = None) -> dict:
    """What is wrong with the store at ``path`` (or the PostgreSQL ``url``; ``ok`` when
    nothing), without writing to it."""
    if url is not None:
        return _check_postgres(url)
    path = Path(path)
    report = {"store": str(path), "ok": False, "certificates": None, "epochs": None, "problems": []}
    if not path.is_file() or path.stat().st_size == 0:
        report["problems"] = ["missing" if not path.is_file() else "empty (0 bytes)"]
        return report
    try:
        db = _read_only(path)
        try:
            problems = [row[0] for row in db.execute("PRAGMA integrity_check")]
            problems = [] if problems == ["ok"] else problems
            problems += [f"row {row[1]} of {row[0]} refers to a missing {row[2]}"
                         for row in db.execute("PRAGMA foreign_key_check")]
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if {"meta", "certificates", "epochs"} <= tables:
                problems += _invariants(db)
                report["certificates"] = db.execute("SELECT COUNT(*) FROM certificates").fetchone()[0]
                report["epochs"] = db.execute("SELECT COUNT(*) FROM epochs").fetchone()[0]
            else:
                problems.append(f"not a rosvd store: its tables are {sorted(tables)}")
        finally:
            db.close()
    except sqlite3.DatabaseError as error:
        problems = [f"unreadable: {error}"]
    report["problems"] = _capped(problems)
    report["ok"] = not problems
    return report


def backup(path: Path, destination: Path, url: str | None = None) -> dict:
    """Copy the store at ``path`` to ``destination`` (which must not exist), consistently even
    while it is written; the copy is checked before it takes its name. A PostgreSQL store
    (``url``) is refused with the ``pg_dump`` command that backs it up."""
    if url is not None:
        target = PostgresTarget.parse(url)
        raise StoreError(f"{target.shown} is a PostgreSQL store: back it up with the server's tools,"
                         f" e.g. pg_dump --format=custom --schema={target.schema} --file=DEST"
                         " 'postgresql://...' (the URL without ?schema=)")
    destination = Path(destination)
    if destination.exists():
        raise StoreError(f"{destination} already exists; a backup never overwrites a file")
    if not destination.parent.is_dir():
        raise StoreError(f"{destination.parent} is not a directory")
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)  # left by an interrupted backup: never a finished one
    source = Store(path)
    try:
        target = sqlite3.connect(partial)
        try:
            source.db.backup(target)
        finally:
            target.close()
    finally:
        source.close()
    report = check(partial)
    if not report["ok"]:
        partial.unlink()
        raise StoreError(f"the backup of {path} does not check: {report['problems']}")
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, destination)
    return {"backup": str(destination), "bytes": destination.stat().st_size,
            "certificates": report["certificates"], "epochs": report["epochs"]}
