"""A damaged, emptied, deleted or foreign store: a message and exit 2, never a traceback, and
the file left exactly as it was; `rosvd store check` finds the damage, `rosvd store backup`
makes a copy that restores."""
import json
import shutil
import sqlite3

import pytest

from rosvd.cli import main
from rosvd.store import Store, StoreError

COMMANDS = (["status"], ["verify-chain"], ["certify", "--quiet"])


def run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def home(tmp_path, capsys):
    """An enrolled home with 5 certificates in two closed epochs and an open one."""
    home = tmp_path / "home"
    code = run(capsys, "enroll", "--home", home, "--dev", "--epoch-size", "2", "--vdf-iterations", "300")[0]
    assert code == 0
    files = []
    for index in range(5):
        files.append(tmp_path / f"item{index}.txt")
        files[-1].write_text(f"generated item {index}")
    assert run(capsys, "certify", "--home", home, "--quiet", *files)[0] == 0
    return home


def damage(home, how: str) -> None:
    store = home / "rosvd.sqlite"
    data = store.read_bytes()
    if how == "half":
        store.write_bytes(data[: len(data) // 2])
    elif how == "100 bytes":
        store.write_bytes(data[:100])
    elif how == "empty":
        store.write_bytes(b"")
    elif how == "deleted":
        store.unlink()
    elif how == "foreign":
        store.unlink()
        db = sqlite3.connect(store)
        db.execute("CREATE TABLE photos (name TEXT)")
        db.commit()
        db.close()


@pytest.mark.parametrize("how, says", [("half", "is damaged"), ("100 bytes", "is damaged"),
                                       ("empty", "is empty"), ("deleted", "is missing"),
                                       ("foreign", "not a rosvd store")])
def test_a_damaged_store_is_refused_and_left_as_it_is(home, capsys, how, says):
    damage(home, how)
    store = home / "rosvd.sqlite"
    before = store.read_bytes() if store.exists() else None
    item = home.parent / "item0.txt"
    for command in COMMANDS:
        code, out, err = run(capsys, *command, "--home", home, *([item] if command[0] == "certify" else []))
        assert code == 2 and out == "", (command, out)
        assert says in err and "Traceback" not in err and "another device key" not in err, (command, err)
        assert (store.read_bytes() if store.exists() else None) == before, f"{command} changed the store"
    code, out, _ = run(capsys, "store", "check", "--home", home, "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"] and report["problems"]
    assert (store.read_bytes() if store.exists() else None) == before, "the check wrote to the store"


def test_a_store_is_created_only_at_enrollment(tmp_path):
    with pytest.raises(StoreError, match="is missing"):
        Store(tmp_path / "absent.sqlite")
    assert not (tmp_path / "absent.sqlite").exists()
    Store(tmp_path / "new.sqlite", create=True).close()
    with pytest.raises(StoreError, match="already exists"):
        Store(tmp_path / "new.sqlite", create=True)


def test_store_check_finds_inconsistency_sqlite_cannot_see(home, capsys):
    code, out, _ = run(capsys, "store", "check", "--home", home, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["certificates"] == 5 and report["epochs"] == 3
    db = sqlite3.connect(home / "rosvd.sqlite")
    db.execute("DELETE FROM certificates WHERE sequence = 2")   # a certificate of sealed epoch 1
    db.execute("UPDATE epochs SET vdf_output = NULL WHERE number = 2")
    db.commit()
    db.close()
    code, out, _ = run(capsys, "store", "check", "--home", home)
    assert code == 1 and out.startswith("DAMAGED")
    assert "epoch 1 was sealed with 2 certificates; the store holds 1" in out
    assert "epoch 2 is closed without a VDF output" in out


def test_a_backup_restores_the_store(home, capsys, tmp_path):
    backup = tmp_path / "backup.sqlite"
    (tmp_path / "backup.sqlite.partial").write_bytes(b"left by an interrupted backup" * 100)
    code, out, _ = run(capsys, "store", "backup", "--home", home, backup, "--json")
    result = json.loads(out)
    assert code == 0 and result["certificates"] == 5 and result["backup"] == str(backup)
    assert not (tmp_path / "backup.sqlite.partial").exists()
    code, _, err = run(capsys, "store", "backup", "--home", home, backup)
    assert code == 2 and "never overwrites" in err
    code, _, err = run(capsys, "store", "backup", "--home", home, tmp_path / "no" / "such" / "dir.sqlite")
    assert code == 2 and "is not a directory" in err
    damage(home, "half")
    for stale in home.glob("rosvd.sqlite-*"):  # the damaged store's WAL files go with it
        stale.unlink()
    shutil.copy(backup, home / "rosvd.sqlite")
    code, out, _ = run(capsys, "verify-chain", "--home", home, "--json")
    assert code == 0 and json.loads(out)["certificates_checked"] == 4  # the open epoch's one is not sealed
    code, out, _ = run(capsys, "status", "--home", home, "--json")
    assert code == 0 and json.loads(out)["certificates"] == 5


def test_enroll_refuses_a_home_it_cannot_use(tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    code, out, err = run(capsys, "enroll", "--home", a_file, "--dev")
    assert code == 2 and out == "" and "is not a directory" in err
    assert a_file.read_text() == "not a directory"
    code, _, err = run(capsys, "enroll", "--home", "/proc/rosvd-home", "--dev")
    assert code == 2 and "cannot use /proc/rosvd-home" in err and "Traceback" not in err

    def refuse(*_, **__):  # an unwritable directory (as root, permissions alone would not refuse)
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr("pathlib.Path.touch", refuse)
    code, _, err = run(capsys, "enroll", "--home", tmp_path / "locked", "--dev")
    assert code == 2 and "cannot use" in err and "Permission denied" in err
    assert not (tmp_path / "locked" / "device-key.json").exists()
