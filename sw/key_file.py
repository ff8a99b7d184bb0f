"""A secp256k1 key at rest: an encrypted Ethereum keystore (v3), or a plain file in dev mode.

Two formats, told apart by their ``version``:

- **3, the Ethereum keystore** that geth, eth-account and every wallet read: the key under
  AES-128-CTR with a scrypt-derived key and a MAC. The appliance's own details (device
  kind, whether the entropy was simulated) ride in an extra ``rosvd`` object, which
  keystore readers ignore. Outside dev mode this is the only format a device key may have.
- **1, plain**: the key in hex, for dev mode and devnet accounts, where convenience wins.

Either file is created with mode 0600 and ``O_EXCL`` (never overwritten, never readable by
others for an instant), and loading refuses a file that group or others can access. The
passphrase comes from the environment (:func:`passphrase_from_env`): a file named by
``ROSVD_KEY_PASSPHRASE_FILE`` (a systemd credential, a secret mounted by the operator) or
the variable ``ROSVD_KEY_PASSPHRASE`` itself. What this protects and what it does not is
written in docs/trust-model.md ("Device key custody").
"""
from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PLAIN_VERSION = 1
KEYSTORE_VERSION = 3
#: scrypt cost of a new keystore: the "standard" geth and eth-account use (256 MiB, ~0.8 s to
#: unlock on a desktop core). A board short of memory may choose less, down to the minimum.
STANDARD_SCRYPT_N = 2**18
#: Lowest scrypt cost the appliance writes (geth's "light" setting is 2**12; we stay above it).
MIN_SCRYPT_N = 2**14
#: Highest we write: 1 GiB of memory to unlock is more than a board has.
MAX_SCRYPT_N = 2**20
#: The environment names a device-key passphrase is read from (a file, or the value itself).
DEVICE_PASSPHRASE_ENV = "ROSVD_KEY_PASSPHRASE"
#: ... and those of a consortium account key (``--key-file``, ``--member-key-file``).
ACCOUNT_PASSPHRASE_ENV = "ROSVD_ACCOUNT_PASSPHRASE"
FILE_SUFFIX = "_FILE"


class IdentityError(RuntimeError):
    """Missing, unsafe, malformed or locked key file."""


@dataclass(frozen=True)
class KeyFile:
    """What a key file holds once opened."""

    secret: bytes
    #: The address the file says it is for (checked against the key by the caller).
    stated_address: str
    details: dict
    encrypted: bool
    #: scrypt cost of an encrypted file (None for plain or non-scrypt keystores).
    scrypt_n: int | None


def passphrase_from_env(name: str = DEVICE_PASSPHRASE_ENV,
                        environ: Mapping[str, str] | None = None) -> str | None:
    """The passphrase in ``$NAME_FILE`` (the file's text, one trailing newline dropped) or
    ``$NAME``; None if neither is set. Both set, an empty passphrase or an unreadable file
    is an error: a key must never be written or unlocked with a passphrase nobody meant."""
    environ = os.environ if environ is None else environ
    file_name, value = environ.get(name + FILE_SUFFIX), environ.get(name)
    if file_name is not None and value is not None:
        raise IdentityError(f"both {name} and {name + FILE_SUFFIX} are set; set one")
    if file_name is not None:
        try:
            value = Path(file_name).read_text()
        except OSError as error:
            raise IdentityError(f"{name + FILE_SUFFIX}={file_name}: cannot read it"
                                f" ({error.strerror})") from None
        value = value.removesuffix("\n").removesuffix("\r")
    if value is not None and not value:
        raise IdentityError(f"the passphrase from {name + FILE_SUFFIX if file_name else name} is empty")
    return value


def check_scrypt_n(scrypt_n: int) -> int:
    if scrypt_n & (scrypt_n - 1) or not MIN_SCRYPT_N <= scrypt_n <= MAX_SCRYPT_N:
        raise IdentityError(f"scrypt cost {scrypt_n} is not a power of two in [2**14, 2**20]")
    return scrypt_n


