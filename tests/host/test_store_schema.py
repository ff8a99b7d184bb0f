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
    store = Store(path)
    store.insert_certificates([(1, b"\x01" * 32, b"e", b"s", b"n", b"c" * 32, b"f" * 32, 1, "kept")])
    store.close()
    _downgrade_to_schema_1(path)
    store = Store(path)
    assert store.get_meta("schema") == str(SCHEMA_VERSION) == "2"
    assert store.certificate_count() == 1, "nothing lost in the upgrade"
    assert store.anchors() == [] and store.anchor_targets() == []
    store.close()


def test_store_from_a_newer_rosvd_is_refused(tmp_path):
    path = tmp_path / "store.sqlite"
    Store(path).set_meta("schema", "99")
    with pytest.raises(StoreError, match="schema 99"):
        Store(path)
