"""Opening a store written by an older rosvd: schema 1 gains the anchoring tables."""
from __future__ import annotations

import sqlite3

import pytest

from rosvd.store import SCHEMA_VERSION, Store, StoreError


def _downgrade_to_schema_1(path):
    db = sqlite3.connect(path)
    db.executescript("DROP TABLE anchor_txs; DROP TABLE anchors;"
                     " UPDATE meta SET value='1' WHERE key='schema';")
    db.commit()
    db.close()


def test_schema_1_store_is_upgraded_in_place(tmp_path):
    path = tmp_path / "store.sqlite"
    store = Store(path, create=True)
    store.insert_certificates([(1, b"\x01" * 32, b"e", b"s", b"n", b"c" * 32, b"f" * 32, 1, "kept")])
    store.close()
    _downgrade_to_schema_1(path)
    store = Store(path)
    assert store.get_meta("schema") == str(SCHEMA_VERSION) == "3"
    assert store.certificate_count() == 1, "nothing lost in the upgrade"
    assert store.anchors() == [] and store.anchor_targets() == []
    store.close()


def test_schema_2_store_gains_the_anchor_signature_column(tmp_path):
    """A schema-2 anchors table (no signature column) is altered in place, rows kept."""
    path = tmp_path / "store.sqlite"
    store = Store(path, create=True)
    store.insert_certificates([(1, b"\x01" * 32, b"e", b"s", b"n", b"c" * 32, b"f" * 32, 1, "kept")])
    store.close()
    db = sqlite3.connect(path)
    db.executescript("UPDATE epochs SET state='closed' WHERE number=1;"
                     " ALTER TABLE anchors DROP COLUMN signature;"
                     " INSERT INTO anchors (epoch, state, chain_id, registry, sender, vdf_hash, updated_ms)"
                     " VALUES (1, 'anchored', 31337, '0xR', '0xS', x'00', 0);"
                     " UPDATE meta SET value='2' WHERE key='schema';")
    db.commit()
    db.close()
    store = Store(path)
    assert store.get_meta("schema") == "3"
    (anchor,) = store.anchors()
    assert anchor.state == "anchored" and anchor.signature is None, "kept, with no signature to show"
    store.close()


def test_store_from_a_newer_rosvd_is_refused(tmp_path):
    path = tmp_path / "store.sqlite"
    Store(path, create=True).set_meta("schema", "99")
    with pytest.raises(StoreError, match="schema 99"):
        Store(path)
