"""Keccak-256 (Ethereum's ``keccak256``: the original Keccak padding, not SHA3-256's) of many
short messages at once, in one numba kernel.

Why: an epoch's Merkle tree (:func:`rosvd.epochs.epoch_tree`) hashes every certificate id
twice and every inner node once, about 12,000 digests for an epoch of 4,096; through
``eth_hash`` each digest costs a Python call into pycryptodome (5 to 20 microseconds here),
so one proof bundle took about 0.2 s. Here a digest is one permutation inside compiled code.

Messages are rows of one length (a leaf is 32 bytes, an inner node 64, a certificate's
encoding 384: :mod:`rosvd.bench.query_store` makes ids in bulk). The permutation is Keccak-f[1600] as the
Keccak reference (and FIPS 202, section 3) defines it: 24 rounds of theta, rho, pi, chi
and iota on 25 little-endian 64-bit lanes. tests/host/test_keccak_batch.py pins it to
``eth_hash`` and to published digests.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: Bytes absorbed per permutation for a 256-bit digest: (1600 - 2 * 256) / 8.
RATE_BYTES = 136
DIGEST_BYTES = 32
LANES = 25
ROUNDS = 24
#: Keccak's pad10*1 with domain byte 0x01 (SHA3-256 would use 0x06).
PAD_FIRST = 0x01
PAD_LAST = 0x80

#: iota's round constants.
ROUND_CONSTANTS = np.array([
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
], dtype=np.uint64)

#: rho's rotation of lane (x, y), as ROTATIONS[x][y].
ROTATIONS = np.array([
    [0, 36, 3, 41, 18],
    [1, 44, 10, 45, 2],
    [62, 6, 43, 15, 61],
    [28, 55, 25, 21, 56],
    [27, 20, 39, 8, 14],
], dtype=np.uint64)


#: rho and pi as one table: lane ``i`` = (x, y) moves to lane PI_DESTINATION[i] = (y, 2x + 3y).
PI_DESTINATION = np.array([y + 5 * ((2 * x + 3 * y) % 5) for y in range(5) for x in range(5)], np.int64)
#: rho's rotation of lane ``i`` = x + 5 y, flattened from ROTATIONS.
LANE_ROTATIONS = np.array([ROTATIONS[x, y] for y in range(5) for x in range(5)], np.uint64)


@njit(cache=True, inline="always")
def _rotl(value, shift):
    return (value << shift) | (value >> ((np.uint64(64) - shift) & np.uint64(63)))


@njit(cache=True)
def _permute(state, b, round_constants, rotations, destinations):
    """Keccak-f[1600] in place on ``state`` (25 lanes, lane (x, y) at x + 5 y); ``b`` is
    scratch of 25 lanes (allocated once per batch, not per digest)."""
    for round_index in range(ROUNDS):
        for x in range(5):                                         # theta (column parities in b[0:5])
            b[x] = state[x] ^ state[x + 5] ^ state[x + 10] ^ state[x + 15] ^ state[x + 20]
        for x in range(5):
            d = b[x - 1 if x > 0 else 4] ^ _rotl(b[x + 1 if x < 4 else 0], np.uint64(1))
            for y in range(0, LANES, 5):
                state[x + y] ^= d
        for lane in range(LANES):                                  # rho and pi
            b[destinations[lane]] = _rotl(state[lane], rotations[lane])
        for y in range(0, LANES, 5):                               # chi
            b0, b1, b2, b3, b4 = b[y], b[y + 1], b[y + 2], b[y + 3], b[y + 4]
            state[y] = b0 ^ (~b1 & b2)
            state[y + 1] = b1 ^ (~b2 & b3)
            state[y + 2] = b2 ^ (~b3 & b4)
            state[y + 3] = b3 ^ (~b4 & b0)
            state[y + 4] = b4 ^ (~b0 & b1)
        state[0] ^= round_constants[round_index]                   # iota


@njit(cache=True, inline="always")
def _absorb(state, block):
    for lane in range(RATE_BYTES // 8):
        value = np.uint64(0)
        for byte in range(8):
            value |= np.uint64(block[8 * lane + byte]) << np.uint64(8 * byte)
        state[lane] ^= value


@njit(cache=True)
def _digest_into(message, out, state, scratch, block, round_constants, rotations, destinations):
    """keccak256 of ``message`` (uint8, any length) into ``out`` (32 uint8): every whole
    block absorbed, then the rest padded with pad10*1."""
    state[:] = 0
    length = message.shape[0]
    whole = length - length % RATE_BYTES
    for start in range(0, whole, RATE_BYTES):
        block[:] = message[start:start + RATE_BYTES]
        _absorb(state, block)
        _permute(state, scratch, round_constants, rotations, destinations)
    block[:] = 0
    block[:length - whole] = message[whole:]
    block[length - whole] ^= PAD_FIRST
    block[RATE_BYTES - 1] ^= PAD_LAST
    _absorb(state, block)
    _permute(state, scratch, round_constants, rotations, destinations)
    for lane in range(DIGEST_BYTES // 8):
        value = state[lane]
        for byte in range(8):
            out[8 * lane + byte] = np.uint8((value >> np.uint64(8 * byte)) & np.uint64(0xFF))


@njit(cache=True)
def _digest_rows(messages, out, round_constants, rotations, destinations):
    state = np.empty(LANES, np.uint64)
    scratch = np.empty(LANES, np.uint64)
    block = np.empty(RATE_BYTES, np.uint8)
    for row in range(messages.shape[0]):
        _digest_into(messages[row], out[row], state, scratch, block, round_constants, rotations, destinations)


@njit(cache=True)
def _leaf_hashes(ids, out, round_constants, rotations, destinations):
    """keccak256(keccak256(id)) of each 32-byte id: a ``bytes32`` leaf of the epoch tree."""
    state = np.empty(LANES, np.uint64)
    scratch = np.empty(LANES, np.uint64)
    block = np.empty(RATE_BYTES, np.uint8)
    inner = np.empty(DIGEST_BYTES, np.uint8)
    for row in range(ids.shape[0]):
        _digest_into(ids[row], inner, state, scratch, block, round_constants, rotations, destinations)
        _digest_into(inner, out[row], state, scratch, block, round_constants, rotations, destinations)


@njit(cache=True)
def _inner_nodes(tree, first_leaf, round_constants, rotations, destinations):
    """Fill nodes ``first_leaf - 1`` down to 0 of a heap-ordered tree (children of node i at
    2i+1 and 2i+2): keccak256 of the smaller child followed by the larger, bytes compared
    as unsigned big-endian numbers."""
    state = np.empty(LANES, np.uint64)
    scratch = np.empty(LANES, np.uint64)
    block = np.empty(RATE_BYTES, np.uint8)
    pair = np.empty(2 * DIGEST_BYTES, np.uint8)
    for node in range(first_leaf - 1, -1, -1):
        left, right = tree[2 * node + 1], tree[2 * node + 2]
        left_first = True
        for byte in range(DIGEST_BYTES):
            if left[byte] != right[byte]:
                left_first = left[byte] < right[byte]
                break
        if left_first:
            pair[:DIGEST_BYTES] = left
            pair[DIGEST_BYTES:] = right
        else:
            pair[:DIGEST_BYTES] = right
            pair[DIGEST_BYTES:] = left
        _digest_into(pair, tree[node], state, scratch, block, round_constants, rotations, destinations)


def keccak256_rows(messages: np.ndarray) -> np.ndarray:
    """(N, L) uint8 messages of L bytes each -> (N, 32) uint8 digests."""
    messages = np.ascontiguousarray(messages, dtype=np.uint8)
    if messages.ndim != 2:
        raise ValueError(f"messages must be (N, L) bytes, not shape {messages.shape}")
    out = np.empty((len(messages), DIGEST_BYTES), np.uint8)
    _digest_rows(messages, out, ROUND_CONSTANTS, LANE_ROTATIONS, PI_DESTINATION)
    return out


def bytes32_leaf_hashes(ids: np.ndarray) -> np.ndarray:
    """(N, 32) ids -> (N, 32) leaf hashes ``keccak256(keccak256(abi.encode(bytes32 id)))``."""
    ids = np.ascontiguousarray(ids, dtype=np.uint8)
    if ids.ndim != 2 or ids.shape[1] != DIGEST_BYTES:
        raise ValueError(f"ids must be (N, 32) bytes, not shape {ids.shape}")
    out = np.empty_like(ids)
    _leaf_hashes(ids, out, ROUND_CONSTANTS, LANE_ROTATIONS, PI_DESTINATION)
    return out


def fill_inner_nodes(tree: np.ndarray, first_leaf: int) -> None:
    """Hash every inner node of ``tree`` ((2n - 1, 32) uint8, leaves from ``first_leaf`` on)."""
    _inner_nodes(tree, first_leaf, ROUND_CONSTANTS, LANE_ROTATIONS, PI_DESTINATION)
