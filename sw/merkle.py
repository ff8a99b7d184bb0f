"""Merkle trees of epoch batches, compatible with OpenZeppelin's ``StandardMerkleTree``.

A tree built here has the same root, the same tree layout, and gives the same proofs and
multiproofs as ``StandardMerkleTree.of(values, types)`` of the npm package
``@openzeppelin/merkle-tree`` (1.0.x), so OpenZeppelin's ``MerkleProof.verify`` /
``multiProofVerify`` accept them on chain.

The scheme, stated as a contract:

- leaf hash: ``keccak256(keccak256(abi.encode(types, values)))`` (hashed twice so that no
  64-byte leaf encoding can pass for an inner node);
- node hash: ``keccak256(min(a, b) ++ max(a, b))``, bytes compared as unsigned big-endian
  numbers, so a proof needs no left/right flags;
- leaves are sorted by leaf hash (stable, ascending) unless ``sort_leaves=False``;
- the tree is a complete binary tree in one array: ``tree[0]`` is the root, the children
  of node ``i`` are ``2i+1`` and ``2i+2``, and the ``n`` leaves occupy the last ``n`` slots
  in reverse order (leaf ``k`` of the sorted order sits at ``len(tree) - 1 - k``);
- a proof lists the sibling hashes from the leaf up to (not including) the root; a tree of
  one leaf has the leaf hash as root and an empty proof.

Indices given to :meth:`StandardMerkleTree.proof` are positions in the ``values`` passed to
:meth:`StandardMerkleTree.of`, as with ``getProof(number)`` in the JavaScript library.

Duplicates: two values with the same leaf hash are refused by default
(:class:`DuplicateLeafError`), because an epoch that certifies the same thing twice is a bug
upstream, and a proof for "the" duplicate would be ambiguous. ``allow_duplicates=True``
keeps both leaves exactly as the JavaScript library does (stable sort, both in the tree,
each provable by its own index).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import eth_abi
from eth_abi.exceptions import EncodingError
from eth_hash.auto import keccak

__all__ = [
    "HASH_BYTES",
    "DuplicateLeafError",
    "MultiProof",
    "StandardMerkleTree",
    "leaf_hash",
    "node_hash",
    "process_multiproof",
    "proof_from_nodes",
    "process_proof",
    "verify",
    "verify_multiproof",
]

#: Size of every node of the tree (a keccak256 digest).
HASH_BYTES = 32


class DuplicateLeafError(ValueError):
    """Two values of one tree have the same leaf hash (see the module docstring)."""


def _check_node(node: bytes, what: str) -> bytes:
    if not isinstance(node, bytes | bytearray) or len(node) != HASH_BYTES:
        shown = f"{len(node)} bytes" if isinstance(node, bytes | bytearray) else type(node).__name__
        raise ValueError(f"{what} must be {HASH_BYTES} bytes, got {shown}")
    return bytes(node)


def leaf_hash(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """``keccak256(keccak256(abi.encode(types, values)))`` of one leaf.

    ``values`` are Python values as ``eth_abi`` takes them: ``bytes`` for ``bytesN``/``bytes``,
    ``int`` for ``uintN``/``intN``, a checksummed or lower-case hex ``str`` for ``address``.
    """
    types = list(types)
    values = list(values)
    if types == ["bytes32"] and len(values) == 1 and isinstance(values[0], bytes) and len(values[0]) == 32:
        # abi.encode of one bytes32 is the value itself: skip the general encoder (a
        # 4096-leaf epoch tree spends most of its time there otherwise).
        return keccak(keccak(values[0]))
    if len(types) != len(values):
        raise ValueError(f"leaf has {len(values)} values but the encoding has {len(types)} types {types}")
    try:
        encoded = eth_abi.encode(types, values)
    except (EncodingError, ValueError, TypeError) as error:
        raise ValueError(f"cannot ABI-encode leaf {values!r} as {types}: {error}") from error
    return keccak(keccak(encoded))


def node_hash(a: bytes, b: bytes) -> bytes:
    """Commutative hash of two nodes: keccak256 of the smaller one followed by the larger one."""
    return keccak(a + b if a <= b else b + a)


def process_proof(leaf: bytes, proof: Iterable[bytes]) -> bytes:
    """The root that ``proof`` leads to from the leaf hash ``leaf``."""
    node = _check_node(leaf, "leaf hash")
    for position, sibling in enumerate(proof):
        node = node_hash(node, _check_node(sibling, f"proof element {position}"))
    return node


def verify(root: bytes, leaf: bytes, proof: Iterable[bytes]) -> bool:
    """Whether ``proof`` proves the leaf hash ``leaf`` to be in the tree with ``root``.

    Malformed input (a node that is not 32 bytes) raises ``ValueError`` rather than
    returning ``False``, so a caller's encoding bug is not mistaken for a forged proof.
    """
    return process_proof(leaf, proof) == _check_node(root, "root")


@dataclass(frozen=True)
class MultiProof:
    """Proof of several leaves at once, in the form OpenZeppelin's ``multiProofVerify`` takes.

    ``leaf_hashes`` must be passed in this order (deepest tree position first); ``values``
    are the matching leaf values, in the same order.
    """

    values: tuple[tuple[Any, ...], ...]
    leaf_hashes: tuple[bytes, ...]
    proof: tuple[bytes, ...]
    proof_flags: tuple[bool, ...]


def process_multiproof(leaf_hashes: Sequence[bytes], proof: Sequence[bytes],
                       proof_flags: Sequence[bool]) -> bytes:
    """The root that a multiproof leads to (``MerkleProof.processMultiProof``)."""
    queue = deque(_check_node(leaf, f"leaf hash {i}") for i, leaf in enumerate(leaf_hashes))
    siblings = deque(_check_node(node, f"proof element {i}") for i, node in enumerate(proof))
    if len(siblings) < sum(1 for flag in proof_flags if not flag):
        raise ValueError("invalid multiproof: fewer proof elements than proof flags that need one")
    if len(queue) + len(siblings) != len(proof_flags) + 1:
        raise ValueError(
            f"invalid multiproof: {len(queue)} leaves + {len(siblings)} proof elements must be "
            f"{len(proof_flags)} flags + 1")
    for step, flag in enumerate(proof_flags):
        if len(queue) < (2 if flag else 1):
            raise ValueError(f"invalid multiproof: proof flag {step} has no leaf or node left to hash")
        first = queue.popleft()
        second = queue.popleft() if flag else siblings.popleft()
        queue.append(node_hash(first, second))
    # The length check above leaves exactly one node: the root, or the lone proof element
    # of an empty multiproof.
    node = queue.pop() if queue else siblings.popleft()
    return node


def verify_multiproof(root: bytes, leaf_hashes: Sequence[bytes], proof: Sequence[bytes],
                      proof_flags: Sequence[bool]) -> bool:
    """Whether the multiproof proves all ``leaf_hashes`` to be in the tree with ``root``."""
    return process_multiproof(leaf_hashes, proof, proof_flags) == _check_node(root, "root")


def _sibling(index: int) -> int:
    return index + 1 if index % 2 else index - 1


def _parent(index: int) -> int:
    return (index - 1) // 2


def proof_from_nodes(nodes: bytes, leaf: bytes) -> list[bytes] | None:
    """The proof of ``leaf`` (a leaf hash) from a tree's nodes stored flat (every node of
    :attr:`StandardMerkleTree.tree`, joined), without building the tree: the leaves occupy
    the last slots in descending order, so the leaf is found by binary search. None when
    ``leaf`` is not one of them (or ``nodes`` is not a tree's layout)."""
    if len(nodes) % HASH_BYTES or not nodes or len(leaf) != HASH_BYTES:
        return None
    size = len(nodes) // HASH_BYTES
    if size % 2 == 0:
        return None
    count = (size + 1) // 2

    def ascending(k: int) -> bytes:  # k-th smallest leaf: tree[size - 1 - k]
        start = (size - 1 - k) * HASH_BYTES
        return nodes[start:start + HASH_BYTES]
    low, high = 0, count
    while low < high:
        middle = (low + high) // 2
        if ascending(middle) < leaf:
            low = middle + 1
        else:
            high = middle
    if low == count or ascending(low) != leaf:
        return None
    node, path = size - 1 - low, []
    while node > 0:
        sibling = _sibling(node)
        path.append(nodes[sibling * HASH_BYTES:(sibling + 1) * HASH_BYTES])
        node = _parent(node)
    return path


class StandardMerkleTree:
    """A built tree; make one with :meth:`of`.

    Attributes:
        leaf_encoding: the ABI types of every leaf.
        values: the leaf values in the order given to :meth:`of`.
        tree: every node, root first (layout in the module docstring).
    """

    def __init__(self, tree: Sequence[bytes], values: Sequence[tuple[Any, ...]],
                 tree_indices: Sequence[int], leaf_encoding: Sequence[str]):
        self.tree = tuple(tree)
        self.values = tuple(values)
        self.leaf_encoding = tuple(leaf_encoding)
        self._tree_indices = tuple(tree_indices)

    @classmethod
    def of(cls, values: Iterable[Sequence[Any]], leaf_encoding: Sequence[str], *,
           sort_leaves: bool = True, allow_duplicates: bool = False) -> StandardMerkleTree:
        """Build the tree of ``values`` (one sequence of ABI values per leaf).

        Raises:
            ValueError: no values, a value that does not match ``leaf_encoding``.
            DuplicateLeafError: two values hash alike and ``allow_duplicates`` is false.
        """
        leaf_encoding = tuple(leaf_encoding)
        if not leaf_encoding:
            raise ValueError("leaf_encoding must name at least one ABI type, e.g. ['bytes32']")
        values = [tuple(value) for value in values]
        if not values:
            raise ValueError("a Merkle tree needs at least one leaf; got no values")
        hashes = [leaf_hash(leaf_encoding, value) for value in values]
        if not allow_duplicates:
            first_seen: dict[bytes, int] = {}
            for index, digest in enumerate(hashes):
                if digest in first_seen:
                    raise DuplicateLeafError(
                        f"values {first_seen[digest]} and {index} have the same leaf hash "
                        f"0x{digest.hex()}; pass allow_duplicates=True to keep both")
                first_seen[digest] = index
        order = list(range(len(values)))
        if sort_leaves:
            order.sort(key=hashes.__getitem__)  # stable, as Array.prototype.sort is
        size = 2 * len(values) - 1
        tree: list[bytes] = [b""] * size
        tree_indices = [0] * len(values)
        for position, value_index in enumerate(order):
            tree_indices[value_index] = size - 1 - position
            tree[size - 1 - position] = hashes[value_index]
        for node in range(size - 1 - len(values), -1, -1):
            tree[node] = node_hash(tree[2 * node + 1], tree[2 * node + 2])
        return cls(tree, values, tree_indices, leaf_encoding)

    @classmethod
    def of_bytes32(cls, values: Sequence[bytes]) -> StandardMerkleTree:
        """The tree :meth:`of` builds for ``[(v,) for v in values]`` with ``["bytes32"]``
        leaves (an epoch's tree of certificate ids), hashed in one compiled kernel
        (:mod:`rosvd.keccak_batch`): tens of times faster, and equal node for node
        (tests/host/test_keccak_batch.py). Duplicates are refused as :meth:`of` refuses them."""
        import numpy as np

        from .keccak_batch import bytes32_leaf_hashes, fill_inner_nodes
        values = [bytes(value) for value in values]
        if not values:
            raise ValueError("a Merkle tree needs at least one leaf; got no values")
        if any(len(value) != HASH_BYTES for value in values):
            raise ValueError(f"bytes32 leaves must be {HASH_BYTES} bytes each")
        count = len(values)
        hashes = bytes32_leaf_hashes(np.frombuffer(b"".join(values), np.uint8).reshape(count, HASH_BYTES))
        # Sort by the hash as an unsigned big-endian number, stably: four 64-bit keys,
        # most significant last for lexsort.
        keys = hashes.view(">u8")
        order = np.lexsort(keys.T[::-1])
        ordered = hashes[order]
        duplicate = np.flatnonzero((ordered[1:] == ordered[:-1]).all(axis=1))
        if len(duplicate):
            first, second = sorted((int(order[duplicate[0]]), int(order[duplicate[0] + 1])))
            digest = ordered[duplicate[0]].tobytes().hex()
            raise DuplicateLeafError(f"values {first} and {second} have the same leaf hash 0x{digest};"
                                     " pass allow_duplicates=True to of() to keep both")
        size = 2 * count - 1
        nodes = np.empty((size, HASH_BYTES), np.uint8)
        nodes[size - count:] = ordered[::-1]
        fill_inner_nodes(nodes, size - count)
        tree_indices = np.empty(count, np.int64)
        tree_indices[order] = size - 1 - np.arange(count)
        flat = nodes.tobytes()
        tree = [flat[HASH_BYTES * i:HASH_BYTES * (i + 1)] for i in range(size)]
        return cls(tree, [(value,) for value in values], tree_indices.tolist(), ("bytes32",))

    @property
    def root(self) -> bytes:
        return self.tree[0]

    def __len__(self) -> int:
        return len(self.values)

    def _tree_index(self, index: int) -> int:
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"leaf index must be an int, got {type(index).__name__}")
        if not 0 <= index < len(self.values):
            raise IndexError(f"leaf index {index} out of range for a tree of {len(self.values)} leaves")
        return self._tree_indices[index]

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash of ``values[index]``."""
        return self.tree[self._tree_index(index)]

    def proof(self, index: int) -> list[bytes]:
        """Sibling hashes from leaf ``values[index]`` up to the root (empty for one leaf)."""
        node = self._tree_index(index)
        path = []
        while node > 0:
            path.append(self.tree[_sibling(node)])
            node = _parent(node)
        return path

    def multiproof(self, indices: Iterable[int]) -> MultiProof:
        """One proof for several leaves (``getMultiProof`` of the JavaScript library)."""
        nodes = sorted((self._tree_index(i) for i in indices), reverse=True)
        if any(a == b for a, b in zip(nodes, nodes[1:], strict=False)):
            raise ValueError("cannot prove the same leaf index twice in one multiproof")
        queue = list(nodes)
        proof: list[bytes] = []
        flags: list[bool] = []
        head = 0
        while head < len(queue) and queue[head] > 0:
            node = queue[head]
            head += 1
            sibling = _sibling(node)
            if head < len(queue) and queue[head] == sibling:
                flags.append(True)
                head += 1
            else:
                flags.append(False)
                proof.append(self.tree[sibling])
            queue.append(_parent(node))
        if not nodes:
            proof.append(self.root)
        value_at = {tree_index: i for i, tree_index in enumerate(self._tree_indices)}
        return MultiProof(
            values=tuple(self.values[value_at[node]] for node in nodes),
            leaf_hashes=tuple(self.tree[node] for node in nodes),
            proof=tuple(proof),
            proof_flags=tuple(flags),
        )

    def verify(self, index: int, proof: Iterable[bytes]) -> bool:
        """Whether ``proof`` proves ``values[index]`` against this tree's root."""
        return verify(self.root, self.leaf_hash(index), proof)
