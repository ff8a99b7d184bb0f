"""The registry through Foundry's ``cast``: an independent client reads and writes it.

Python deploys, registers and anchors a real 37-leaf epoch tree; ``cast`` alone then reads
the root, verifies proofs through the contract view, reads the anchor, finds the
``Anchored`` event, and sends a ``flag`` transaction that Python reads back. Nothing here
shares ABI code with web3.py, so a wrong ABI or encoding on either side shows up.
"""
from __future__ import annotations

import json

import pytest
from eth_hash.auto import keccak

from rosvd.certificate import LEAF_TYPES
from rosvd.chain.contracts import FlagStatus
from rosvd.merkle import StandardMerkleTree

from .conftest import NODE_MODULES, require_node_modules

EPOCH = 5
LEAVES = 37
VDF = keccak(b"vdf output, epoch 5")
ANCHORED = "Anchored(address indexed,uint64 indexed,bytes32 indexed,bytes32,uint64,address)"


def hex32(value: bytes) -> str:
    return "0x" + value.hex()


@pytest.fixture(scope="module")
def cast_for(devnet):
    if not (NODE_MODULES / "@foundry-rs" / "cast").is_dir():
        pytest.skip("node_modules lacks @foundry-rs/cast: run make setup (npm ci)")
    from rosvd.chain.cast import cast

    return lambda *args: cast(*args, rpc_url=devnet.url)


def offline(*args: str) -> str:
    """``cast`` for commands that need no node (``sig``, ``keccak``, ``decode-abi``)."""
    from rosvd.chain.cast import cast

    return cast(*args)


@pytest.fixture(scope="module")
def anchored(deploy, accounts):
    """Admin 0, member 1, device 2, operator 3; epoch 5 of device 2 anchored by the operator."""
    require_node_modules()
    registry, _ = deploy()
    member, device, operator = accounts[1:4]
    registry.add_member(member.address)
    registry.using(member).register_device(device.address, keccak(b"cast board"), keccak(b"cast metadata"))
    registry.using(member).authorise_operator(device.address, operator.address)
    ids = [keccak(f"certificate {i}".encode()) for i in range(LEAVES)]
    tree = StandardMerkleTree.of([(cid,) for cid in ids], LEAF_TYPES)
    result = registry.using(operator).anchor(device.address, EPOCH, tree.root, VDF, LEAVES)
    return registry, device, operator, tree, ids, result


def test_cast_reads_the_epoch_root(cast_for, anchored):
    registry, device, _, tree, _, _ = anchored
    signature = "epochRoot(address,uint64)(bytes32)"
    assert cast_for("call", registry.address, signature, device.address, str(EPOCH)) == hex32(tree.root)
    unanchored = cast_for("call", registry.address, signature, device.address, str(EPOCH + 1))
    assert unanchored == hex32(bytes(32))


def test_cast_signatures_match_the_artifact(anchored):
    """cast's selectors for the signatures used here are those of the compiled ABI."""
    registry = anchored[0]
    selectors = {}
    for entry in registry.artifact.abi:
        if entry.get("type") == "function":
            signature = f"{entry['name']}({','.join(item['type'] for item in entry['inputs'])})"
            selectors[signature] = "0x" + keccak(signature.encode())[:4].hex()
    for signature in ("verifyCertificate(bytes32,bytes32,bytes32[])", "epochRoot(address,uint64)",
                      "getAnchor(bytes32)", "flag(bytes32,bytes32,bytes32)"):
        assert offline("sig", signature) == selectors[signature]


def verify_with_cast(cast_for, registry, root: bytes, certificate_id: bytes, proof) -> str:
    return cast_for("call", registry.address, "verifyCertificate(bytes32,bytes32,bytes32[])(bool)",
                    hex32(root), hex32(certificate_id), "[" + ",".join(hex32(node) for node in proof) + "]")


@pytest.mark.parametrize("index", [0, 17, LEAVES - 1])
def test_cast_verifies_a_proof_through_the_contract(cast_for, anchored, index):
    registry, _, _, tree, ids, _ = anchored
    proof = tree.proof(index)
    assert len(proof) >= 5
    assert verify_with_cast(cast_for, registry, tree.root, ids[index], proof) == "true"
    tampered = list(proof)
    tampered[2] = bytes([tampered[2][0] ^ 0x80]) + tampered[2][1:]
    assert verify_with_cast(cast_for, registry, tree.root, ids[index], tampered) == "false"
    assert verify_with_cast(cast_for, registry, tree.root, ids[(index + 1) % LEAVES], proof) == "false"
    assert verify_with_cast(cast_for, registry, keccak(b"unanchored"), ids[index], proof) == "false"


def test_cast_reads_the_anchor_record(cast_for, anchored):
    registry, device, _, tree, _, result = anchored
    output = cast_for("call", registry.address,
                      "getAnchor(bytes32)((address,uint64,uint64,uint64,bytes32))", hex32(tree.root))
    fields = [field.strip() for field in output.strip("()").split(",")]
    assert fields[0].lower() == device.address.lower()
    assert [int(fields[1].split()[0]), int(fields[2].split()[0]), int(fields[3].split()[0])] == [
        EPOCH, result.block_number, LEAVES]
    assert fields[4] == hex32(VDF)


def test_cast_finds_the_anchored_event(cast_for, anchored):
    registry, device, operator, tree, _, result = anchored
    logs = json.loads(cast_for("logs", "--json", "--from-block", str(result.block_number),
                               "--to-block", str(result.block_number), "--address", registry.address,
                               ANCHORED, device.address))
    assert len(logs) == 1
    log = logs[0]
    assert log["transactionHash"] == hex32(result.tx_hash)
    topics = log["topics"]
    assert topics[0] == offline("keccak", "Anchored(address,uint64,bytes32,bytes32,uint64,address)")
    assert int(topics[1], 16) == int(device.address, 16)
    assert int(topics[2], 16) == EPOCH and topics[3] == hex32(tree.root)
    data = offline("decode-abi", "--input", "f(bytes32,uint64,address)", log["data"]).splitlines()
    assert data[0] == hex32(VDF)
    assert int(data[1].split()[0]) == LEAVES
    assert data[2].lower() == operator.address.lower()


def test_cast_send_is_read_by_python(cast_for, anchored, devnet, accounts):
    registry, _, _, tree, ids, _ = anchored
    flagger = accounts[7]
    reason = keccak(b"notice: this is my photograph")
    receipt = json.loads(cast_for("send", "--json", "--private-key", devnet.private_keys[7], registry.address,
                                  "flag(bytes32,bytes32,bytes32)", hex32(tree.root), hex32(ids[3]),
                                  hex32(reason)))
    assert int(receipt["status"], 16) == 1
    flags = registry.flags_of(ids[3])
    assert len(flags) == 1
    record = registry.get_flag(flags[0])
    assert (record.root, record.certificate_id, record.reason_hash) == (tree.root, ids[3], reason)
    assert record.flagger == flagger.address and record.status == FlagStatus.OPEN
    tx_receipt = registry.w3.eth.get_transaction_receipt(receipt["transactionHash"])
    flagged = [event for event in registry.decode_events(tx_receipt) if event.name == "Flagged"]
    assert flagged[0].args["flagId"] == flags[0] and flagged[0].args["flagger"] == flagger.address


def test_missing_cast_names_make_setup(tmp_path):
    from rosvd.chain.cast import CastError, cast_binary

    with pytest.raises(CastError, match="make setup"):
        cast_binary(tmp_path)
