"""The device key at rest: an Ethereum keystore (v3) outside dev mode, its passphrase from a
file or the environment, a plain file only in dev mode, and a migration between the two."""
import json
import os
import stat

import pytest
from eth_account import Account

from rosvd import key_file
from rosvd.certify import KEY_FILE, Appliance, ApplianceConfig, initialise, load_config
from rosvd.cli import main
from rosvd.device import Entropy, ModelDevice
from rosvd.identity import IdentityError, encrypt_key_file, enroll, load_identity
from rosvd.ingest import from_bytes
from rosvd.key_file import MIN_SCRYPT_N, passphrase_from_env

#: The cheapest cost the appliance writes: these tests unlock many keystores.
CHEAP = MIN_SCRYPT_N
PASSPHRASE = "correct horse battery staple"


class RealEntropy(ModelDevice):
    """A device whose entropy is labelled real (as a board's is) and counted."""

    def __init__(self):
        super().__init__()
        self.draws = 0

    def entropy(self, nbytes):
        self.draws += 1
        return Entropy(bytes((self.draws + i) % 256 for i in range(nbytes)), simulated=False)


def test_outside_dev_mode_enrollment_needs_a_passphrase(tmp_path):
    device = RealEntropy()
    with pytest.raises(IdentityError, match="ROSVD_KEY_PASSPHRASE_FILE"):
        enroll(device, tmp_path / "key.json", dev_mode=False)
    assert not (tmp_path / "key.json").exists() and device.draws == 0  # refused before any key existed


def test_an_enrolled_key_is_a_keystore_that_eth_account_opens(tmp_path):
    path = tmp_path / "key.json"
    identity = enroll(RealEntropy(), path, dev_mode=False, passphrase=PASSPHRASE, scrypt_n=CHEAP)
    text = path.read_text()
    record = json.loads(text)
    assert record["version"] == 3 and record["crypto"]["kdf"] == "scrypt"
    assert record["crypto"]["kdfparams"]["n"] == CHEAP
    assert identity.private_key.secret.hex() not in text  # the key is not on disk in the clear
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # An independent reader (eth-account, as geth and wallets) decrypts the same key.
    assert bytes(Account.decrypt(record, PASSPHRASE)) == identity.private_key.secret
    loaded = load_identity(path, PASSPHRASE, require_encrypted=True)
    assert loaded.address == identity.address and not loaded.simulated_entropy
    assert record["rosvd"]["device"] == "model"


def test_a_keystore_written_elsewhere_loads(tmp_path):
    """A member's existing keystore (geth, a wallet) works as --key-file as it is."""
    account = Account.create()
    path = tmp_path / "member.json"
    key_file.write_new(path, Account.encrypt(account.key, PASSPHRASE, kdf="pbkdf2"))
    assert load_identity(path, PASSPHRASE).address == account.address


def test_a_locked_key_needs_the_right_passphrase_and_an_intact_file(tmp_path):
    path = tmp_path / "key.json"
    identity = enroll(RealEntropy(), path, dev_mode=False, passphrase=PASSPHRASE, scrypt_n=CHEAP)
    with pytest.raises(IdentityError, match="is encrypted: give its passphrase in ROSVD_KEY_PASSPHRASE"):
        load_identity(path)
    with pytest.raises(IdentityError, match="wrong passphrase"):
        load_identity(path, PASSPHRASE + "!")
    original = json.loads(path.read_text())

    def tampered(change) -> None:
        record = json.loads(json.dumps(original))
        change(record)
        path.write_text(json.dumps(record))

    flipped = original["crypto"]["ciphertext"]
    tampered(lambda r: r["crypto"].update(ciphertext=("1" if flipped[0] == "0" else "0") + flipped[1:]))
    with pytest.raises(IdentityError, match="wrong passphrase"):  # the MAC covers the ciphertext
        load_identity(path, PASSPHRASE)
    tampered(lambda r: r.update(address="00" * 20))
    with pytest.raises(IdentityError, match="does not match"):
        load_identity(path, PASSPHRASE)
    tampered(lambda r: r["crypto"].pop("kdfparams"))
    with pytest.raises(IdentityError, match="malformed"):
        load_identity(path, PASSPHRASE)
    tampered(lambda r: r.update(version=4))
    with pytest.raises(IdentityError, match="version 4"):
        load_identity(path, PASSPHRASE)
    tampered(lambda r: None)
    os.chmod(path, 0o640)
    with pytest.raises(IdentityError, match="chmod 600"):
        load_identity(path, PASSPHRASE)
    os.chmod(path, 0o600)
    assert load_identity(path, PASSPHRASE).address == identity.address


