"""The PostgreSQL store against a real server, and the same behaviour on SQLite.

The session starts its own PostgreSQL from the Debian package's binaries (initdb into a
temporary directory, a unix socket only, no TCP port), as an unprivileged user (the
``postgres`` system user when the tests run as root), and stops it at the end. Without the
binaries these tests skip with the reason. The server runs with ``synchronous_commit=off``
as its default, so the tests see the store turn it on for its own sessions.
"""
from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rosvd.certify import POSTGRES_LOCAL, Appliance, ApplianceConfig, ApplianceError, initialise, open_store
from rosvd.fingerprint_index import FingerprintIndex
from rosvd.store import (
    AnchorTx,
    CertificateReader,
    Store,
    StoreError,
    StoreUnavailable,
    _postgres_schema,
    _postgres_sql,
)
from rosvd.store_maintenance import backup, check

from ..api.conftest import POLICY, bearer, client_of, jpeg, png, scene, upload

#: A PostgreSQL the tests can start: Debian's server binaries (any version), newest first.
SERVER_BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _run_as(user: str | None):
    return {} if user is None else {"user": user, "group": pwd.getpwnam(user).pw_gid}


@pytest.fixture(scope="session")
def postgres():
    """A running server; yields ``url(schema)``, a store URL for a schema of its own."""
    binaries = next((b for b in SERVER_BINARIES if (b / "initdb").exists() and (b / "pg_ctl").exists()), None)
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): install the Debian"
                    " package postgresql (scripts/setup-system.sh does)")
    user = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            user = pwd.getpwnam("postgres").pw_name
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run the server as")
    # not under pytest's tmp_path: its parents are root's, mode 0700, closed to the server's user
    root = Path(tempfile.mkdtemp(prefix="rosvd-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    if user is not None:
        for path in (root, sockets):
            shutil.chown(path, user)
    as_user = _run_as(user)
    subprocess.run([binaries / "initdb", "-D", data, "-U", "rosvd", "-A", "trust", "-E", "UTF8", "--no-sync",
                    "--no-instructions"], check=True, capture_output=True, **as_user)
    options = f"-k {sockets} -p 5432 -c listen_addresses='' -c synchronous_commit=off -c max_connections=60"
    started = subprocess.run([binaries / "pg_ctl", "-D", data, "-l", root / "server.log", "-w", "-t", "30",
                              "-o", options, "start"], capture_output=True, text=True, **as_user)
    if started.returncode != 0:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {started.stderr}\n{log}")
    counter = itertools.count()

    def url(schema: str | None = None) -> str:
        schema = schema or f"t{next(counter)}"
        return f"postgresql://rosvd@/postgres?host={sockets}&port=5432&schema={schema}"

    try:
        yield url
    finally:
        subprocess.run([binaries / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
                       capture_output=True, **as_user)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store(request, tmp_path):
    """Makes new stores of the parametrised backend: ``new_store()`` -> (path, url)."""
    url_of = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    names = itertools.count()

    def make() -> tuple[Path, str | None]:
        path = tmp_path / f"store{next(names)}.sqlite"
        url = url_of() if url_of else None
        Store(path, create=True, url=url).close()
        return path, url
    return make


def rows(first: int, count: int, epoch: int = 1, content: bytes | None = None) -> list[tuple]:
    """Certificate rows with distinct ids and fingerprints (scheme-1 thermometer codes)."""
    out = []
    for sequence in range(first, first + count):
        levels = np.random.default_rng(sequence).integers(0, 5, 64)
        nibbles = [(0b11110000 >> level) & 0xF for level in levels]
        fingerprint = bytes((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, 64, 2))
        out.append((sequence, sequence.to_bytes(32, "big"), b"enc%d" % sequence, b"sig", b"nonce",
                    content or sequence.to_bytes(32, "little"), fingerprint, epoch, f"item{sequence}"))
    return out


def seal(store: Store, number: int) -> None:
    store.seal(number, count=store.count_in(number), merkle_root=b"r" * 32, entropy=b"e" * 32, block_number=7,
               block_hash=b"h" * 32, prev_output=b"p" * 100, challenge=b"c" * 32, iterations=300)


def test_the_store_behaves_the_same_on_both_backends(new_store):
    path, url = new_store()
    store = Store(path, url=url)
    store.set_meta("device_address", "0xA")
    store.set_meta("device_address", "0xB")            # an upsert on both
    assert store.get_meta("device_address") == "0xB" and store.get_meta("nothing") is None
    store.set_opening_block(1, 5, b"o" * 32)
    with pytest.raises(StoreError, match="already has its opening block"):
        store.set_opening_block(1, 5, b"o" * 32)
    batch = rows(1, 5) + rows(6, 2, content=b"S" * 32)
    with pytest.raises(StoreError, match="must come with its certificate"):
        store.insert_certificates(batch, [(99, b"\x01d")])
    with pytest.raises(StoreError, match="must come with its certificate"):
        store.insert_certificates(batch, regions=[(99, b"r" * 32, b"\x01d")])
    store.insert_certificates(batch, [(2, b"\x01two"), (6, b"\x01six")], regions=[(6, b"r" * 32, b"\x01r6")])
    assert store.match_descriptors([6, 1, 2] + list(range(600, 1200))) == {2: b"\x01two", 6: b"\x01six"}
    assert store.match_descriptors([2, 6], regions=True) == {6: b"\x01r6"}
    assert type(store.match_descriptors([2])[2]) is bytes
    assert store.next_sequence() == 8 and store.certificate_count() == 7 and store.count_in(1) == 7
    stored = store.certificate_by_id((3).to_bytes(32, "big"))
    assert stored.sequence == 3 and stored.encoding == b"enc3" and stored.name == "item3"
    assert type(stored.id) is bytes and type(stored.signature) is bytes   # BYTEA comes back as bytes
    assert [c.sequence for c in store.find_by_content(b"S" * 32)] == [6, 7]
    assert [c.sequence for c in store.certificates_by_sequence([5, 99, 2] + list(range(600, 1200)))] == [5, 2]
    assert store.certificate_ids(1) == [row[1] for row in batch]
    seal(store, 1)
    with pytest.raises(StoreError, match="open epoch"):
        store.insert_certificates(rows(8, 1, epoch=1))
    store.insert_certificates(rows(8, 2, epoch=2))
    store.close_epoch(1, b"y" * 100, b"q" * 100)
    with pytest.raises(StoreError, match="not sealed"):
        store.close_epoch(2, b"y", b"q")
    epoch = store.epoch(1)
    assert (epoch.state, epoch.count, epoch.vdf_output, epoch.opened_block_hash) == ("closed", 7, b"y" * 100,
                                                                                   b"o" * 32)
    assert [e.number for e in store.epochs()] == [1, 2] and [e.number for e in store.epochs("open")] == [2]
    assert [e.number for e in store.epochs_page(1, 10)] == [2] and store.epochs_page(0, 1)[0].number == 1
    assert [e.number for e in store.unanchored_closed_epochs()] == [1]
    store.put_anchor(1, "queued", chain_id=31337, registry="0xR", sender="0xS", vdf_hash=b"v" * 32,
                     signature=b"s" * 65)
    big_fee = 2 ** 62  # SQLite's INTEGER is 64-bit: so is the PostgreSQL column
    for nonce, tx in enumerate((b"1" * 32, b"2" * 32)):
        store.add_anchor_tx(AnchorTx(1, nonce, big_fee, tx, "{}", b"raw", created_ms=1000))
    assert [tx.tx_hash for tx in store.anchor_txs(1)] == [b"1" * 32, b"2" * 32]   # same ms: insertion order
    assert store.highest_pending_nonce("0xS") == 1 and store.anchor_txs(1)[0].fee_wei == big_fee
    store.update_anchor(1, "anchored", tx_hash=b"2" * 32, block_number=9, block_hash=b"b" * 32)
    with pytest.raises(StoreError, match="no anchor record"):
        store.update_anchor(2, "anchored")
    (anchor,) = store.anchors("anchored", "mined")
    assert (anchor.state, anchor.signature, anchor.block_number) == ("anchored", b"s" * 65, 9)
    assert store.anchor_targets() == [(31337, "0xR")] and store.unanchored_closed_epochs() == []
    store.close()
    assert check(path, url)["ok"], check(path, url)


def test_a_failed_batch_leaves_nothing_behind(new_store):
    path, url = new_store()
    store = Store(path, url=url)
    store.insert_certificates(rows(1, 2))
    duplicate = rows(3, 3) + [(6,) + rows(1, 1)[0][1:]]   # certificate 1's id again, last
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        store.insert_certificates(duplicate)
    assert store.certificate_count() == 2 and store.next_sequence() == 3
    store.insert_certificates(rows(3, 1))            # the connection is usable afterwards
    assert store.certificate_count() == 3
    store.close()


def test_writers_queue_so_read_then_write_steps_never_interleave(new_store):
    """Two connections (two appliances' processes) each read the next sequence and insert a
    batch in one transaction: with the write lock every batch lands, numbered without gaps."""
    path, url = new_store()
    errors, batches = [], 12

    def writer(tag: int) -> None:
        store = Store(path, url=url)
        try:
            for _ in range(batches):
                with store.transaction():
                    first = store.next_sequence()
                    time.sleep(0.002)                  # widen the window another writer would use
                    batch = rows(first, 3)
                    store.insert_certificates([row[:8] + (f"w{tag}",) for row in batch])
        except Exception as error:  # noqa: BLE001 -- reported below
            errors.append(error)
        finally:
            store.close()

    threads = [threading.Thread(target=writer, args=(tag,)) for tag in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = Store(path, url=url)
    assert [c.sequence for c in store.certificates_of(1)] == list(range(1, 2 * batches * 3 + 1))
    store.close()


def test_durability_settings_of_each_session(new_store):
    path, url = new_store()
    store = Store(path, url=url)
    if url is None:
        assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2       # FULL
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    else:
        # the server's default is off (this fixture): the store's own sessions turn it on
        settings = dict(store.db.execute("SELECT name, setting FROM pg_settings WHERE name IN"
                                         " ('synchronous_commit', 'lock_timeout', 'transaction_isolation')"))
        assert settings == {"synchronous_commit": "on", "lock_timeout": "30000",
                            "transaction_isolation": "read committed"}
    store.close()
    reader = CertificateReader(path, url)     # the fingerprint index's: it never writes
    with pytest.raises(Exception, match="(?i)read-only|readonly"):
        reader.db.execute("INSERT INTO meta VALUES ('written', 'by a reader')")
    reader.close()


def test_a_process_killed_inside_a_transaction_leaves_no_partial_batch(postgres, tmp_path):
    url = postgres()
    Store(tmp_path / "s", create=True, url=url).close()
    script = textwrap.dedent(f"""
        import os, signal
        from rosvd.store import Store
        rows = [(n, n.to_bytes(32, "big"), b"e", b"s", b"n", b"c" * 32, b"f" * 32, 1, "x")
                for n in range(1, 53)]
        store = Store("s", url={url!r})
        store.insert_certificates(rows[:2])                   # committed
        with store.transaction():
            store.insert_certificates(rows[2:])               # inside the outer transaction: not yet
            print("inserted", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        """)
    killed = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[2],
                            capture_output=True, text=True, timeout=60)
    assert killed.returncode == -9 and "inserted" in killed.stdout, killed.stderr
    store = Store(tmp_path / "s", url=url)
    assert store.certificate_count() == 2 and store.next_sequence() == 3
    store.close()


def test_the_fingerprint_index_catches_up_and_never_claims_another_store(new_store, tmp_path):
    path, url = new_store()
    store = Store(path, url=url)
    store.insert_certificates(rows(1, 40))
    probe = rows(17, 1)[0][6]
    index_path = tmp_path / "index.fpindex"
    with FingerprintIndex(path, store_url=url, index_path=index_path) as index:
        assert index.search(probe, 0.0, 5) == [(17, 0.0)]
        store.insert_certificates(rows(41, 5))              # committed after the index opened
        assert index.search(rows(43, 1)[0][6], 0.0, 5) == [(43, 0.0)]
    reopened = FingerprintIndex(path, store_url=url, index_path=index_path)
    assert reopened.rebuilt_because is None and len(reopened.fingerprints) == 45
    reopened.close()
    store.close()
    other_path, other_url = new_store()                     # another store: its certificate 45 differs
    other = Store(other_path, url=other_url)
    other.insert_certificates([row[:1] + (b"X" + row[1][1:],) + row[2:] for row in rows(1, 45)])
    other.close()
    with FingerprintIndex(other_path, store_url=other_url, index_path=index_path) as index:
        assert "another store" in index.rebuilt_because and len(index.fingerprints) == 45


def test_check_runs_the_invariants_and_backup_points_to_pg_dump(postgres, tmp_path):
    url = postgres()
    store = Store(tmp_path / "s", create=True, url=url)
    store.insert_certificates(rows(1, 3))
    seal(store, 1)
    report = check(tmp_path / "s", url)
    assert report["ok"] and (report["certificates"], report["epochs"]) == (3, 2), report
    assert "rosvd@" in report["store"]
    store.db.execute("UPDATE epochs SET count=99 WHERE number=1")
    store.close()
    assert check(tmp_path / "s", url)["problems"] == [
        "epoch 1 was sealed with 99 certificates; the store holds 3"]
    assert "not a rosvd store" in check(tmp_path / "s", postgres("nothing_here"))["problems"][0]
    with pytest.raises(StoreError, match="pg_dump --format=custom --schema=t"):
        backup(tmp_path / "s", tmp_path / "copy", url=url)
    assert not (tmp_path / "copy").exists()


def test_refusals_name_the_store_without_its_password(postgres, tmp_path):
    url = postgres("refused")
    Store(tmp_path / "s", create=True, url=url).close()
    with pytest.raises(StoreError, match="already holds a store in schema refused"):
        Store(tmp_path / "s", create=True, url=url)
    with pytest.raises(StoreError, match="no rosvd store in schema absent"):
        Store(tmp_path / "s", url=postgres("absent"))
    with pytest.raises(StoreError, match="lower-case SQL name"):
        Store(tmp_path / "s", url=postgres('x"; DROP TABLE meta; --'))
    wrong = url.replace("rosvd@", "rosvd:hunter2@").replace("port=5432", "port=5499")
    with pytest.raises(StoreUnavailable) as raised:
        Store(tmp_path / "s", url=wrong)
    assert "hunter2" not in str(raised.value) and "rosvd:***@" in str(raised.value)
    with pytest.raises(ApplianceError, match="give postgresql://"):
        ApplianceConfig(store_url="mysql://x/y")


def test_secrets_in_the_query_of_a_url_are_masked_too():
    """libpq also takes a password as ?password= (or ?sslpassword=): never shown."""
    from rosvd.store import PostgresTarget
    target = PostgresTarget.parse("postgresql://u@h/db?password=hunter2&sslpassword=s3&sslmode=require&schema=a")
    assert "hunter2" not in target.shown and "s3" not in target.shown
    assert "password=***" in target.shown and "sslmode=require" in target.shown
    assert "password=hunter2" in target.conninfo and target.schema == "a"


def test_an_older_schema_is_upgraded_on_postgresql_too(postgres, tmp_path):
    url = postgres()
    store = Store(tmp_path / "s", create=True, url=url)
    store.insert_certificates(rows(1, 1))
    for statement in ("ALTER TABLE anchors DROP COLUMN signature", "ALTER TABLE epochs DROP COLUMN"
                      " opened_block_hash", "ALTER TABLE epochs DROP COLUMN opened_block_number",
                      "UPDATE meta SET value='2' WHERE key='schema'"):
        store.db.execute(statement)
    store.close()
    store = Store(tmp_path / "s", url=url)
    assert store.get_meta("schema") == "3" and store.certificate_count() == 1
    store.set_opening_block(1, 4, b"o" * 32)
    assert store.open_epoch().opened_block_number == 4
    store.close()


def test_the_dialect_translation():
    assert _postgres_sql("SELECT a FROM t WHERE b=? AND c LIKE 'x%'") == (
        "SELECT a FROM t WHERE b=%s AND c LIKE 'x%%'")
    schema = _postgres_schema()
    assert "BLOB" not in schema and " INTEGER" not in schema and "rowid BIGSERIAL" in schema
    assert "sequence     BIGINT PRIMARY KEY" in schema and "id           BYTEA NOT NULL UNIQUE" in schema


def test_two_appliances_enrolled_on_one_server_certify_and_serve(postgres, tmp_path):
    """End to end: enroll with --store-url, certify through the Appliance (closing an epoch),
    look up and fetch a bundle through the API; a second appliance in another schema of
    the same database keeps its own certificates and epochs."""
    from rosvd.api import tokens
    from rosvd.cli import main
    homes = [tmp_path / "a", tmp_path / "b"]
    urls = [postgres("appliance_a"), postgres("appliance_b")]
    for home, url in zip(homes, urls, strict=True):
        assert main(["enroll", "--home", str(home), "--dev", "--epoch-size", "6", "--vdf-iterations", "300",
                     "--store-url", url, "--json"]) == 0
        assert not (home / "rosvd.sqlite").exists() and open_store(home).url == url
    with pytest.raises(StoreError, match="already holds a store"):
        initialise(tmp_path / "c", ApplianceConfig(dev_mode=True, policy=POLICY, store_url=urls[0]))
    assert not (tmp_path / "c" / "device-key.json").exists(), "refused before a key was made"
    from rosvd import ingest
    with Appliance(homes[0]) as appliance:
        issued = [item for batch in appliance.certify_all(
            [ingest.from_bytes(png(scene(seed)), f"scene{seed}.png") for seed in range(7)]) for item in batch]
        assert [e.state for e in appliance.store.epochs()] == ["closed", "open"]
        assert appliance.verify_chain()
    with Appliance(homes[1]) as appliance:
        appliance.certify([ingest.from_bytes(png(scene(40)), "other.png")])
        assert appliance.store.certificate_count() == 1 and appliance.store.epochs()[0].state == "open"
    target = issued[2].certificate
    with client_of(homes[0]) as client:
        record = client.get(f"/v1/certificates/{target.id.hex()}")
        assert record.status_code == 200, record.text
        bundle = client.get(f"/v1/bundles/{target.id.hex()}")
        assert bundle.status_code == 200 and bundle.json()["certificate"] == target.encode().hex()
        query = client.post("/v1/query", files=[upload("copy.jpg", jpeg(scene(2)), "file")]).json()
        assert query["results"][0]["matches"][0]["certificate_id"] == target.id.hex()
        posted = client.post("/v1/certificates", headers=bearer(tokens.rotate(homes[0])),
                             files=[upload("new.png", png(scene(50)))])
        assert posted.status_code == 201, posted.text
        assert client.get("/healthz").json()["certificates"] == 8
        metrics = client.get("/metrics").text
        assert 'rosvd_epochs{state="closed"} 1.0' in metrics and "rosvd_certificates 8.0" in metrics
    assert (homes[0] / f"{POSTGRES_LOCAL}.fpindex").exists()
    with client_of(homes[1]) as client:
        assert client.get(f"/v1/certificates/{target.id.hex()}").status_code == 404
    assert main(["store", "check", "--home", str(homes[0])]) == 0
    assert main(["store", "backup", "--home", str(homes[0]), str(tmp_path / "copy")]) == 2


def test_the_service_opens_a_new_session_when_the_server_ended_its_own(postgres, tmp_path):
    """pg_terminate_backend (a restart, a failover, an idle timeout): the request that meets
    the dead session answers 503, the next one opens a new session and answers 200: the
    readers, the fingerprint index's reader and the writer."""
    import psycopg

    from rosvd.cli import main
    from rosvd.store import PostgresTarget
    url = postgres("terminated")
    home = tmp_path / "h"
    assert main(["enroll", "--home", str(home), "--dev", "--store-url", url, "--json"]) == 0
    from rosvd.api import tokens
    token = tokens.rotate(home)
    with client_of(home) as client:
        assert client.get("/healthz").status_code == 200
        with psycopg.connect(PostgresTarget.parse(url).conninfo, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE pid <> pg_backend_pid() AND datname = current_database()")
        statuses = [client.get("/healthz").status_code for _ in range(3)]
        # The fingerprint index's own read session (it catches up before every search) too.
        body = {"queries": [{"fingerprint": "0f" * 32}]}
        searched = [client.post("/v1/query", json=body).status_code for _ in range(3)]
        # And the writer's: certifying opens a new session too.
        written = [client.post("/v1/certificates", headers=bearer(token),
                               files=[upload(f"after{k}.png", png(scene(k)))]).status_code for k in range(3)]
    assert statuses[-1] == 200 and set(statuses) <= {200, 503}, statuses
    assert searched[-1] == 200 and set(searched) <= {200, 503}, searched
    assert written[-1] == 201 and set(written) <= {201, 503}, written
