"""Wesolowski VDF over class groups of imaginary quadratic fields (chiavdf), for epochs.

Each epoch proves ``iterations`` sequential squarings of the generator in the class group
whose discriminant is derived from a 32-byte challenge (see :func:`challenge`). The output
and the proof are 100-byte compressed forms; anyone can check them with :func:`verify` in
a few milliseconds, whereas computing them takes time linear in ``iterations`` that more
cores do not shorten.

Contract:

- discriminant: ``chiavdf.create_discriminant(challenge, DISCRIMINANT_BITS)``, a function of
  the challenge alone, so the challenge fixes the group and nobody can precompute it before
  the challenge's inputs (previous output, Merkle root, entropy, block hash) exist;
- start element: :data:`GENERATOR`, the compressed form of the generator ``(2, 1, c)``;
- ``prove`` and ``verify`` refuse bad arguments (wrong type, challenge not 32 bytes,
  ``iterations`` outside ``1 .. MAX_ITERATIONS``) with ``TypeError``/``ValueError``;
  ``verify`` answers ``False``, never raises, for output or proof bytes that are not valid
  forms or not their canonical encoding (:func:`is_canonical`), since those come from
  untrusted proof bundles.
"""
from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass

import chiavdf

__all__ = [
    "CHALLENGE_BYTES",
    "CHALLENGE_DOMAIN",
    "DISCRIMINANT_BITS",
    "FORM_BYTES",
    "GENERATOR",
    "MAX_ITERATIONS",
    "VdfResult",
    "challenge",
    "is_canonical",
    "overhead",
    "prove",
    "verify",
]

#: Size of the class group discriminant. 1024 bits is chiavdf's (and Chia's) production size.
DISCRIMINANT_BITS = 1024
#: Size of a compressed class group element (output or proof) for :data:`DISCRIMINANT_BITS`.
FORM_BYTES = 100
#: The start element x: the compressed form of the generator, as chiavdf serializes it.
GENERATOR = b"\x08" + bytes(FORM_BYTES - 1)
#: Size of a challenge, the output of :func:`challenge` (SHA-256).
CHALLENGE_BYTES = 32
#: chiavdf counts iterations in an unsigned 64-bit integer.
MAX_ITERATIONS = 2**64 - 1
#: Domain tag hashed ahead of the parts, so a VDF challenge never equals any other hash
#: this project makes of the same bytes.
CHALLENGE_DOMAIN = b"RO-SVD/vdf-challenge/v1"


def challenge(*parts: bytes) -> bytes:
    """The 32-byte VDF challenge of ``parts``, e.g. (previous output, root, entropy, block hash).

    ``SHA-256(u8(len(DOMAIN)) || DOMAIN || u32be(len(parts)) || for each part: u64be(len(part)) || part)``
    with ``DOMAIN = CHALLENGE_DOMAIN``. The length prefixes make the encoding injective
    (``challenge(b"ab", b"c") != challenge(b"a", b"bc")``). SHA-256 rather than BLAKE3 so a
    verifier on an EVM chain (the SHA-256 precompile) or in any language can recompute it.
    """
    if not parts:
        raise ValueError("challenge needs at least one part")
    digest = hashlib.sha256()
    digest.update(len(CHALLENGE_DOMAIN).to_bytes(1, "big") + CHALLENGE_DOMAIN)
    digest.update(len(parts).to_bytes(4, "big"))
    for index, part in enumerate(parts):
        if not isinstance(part, bytes | bytearray | memoryview):
            raise TypeError(f"challenge part {index} must be bytes, got {type(part).__name__}")
        part = bytes(part)
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


@dataclass(frozen=True)
class VdfResult:
    """What :func:`prove` returns: ``output = GENERATOR^(2^iterations)`` and its proof."""

    output: bytes
    proof: bytes
    iterations: int