def test_outside_dev_mode_a_plain_key_is_refused(tmp_path):
    path = tmp_path / "key.json"
    identity = enroll(ModelDevice(), path, dev_mode=True)
    assert json.loads(path.read_text())["version"] == 1  # dev mode stays convenient
    assert load_identity(path).address == identity.address
    with pytest.raises(IdentityError, match="rosvd key encrypt"):
        load_identity(path, PASSPHRASE, require_encrypted=True)


def test_the_passphrase_comes_from_a_file_or_the_environment(tmp_path):
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    assert passphrase_from_env(environ={}) is None
    assert passphrase_from_env(environ={"ROSVD_KEY_PASSPHRASE": PASSPHRASE}) == PASSPHRASE
    # One trailing newline (as `echo` writes) is not part of the passphrase; inner ones are.
    assert passphrase_from_env(environ={"ROSVD_KEY_PASSPHRASE_FILE": str(secret)}) == PASSPHRASE
    secret.write_text("two\nlines\n\n")
    assert passphrase_from_env(environ={"ROSVD_KEY_PASSPHRASE_FILE": str(secret)}) == "two\nlines\n"
    with pytest.raises(IdentityError, match="set one"):
        passphrase_from_env(environ={"ROSVD_KEY_PASSPHRASE": "a", "ROSVD_KEY_PASSPHRASE_FILE": str(secret)})
    with pytest.raises(IdentityError, match="is empty"):
        passphrase_from_env(environ={"ROSVD_KEY_PASSPHRASE": ""})
    secret.write_text("\n")
    with pytest.raises(IdentityError, match="is empty"):
        passphrase_from_env(environ={"ROSVD_KEY_PASSPHRASE_FILE": str(secret)})
    with pytest.raises(IdentityError, match="cannot read it"):
        passphrase_from_env(environ={"ROSVD_KEY_PASSPHRASE_FILE": str(tmp_path / "missing")})
    assert passphrase_from_env("ROSVD_ACCOUNT_PASSPHRASE", environ={"ROSVD_KEY_PASSPHRASE": "a"}) is None


def test_a_plain_key_is_encrypted_in_place(tmp_path, monkeypatch):
    path = tmp_path / "key.json"
    identity = enroll(ModelDevice(), path, dev_mode=True)
    # A crash before the new file replaces the old one leaves the old one, still loadable.
    def crash(*_):
        raise OSError("power cut")
    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", crash)
        with pytest.raises(OSError, match="power cut"):
            encrypt_key_file(path, PASSPHRASE, CHEAP)
    assert load_identity(path).address == identity.address
    assert (tmp_path / "key.json.new").exists()  # the staged copy the crash left behind
    assert encrypt_key_file(path, PASSPHRASE, CHEAP).address == identity.address
    assert not (tmp_path / "key.json.new").exists()
    assert identity.private_key.secret.hex() not in path.read_text()
    loaded = load_identity(path, PASSPHRASE, require_encrypted=True)
    assert loaded.address == identity.address and loaded.simulated_entropy  # details kept
    with pytest.raises(IdentityError, match="already encrypted"):
        encrypt_key_file(path, PASSPHRASE, CHEAP)


