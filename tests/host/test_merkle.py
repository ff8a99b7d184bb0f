"""rosvd.merkle against @openzeppelin/merkle-tree (via node) and on its own."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import eth_abi
import pytest

from rosvd.merkle import (
    DuplicateLeafError,
    StandardMerkleTree,
    leaf_hash,
    process_proof,
    verify,
    verify_multiproof,
)

REPO = Path(__file__).resolve().parents[2]
REFERENCE_SCRIPT = Path(__file__).with_name("merkle_reference.mjs")
JS_PACKAGE = REPO / "node_modules" / "@openzeppelin" / "merkle-tree"

SIZES = (1, 2, 3, 7, 256)
ENCODINGS = (("bytes32",), ("bytes32", "uint256"))


def _digest(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def _values(size: int, encoding: tuple[str, ...]) -> list[tuple]:
    values = []
    for i in range(size):
        word = _digest("leaf", size, i)
        if encoding == ("bytes32",):
            values.append((word,))
        else:
            # Spread the numbers over the whole uint256 range, both ends included.
            number = (2**256 - 1) if i == 1 else int.from_bytes(_digest("n", size, i)) >> (8 * (i % 32))
            values.append((word, number))
    return values


def _to_json(value: object) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def _hex(nodes) -> list[str]:
    return ["0x" + node.hex() for node in nodes]


def _cases() -> list[dict]:
    cases = []
    for encoding in ENCODINGS:
        for size in SIZES:
            cases.append({"types": list(encoding), "values": _values(size, encoding), "sort": True,
                          "allow_duplicates": False, "multi": sorted({0, size // 2, size - 1})})
    cases.append({"types": ["bytes32"], "values": _values(7, ("bytes32",)), "sort": False,
                  "allow_duplicates": False, "multi": [1, 2, 6]})
    duplicated = _values(3, ("bytes32", "uint256"))
    cases.append({"types": ["bytes32", "uint256"], "values": [*duplicated, duplicated[1]], "sort": True,
                  "allow_duplicates": True, "multi": [3]})
    cases.append({"types": ["bytes32"], "values": _values(256, ("bytes32",)), "sort": True,
                  "allow_duplicates": False, "multi": []})
    cases.append({"types": ["bytes32"], "values": _values(256, ("bytes32",)), "sort": True,
                  "allow_duplicates": False, "multi": list(range(0, 256, 5))})
    return cases


@pytest.fixture(scope="module")
def reference() -> list[dict]:
    if not JS_PACKAGE.is_dir():
        pytest.skip(f"{JS_PACKAGE.relative_to(REPO)} is missing: run `npm ci` at the repo root")
    node = shutil.which("node")
    assert node, "node_modules is installed but `node` is not on PATH"
    request = [{"types": case["types"], "values": [[_to_json(v) for v in value] for value in case["values"]],
                "sortLeaves": case["sort"], "multi": case["multi"]} for case in _cases()]
    completed = subprocess.run([node, str(REFERENCE_SCRIPT)], input=json.dumps(request), cwd=REPO,
                               capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@pytest.mark.parametrize("case_index", range(len(_cases())))
def test_matches_openzeppelin(reference, case_index):
    case = _cases()[case_index]
    expected = reference[case_index]
    tree = StandardMerkleTree.of(case["values"], case["types"], sort_leaves=case["sort"],
                                 allow_duplicates=case["allow_duplicates"])
    assert "0x" + tree.root.hex() == expected["root"]
    assert [_hex(tree.proof(i)) for i in range(len(tree))] == expected["proofs"]
    multiproof = tree.multiproof(case["multi"])
    assert [[_to_json(v) for v in value] for value in multiproof.values] == expected["multiproof"]["leaves"]
    assert _hex(multiproof.proof) == expected["multiproof"]["proof"]
    assert list(multiproof.proof_flags) == expected["multiproof"]["proofFlags"]


def test_known_root_without_node():
    # Recorded from @openzeppelin/merkle-tree 1.0.8, so this runs where node is absent.
    tree = StandardMerkleTree.of([(b"\x11" * 32, 5), (b"\x22" * 32, 7)], ["bytes32", "uint256"])
    assert tree.root.hex() == "fee8b9b763601ce5b2537a306c9c02bd0f71b77908896d43ca6080301b2fccec"
    assert [p.hex() for p in tree.proof(0)] == [
        "ec0d916f824f55c77bcb41f9c5f28fd5eda9bd198c1aaa66a1061beeb5a7445a"]


@pytest.mark.parametrize("size", SIZES)
def test_every_proof_verifies_and_tampering_fails(size):
    values = _values(size, ("bytes32", "uint256"))
    tree = StandardMerkleTree.of(values, ["bytes32", "uint256"])
    for index, value in enumerate(values):
        leaf = leaf_hash(["bytes32", "uint256"], value)
        proof = tree.proof(index)
        assert leaf == tree.leaf_hash(index)
        assert verify(tree.root, leaf, proof)
        assert tree.verify(index, proof)
        # A changed leaf value, a flipped proof bit, a dropped or an extra element all fail.
        assert not verify(tree.root, leaf_hash(["bytes32", "uint256"], (value[0], value[1] ^ 1)), proof)
        if proof:
            flipped = bytearray(proof[-1])
            flipped[0] ^= 0x80
            assert not verify(tree.root, leaf, [*proof[:-1], bytes(flipped)])
            assert not verify(tree.root, leaf, proof[:-1])
        assert not verify(tree.root, leaf, [*proof, leaf])


def test_single_leaf_root_is_the_leaf_hash():
    value = (_digest("only"),)
    tree = StandardMerkleTree.of([value], ["bytes32"])
    assert tree.root == leaf_hash(["bytes32"], value)
    assert tree.proof(0) == []
    assert verify(tree.root, tree.root, [])


def test_multiproof_verifies_and_tampering_fails():
    tree = StandardMerkleTree.of(_values(7, ("bytes32",)), ["bytes32"])
    multiproof = tree.multiproof([0, 3, 4])
    assert verify_multiproof(tree.root, multiproof.leaf_hashes, multiproof.proof, multiproof.proof_flags)
    swapped = list(multiproof.leaf_hashes)
    swapped[0] = tree.leaf_hash(1)
    assert not verify_multiproof(tree.root, swapped, multiproof.proof, multiproof.proof_flags)
    with pytest.raises(ValueError, match="invalid multiproof"):
        verify_multiproof(tree.root, multiproof.leaf_hashes, multiproof.proof[:-1], multiproof.proof_flags)
    with pytest.raises(ValueError, match="same leaf index twice"):
        tree.multiproof([2, 2])


def test_sorting_is_by_leaf_hash():
    values = _values(7, ("bytes32",))
    tree = StandardMerkleTree.of(values, ["bytes32"])
    leaves = list(reversed(tree.tree[-7:]))
    assert leaves == sorted(leaf_hash(["bytes32"], v) for v in values)
    unsorted = StandardMerkleTree.of(values, ["bytes32"], sort_leaves=False)
    assert list(reversed(unsorted.tree[-7:])) == [leaf_hash(["bytes32"], v) for v in values]
    assert unsorted.root != tree.root


def test_duplicates_are_refused_unless_allowed():
    values = _values(3, ("bytes32",))
    with pytest.raises(DuplicateLeafError, match="values 0 and 3 have the same leaf hash"):
        StandardMerkleTree.of([*values, values[0]], ["bytes32"])
    tree = StandardMerkleTree.of([*values, values[0]], ["bytes32"], allow_duplicates=True)
    assert len(tree) == 4
    assert tree.leaf_hash(0) == tree.leaf_hash(3)
    assert tree.proof(0) != tree.proof(3)
    assert tree.verify(0, tree.proof(0)) and tree.verify(3, tree.proof(3))


def test_errors_are_clear():
    with pytest.raises(ValueError, match="at least one leaf"):
        StandardMerkleTree.of([], ["bytes32"])
    with pytest.raises(ValueError, match="at least one ABI type"):
        StandardMerkleTree.of([()], [])
    with pytest.raises(ValueError, match="leaf has 1 values but the encoding has 2 types"):
        StandardMerkleTree.of([(b"\x00" * 32,)], ["bytes32", "uint256"])
    with pytest.raises(ValueError, match="cannot ABI-encode"):
        StandardMerkleTree.of([("0x" + "00" * 32,)], ["bytes32"])
    with pytest.raises(ValueError, match="cannot ABI-encode"):
        StandardMerkleTree.of([(b"\x00" * 32, -1)], ["bytes32", "uint256"])
    tree = StandardMerkleTree.of(_values(3, ("bytes32",)), ["bytes32"])
    with pytest.raises(IndexError, match="leaf index 3 out of range for a tree of 3 leaves"):
        tree.proof(3)
    with pytest.raises(IndexError, match="out of range"):
        tree.proof(-1)
    with pytest.raises(ValueError, match="proof element 0 must be 32 bytes, got 31 bytes"):
        process_proof(tree.leaf_hash(0), [b"\x00" * 31])
    with pytest.raises(ValueError, match="root must be 32 bytes"):
        verify(b"", tree.leaf_hash(0), tree.proof(0))


# ---- single-bytes32 leaves (the product's epoch trees), pinned without node ------------------

#: Leaf values ``bytes([0x11 * (i + 1)]) * 32`` (0x1111..11, 0x2222..22, ...): roots and proofs of
#: ``StandardMerkleTree.of(values[:size], ["bytes32"])``, recorded from
#: @openzeppelin/merkle-tree 1.0.8 and equal to :func:`_oz_tree` below.
BYTES32_VALUES = [bytes([0x11 * (i + 1)]) * 32 for i in range(5)]
BYTES32_PINS = {
    1: {"root": "ddf01ddd376b0754614e249410f966d61b6560ef80e7495eaa08341d4e534a2e", "proof0": []},
    2: {"root": "cb18cb5843115351c1cf5f505b6c5929e5b4480a0f3666d63f5d885c49f4acad",
        "proof0": ["0f7e1163c9397953c541dc1b3e1fdde14cb0452e6ee4f9e81cd9665cd5f01774"]},
    3: {"root": "a9b9d19e00269b8e357d6b17ae987e7f306e63b8e77615ce706ec522974d2fea",
        "proof0": ["0f7e1163c9397953c541dc1b3e1fdde14cb0452e6ee4f9e81cd9665cd5f01774",
                   "f71106156f6c6fb1e886f1022b84b417bc07ade1ba787da2e849607e605475b7"]},
    5: {"root": "84ff965e6ec40e39acda61b51d85b149ba962e2106f5e4f7a364a8f5c82c5fec",
        "proof0": ["337a640cac252e32e300c2d250375e8ca664d4d26d9a5d89171850bbb1e31c90",
                   "5a91978a0c629c2babfab0afa394eef37c259372b7d5a99d7ed3f90ce0d513be"]},
}


def _oz_tree(values: list[bytes]) -> list[bytes]:
    """StandardMerkleTree's array from its definition, with keccak alone: leaf
    ``keccak256(keccak256(abi.encode(bytes32)))`` (abi.encode of one bytes32 is the 32
    bytes themselves), leaves sorted ascending and stored from the end of the array, node
    ``i`` the sorted-pair hash of nodes ``2i+1`` and ``2i+2``."""
    from eth_hash.auto import keccak

    leaves = sorted(keccak(keccak(value)) for value in values)
    tree = [b""] * (2 * len(leaves) - 1)
    for position, leaf in enumerate(leaves):
        tree[len(tree) - 1 - position] = leaf
    for i in range(len(tree) - 1 - len(leaves), -1, -1):
        left, right = sorted((tree[2 * i + 1], tree[2 * i + 2]))
        tree[i] = keccak(left + right)
    return tree


def _oz_proof(tree: list[bytes], leaf: bytes) -> list[bytes]:
    index = tree.index(leaf)
    proof = []
    while index > 0:
        proof.append(tree[index + 1 if index % 2 else index - 1])
        index = (index - 1) // 2
    return proof


def _oz_process(leaf: bytes, proof: list[bytes]) -> bytes:
    """MerkleProof.processProof: fold the proof into the leaf with sorted-pair hashing."""
    from eth_hash.auto import keccak

    node = leaf
    for sibling in proof:
        node = keccak(min(node, sibling) + max(node, sibling))
    return node


@pytest.mark.parametrize("size", BYTES32_PINS)
def test_single_bytes32_leaves_known_root_and_proof_without_node(size):
    from eth_hash.auto import keccak

    values = BYTES32_VALUES[:size]
    expected = BYTES32_PINS[size]
    reference = _oz_tree(values)
    assert reference[0].hex() == expected["root"]
    tree = StandardMerkleTree.of([(v,) for v in values], ["bytes32"])
    assert tree.root.hex() == expected["root"]
    # abi.encode of one bytes32 is the value itself (the premise of the definition above)
    assert all(eth_abi.encode(["bytes32"], [v]) == v for v in values)
    for index, value in enumerate(values):
        leaf = keccak(keccak(value))
        assert leaf_hash(["bytes32"], (value,)) == leaf == tree.leaf_hash(index)
        proof = tree.proof(index)
        assert proof == _oz_proof(reference, leaf)
        assert _oz_process(leaf, proof) == tree.root
        assert verify(tree.root, leaf, proof)
    assert [p.hex() for p in tree.proof(0)] == expected["proof0"]