def _check_challenge(value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise TypeError(f"challenge must be bytes, got {type(value).__name__}")
    if len(value) != CHALLENGE_BYTES:
        raise ValueError(
            f"challenge must be {CHALLENGE_BYTES} bytes (the output of rosvd.vdf.challenge), "
            f"got {len(value)}")
    return bytes(value)


def _check_iterations(iterations: int) -> int:
    if not isinstance(iterations, int) or isinstance(iterations, bool):
        raise TypeError(f"iterations must be an int, got {type(iterations).__name__}")
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"iterations must be in 1 .. 2**64-1, got {iterations}")
    return iterations


@functools.lru_cache(maxsize=64)
def _discriminant(challenge_bytes: bytes) -> str:
    return chiavdf.create_discriminant(challenge_bytes, DISCRIMINANT_BITS)


def is_canonical(challenge: bytes, form: bytes) -> bool:
    """Whether ``form`` is the one canonical compressed encoding of a form of the challenge's
    group. ``verify_wesolowski`` alone ignores some padding bits of the last byte, so one
    output or proof would have several encodings (a bundle could be altered and still pass)."""
    try:
        chiavdf.bqfc_deserialize(_discriminant(_check_challenge(challenge)), bytes(form), True)
    except Exception:  # noqa: BLE001 - chiavdf raises RuntimeError or ValueError for a bad form
        return False
    return True


def prove(challenge: bytes, iterations: int) -> VdfResult:
    """Run the VDF for ``iterations`` squarings on ``challenge`` (~150k iterations/s here)."""
    seed = _check_challenge(challenge)
    iterations = _check_iterations(iterations)
    raw = chiavdf.prove(seed, GENERATOR, DISCRIMINANT_BITS, iterations, "")
    if len(raw) != 2 * FORM_BYTES:
        raise RuntimeError(f"chiavdf.prove returned {len(raw)} bytes, expected {2 * FORM_BYTES}")
    return VdfResult(output=raw[:FORM_BYTES], proof=raw[FORM_BYTES:], iterations=iterations)


def verify(challenge: bytes, iterations: int, output: bytes, proof: bytes) -> bool:
    """Whether ``output`` and ``proof`` are the VDF of ``challenge`` after ``iterations``."""
    seed = _check_challenge(challenge)
    iterations = _check_iterations(iterations)
    for name, value in (("output", output), ("proof", proof)):
        if not isinstance(value, bytes | bytearray):
            raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
    if len(output) != FORM_BYTES or len(proof) != FORM_BYTES:
        return False
    if not (is_canonical(seed, output) and is_canonical(seed, proof)):
        return False
    try:
        return bool(chiavdf.verify_wesolowski(_discriminant(seed), GENERATOR, bytes(output), bytes(proof),
                                              iterations))
    except RuntimeError:  # chiavdf's word for bytes that do not decode to a reduced form
        return False


def overhead(iterations: int, repeat: int = 3) -> dict:
    """Wall time of bare ``chiavdf.prove`` against :func:`prove`, best of ``repeat`` each.

    Returns seconds for both, their difference, the overhead in percent of the bare call,
    and the bare call's iterations per second.
    """
    iterations = _check_iterations(iterations)
    seed = challenge(b"rosvd.vdf.overhead", iterations.to_bytes(8, "big"))
    raw_s = wrapped_s = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        chiavdf.prove(seed, GENERATOR, DISCRIMINANT_BITS, iterations, "")
        raw_s = min(raw_s, time.perf_counter() - start)
        start = time.perf_counter()
        prove(seed, iterations)
        wrapped_s = min(wrapped_s, time.perf_counter() - start)
    return {
        "iterations": iterations,
        "raw_s": raw_s,
        "wrapped_s": wrapped_s,
        "overhead_s": wrapped_s - raw_s,
        "overhead_pct": 100.0 * (wrapped_s - raw_s) / raw_s,
        "iterations_per_s": iterations / raw_s,
    }