def test_an_appliance_outside_dev_mode_unlocks_its_key_from_the_environment(tmp_path, monkeypatch):
    home = tmp_path / "home"
    initialise(home, ApplianceConfig(dev_mode=True), passphrase=None)
    # The same home as a board would run it: dev mode off (its entropy would be real).
    config = json.loads((home / "config.json").read_text())
    (home / "config.json").write_text(json.dumps({**config, "dev_mode": False}))
    assert not load_config(home).dev_mode
    monkeypatch.delenv("ROSVD_KEY_PASSPHRASE", raising=False)
    monkeypatch.delenv("ROSVD_KEY_PASSPHRASE_FILE", raising=False)
    with pytest.raises(IdentityError, match="rosvd key encrypt"):
        Appliance(home, device=RealEntropy())
    address = encrypt_key_file(home / KEY_FILE, PASSPHRASE, CHEAP).address
    with pytest.raises(IdentityError, match="is encrypted"):
        Appliance(home, device=RealEntropy())
    monkeypatch.setenv("ROSVD_KEY_PASSPHRASE", PASSPHRASE)
    with Appliance(home, device=RealEntropy()) as appliance:
        assert appliance.address == address
        (issued,) = appliance.certify([from_bytes(b"generated content", "out.bin")])
        assert issued.certificate.device == address


def test_key_commands(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ROSVD_KEY_PASSPHRASE", raising=False)
    monkeypatch.delenv("ROSVD_KEY_PASSPHRASE_FILE", raising=False)

    def run(*argv):
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    home = str(tmp_path / "home")
    code, out, _ = run("enroll", "--home", home, "--dev", "--json")
    assert code == 0 and json.loads(out)["device_key"] == {"format": "plain"}
    code, out, err = run("key", "encrypt", "--home", home)
    assert code == 2 and out == "" and "give the new passphrase in ROSVD_KEY_PASSPHRASE_FILE" in err
    with pytest.raises(SystemExit) as usage:  # argparse's own exit for a bad option value
        main(["key", "encrypt", "--home", home, "--scrypt-n", "1000"])
    assert usage.value.code == 2 and "power of two" in capsys.readouterr().err
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    monkeypatch.setenv("ROSVD_KEY_PASSPHRASE_FILE", str(secret))
    code, out, _ = run("key", "encrypt", "--home", home, "--scrypt-n", str(CHEAP), "--json")
    assert code == 0 and json.loads(out)["device_key"]["kdf_cost"] == CHEAP
    code, out, _ = run("status", "--home", home, "--json")
    assert code == 0 and json.loads(out)["device_key"]["format"] == "keystore-v3"
    monkeypatch.delenv("ROSVD_KEY_PASSPHRASE_FILE")
    code, out, err = run("status", "--home", home)
    assert code == 2 and out == "" and "is encrypted" in err and "Traceback" not in err
    monkeypatch.setenv("ROSVD_KEY_PASSPHRASE", "not it")
    code, out, err = run("status", "--home", home)
    assert code == 2 and "wrong passphrase" in err
    # Enrolling with a passphrase in the environment encrypts, in dev mode too.
    monkeypatch.setenv("ROSVD_KEY_PASSPHRASE", PASSPHRASE)
    code, out, _ = run("enroll", "--home", str(tmp_path / "other"), "--dev", "--scrypt-n", str(CHEAP),
                       "--json")
    assert code == 0 and json.loads(out)["device_key"]["format"] == "keystore-v3"


def test_a_consortium_account_key_may_be_a_keystore_with_its_own_passphrase(tmp_path, monkeypatch):
    """--key-file / --member-key-file: a member's keystore, unlocked by ROSVD_ACCOUNT_PASSPHRASE
    (never by the device key's passphrase)."""
    from rosvd.chain.commands import load_account
    account = Account.create()
    path = tmp_path / "member.json"
    key_file.write_new(path, key_file.keystore_record(account.key, PASSPHRASE, CHEAP, {"role": "member"}))
    monkeypatch.delenv("ROSVD_ACCOUNT_PASSPHRASE", raising=False)
    monkeypatch.delenv("ROSVD_ACCOUNT_PASSPHRASE_FILE", raising=False)
    monkeypatch.setenv("ROSVD_KEY_PASSPHRASE", PASSPHRASE)
    with pytest.raises(IdentityError, match="ROSVD_ACCOUNT_PASSPHRASE_FILE"):
        load_account(path)
    monkeypatch.setenv("ROSVD_ACCOUNT_PASSPHRASE", PASSPHRASE)
    assert load_account(path).address == account.address