def keystore_record(secret: bytes, passphrase: str, scrypt_n: int, details: dict) -> dict:
    from eth_account import Account
    return {**Account.encrypt(secret, passphrase, kdf="scrypt", iterations=check_scrypt_n(scrypt_n)),
            "rosvd": {**details, "created": int(time.time())}}


def plain_record(secret: bytes, address: str, details: dict) -> dict:
    return {"version": PLAIN_VERSION, "address": address, "private_key": secret.hex(), **details,
            "created": int(time.time())}


def write_new(path: Path, record: dict) -> None:
    """Write ``record`` to a file that must not exist yet, readable by its owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two writers racing cannot both write; 0600 from the first byte.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())


def replace_with(path: Path, record: dict) -> None:
    """Replace ``path`` by ``record`` atomically: a crash leaves the old file or the new one."""
    path = Path(path)
    staged = path.with_name(path.name + ".new")
    staged.unlink(missing_ok=True)  # a leftover of an interrupted replacement; the old file is intact
    write_new(staged, record)
    os.replace(staged, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def is_encrypted(path: Path) -> bool:
    """Whether a key file is a keystore (so needs a passphrase to open)."""
    try:
        return json.loads(Path(path).read_text()).get("version") == KEYSTORE_VERSION
    except (OSError, ValueError, AttributeError):
        return False


def describe(path: Path) -> dict:
    """How a key file keeps its key, read without unlocking it (for ``rosvd status``)."""
    try:
        record = json.loads(Path(path).read_text())
        if record.get("version") == KEYSTORE_VERSION:
            crypto = record["crypto"]
            return {"format": "keystore-v3", "cipher": crypto["cipher"], "kdf": crypto["kdf"],
                    "kdf_cost": crypto["kdfparams"].get("n", crypto["kdfparams"].get("c"))}
        return {"format": "plain" if record.get("version") == PLAIN_VERSION else "unknown"}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {"format": "unreadable"}


def read(path: Path, passphrase: str | None, passphrase_env: str = DEVICE_PASSPHRASE_ENV) -> KeyFile:
    """Open a key file of either format; an encrypted one needs ``passphrase``."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise IdentityError(f"no key file at {path}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise IdentityError(f"{path} is accessible by group or others (mode {stat.S_IMODE(mode):o});"
                            " run chmod 600 on it")
    try:
        record = json.loads(path.read_text())
        version = record.get("version")
        if version == PLAIN_VERSION:
            return KeyFile(bytes.fromhex(record["private_key"]), record["address"],
                           {k: v for k, v in record.items() if k not in ("private_key", "address")},
                           encrypted=False, scrypt_n=None)
        if version != KEYSTORE_VERSION:
            raise IdentityError(f"{path}: key file version {version} is not supported")
        stated = "0x" + str(record["address"]).lower().removeprefix("0x")
        kdf_params = record["crypto"]["kdfparams"]
        scrypt_n = int(kdf_params["n"]) if record["crypto"].get("kdf") == "scrypt" else None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IdentityError(f"{path}: malformed key file ({exc})") from exc
    if passphrase is None:
        raise IdentityError(f"{path} is encrypted: give its passphrase in {passphrase_env + FILE_SUFFIX}"
                            f" (a file) or {passphrase_env}")
    from eth_account import Account
    try:
        secret = bytes(Account.decrypt(record, passphrase))
    except (ValueError, KeyError, TypeError) as exc:  # eth-keyfile's own errors are ValueErrors
        if "MAC mismatch" in str(exc):
            raise IdentityError(f"{path}: wrong passphrase") from None
        raise IdentityError(f"{path}: malformed keystore ({exc})") from exc
    details = record.get("rosvd") if isinstance(record.get("rosvd"), dict) else {}
    return KeyFile(secret, stated, details, encrypted=True, scrypt_n=scrypt_n)
