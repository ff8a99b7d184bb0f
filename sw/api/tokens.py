"""The bearer token that write endpoints need.

Created by ``rosvd enroll`` (and by ``rosvd token rotate``, which replaces it), printed
once and never stored: the home keeps only its SHA-256 in ``api-token.json`` (mode 0600).
A token is 32 random bytes (``secrets``), so a fast hash is enough: nobody can search a
2^256 space, and a slow KDF would only slow every write. The file is read on each write
request, so a rotation takes effect at once, without restarting the service; presented
tokens are compared by hash in constant time (``hmac.compare_digest``).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from .problems import Problem

TOKEN_FILE = "api-token.json"
TOKEN_PREFIX = "rosvd_"
TOKEN_FORMAT = 1


class TokenError(ValueError):
    """The token file is unreadable or malformed."""


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def rotate(home: Path) -> str:
    """Make a new token for ``home`` (replacing any old one, atomically); returns it."""
    home = Path(home)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = {"format": TOKEN_FORMAT, "sha256": token_digest(token).hex()}
    tmp = home / (TOKEN_FILE + ".tmp")
    tmp.unlink(missing_ok=True)  # a staging file left by a crash
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(record, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, home / TOKEN_FILE)
    return token


def stored_digest(home: Path) -> bytes | None:
    """The hash of ``home``'s token, or None when no token was ever made."""
    path = Path(home) / TOKEN_FILE
    try:
        record = json.loads(path.read_text())
        digest = bytes.fromhex(record["sha256"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise TokenError(f"{path} is unreadable or malformed ({error});"
                         " `rosvd token rotate` replaces it") from None
    if record.get("format") != TOKEN_FORMAT or len(digest) != 32:
        raise TokenError(f"{path} is not a format-{TOKEN_FORMAT} token file;"
                         " `rosvd token rotate` replaces it")
    return digest


def check_token(home: Path, presented: str | None) -> None:
    """Refuse a write unless ``presented`` (the bearer token of the request, None without
    one) is ``home``'s token: 401 without a token, 403 for a wrong one, and 403 when the
    home has no token at all."""
    if not presented:
        raise Problem(401, "this endpoint needs `Authorization: Bearer <token>` (from `rosvd enroll` or"
                      " `rosvd token rotate`)", headers={"WWW-Authenticate": 'Bearer realm="rosvd"'})
    try:
        digest = stored_digest(home)
    except TokenError as error:
        raise Problem(403, f"writes are refused: {error}", slug="no-token") from None
    if digest is None:
        raise Problem(403, "writes are refused: this appliance has no API token; run `rosvd token rotate`",
                      slug="no-token")
    if not hmac.compare_digest(token_digest(presented), digest):
        raise Problem(403, "the bearer token is not this appliance's", slug="bad-token",
                      headers={"WWW-Authenticate": 'Bearer realm="rosvd", error="invalid_token"'})
