"""The batch Keccak-256 kernel and the fast epoch tree, pinned to independent references:
published Keccak-256 digests, ``eth_hash`` (pycryptodome) and ``StandardMerkleTree.of``
(itself pinned to OpenZeppelin's JavaScript library in test_merkle.py)."""
import os

import numpy as np
import pytest
from eth_hash.auto import keccak

from rosvd.certificate import LEAF_TYPES
from rosvd.epochs import epoch_tree
from rosvd.keccak_batch import RATE_BYTES, bytes32_leaf_hashes, keccak256_rows
from rosvd.merkle import DuplicateLeafError, StandardMerkleTree, leaf_hash, proof_from_nodes

#: Keccak-256 (the original padding, as Ethereum uses it) of "" and of "abc".
KNOWN = {b"": "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
         b"abc": "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"}


def rows(message: bytes) -> np.ndarray:
    return np.frombuffer(message, np.uint8).reshape(1, -1)


@pytest.mark.parametrize("message", sorted(KNOWN))
def test_published_digests(message):
    assert keccak256_rows(rows(message))[0].tobytes().hex() == KNOWN[message]


@pytest.mark.parametrize("length", [0, 1, 31, 32, 55, 64, 100, RATE_BYTES - 1, RATE_BYTES, RATE_BYTES + 1,
                                    2 * RATE_BYTES, 384, 1000])
def test_equals_eth_hash_across_block_boundaries(length):
    rng = np.random.default_rng(length)
    messages = rng.integers(0, 256, (40, length), dtype=np.uint8)
    digests = keccak256_rows(messages)
    assert [d.tobytes() for d in digests] == [keccak(m.tobytes()) for m in messages]


def test_refuses_what_is_not_rows_of_bytes():
    with pytest.raises(ValueError, match="must be"):
        keccak256_rows(np.zeros(RATE_BYTES, np.uint8))


def test_leaf_hashes_are_the_bytes32_leaves():
    ids = [os.urandom(32) for _ in range(50)]
    got = bytes32_leaf_hashes(np.frombuffer(b"".join(ids), np.uint8).reshape(-1, 32))
    assert [g.tobytes() for g in got] == [leaf_hash(LEAF_TYPES, (i,)) for i in ids]


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 13, 64, 257, 1000])
def test_fast_tree_equals_the_reference_tree(count):
    ids = [os.urandom(32) for _ in range(count)]
    fast = StandardMerkleTree.of_bytes32(ids)
    reference = StandardMerkleTree.of([(i,) for i in ids], LEAF_TYPES)
    assert fast.tree == reference.tree
    assert [fast.proof(k) for k in range(count)] == [reference.proof(k) for k in range(count)]
    assert fast.values == reference.values
    assert epoch_tree(ids).root == reference.root


def test_ties_in_the_leading_bytes_sort_as_big_endian_numbers():
    """Leaf hashes that share leading bytes are ordered by the later bytes, as the reference
    sorts them: ids chosen (by search) so some leaf hashes share their first byte."""
    ids, seen = [], {}
    for k in range(4000):
        candidate = k.to_bytes(32, "big")
        first = leaf_hash(LEAF_TYPES, (candidate,))[0]
        if first in seen and len(ids) < 60:
            ids += [seen.pop(first), candidate]
        else:
            seen[first] = candidate
    assert len(ids) == 60
    reference = StandardMerkleTree.of([(i,) for i in ids], LEAF_TYPES)
    assert StandardMerkleTree.of_bytes32(ids).tree == reference.tree


def test_duplicates_are_refused_like_the_reference():
    ids = [os.urandom(32) for _ in range(5)]
    ids.append(ids[2])
    with pytest.raises(DuplicateLeafError, match="values 2 and 5"):
        StandardMerkleTree.of([(i,) for i in ids], LEAF_TYPES)
    with pytest.raises(DuplicateLeafError, match="values 2 and 5"):
        StandardMerkleTree.of_bytes32(ids)


def test_bad_leaves_are_refused():
    with pytest.raises(ValueError, match="at least one leaf"):
        StandardMerkleTree.of_bytes32([])
    with pytest.raises(ValueError, match="32 bytes"):
        StandardMerkleTree.of_bytes32([b"short"])


@pytest.mark.parametrize("count", [1, 2, 3, 7, 64, 300])
def test_proofs_read_from_stored_nodes_equal_the_trees(count):
    """proof_from_nodes finds a leaf in a tree kept as flat bytes (as the store keeps it)."""
    ids = [os.urandom(32) for _ in range(count)]
    tree = StandardMerkleTree.of([(i,) for i in ids], LEAF_TYPES)
    nodes = b"".join(tree.tree)
    assert [proof_from_nodes(nodes, tree.leaf_hash(k)) for k in range(count)] == \
        [tree.proof(k) for k in range(count)]
    assert proof_from_nodes(nodes, leaf_hash(LEAF_TYPES, (os.urandom(32),))) is None
    assert proof_from_nodes(nodes[:-1], tree.leaf_hash(0)) is None
    assert proof_from_nodes(nodes + bytes(32), tree.leaf_hash(0)) is None
