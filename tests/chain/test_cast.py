"""The registry through Foundry's ``cast``: an independent client reads and writes it.

Python deploys, registers and anchors a real 37-leaf epoch tree (device-signed); ``cast``
alone then reads the anchor digest the device signs, verifies proofs through the contract
view, reads the anchor, finds the ``Anchored`` event, and sends a ``flag`` transaction
(with its Merkle proof) that Python reads back. Nothing here
shares ABI code with web3.py, so a wrong ABI or encoding on either side shows up.
"""
from __future__ import annotations

import json

import pytest
from eth_hash.auto import keccak

from rosvd.certificate import LEAF_TYPES
from rosvd.chain.contracts import FlagStatus
from rosvd.chain.typed_data import AnchorMessage, anchor_digest
from rosvd.identity import DeviceIdentity
from rosvd.merkle import StandardMerkleTree

from .conftest import NODE_MODULES, require_node_modules

EPOCH = 1
LEAVES = 37
ITERATIONS = 1_000
VDF = keccak(b"vdf output, epoch 1")
ANCHORED = ("Anchored(address indexed,uint64 indexed,bytes32 indexed,bytes32,bytes32,uint64,uint64,uint64,"
            "address)")


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
    """Admin 0, member 1, device 2 (registered with its proof of possession), relayer 3;
    epoch 1 of device 2, signed by the device, relayed by 3."""
    require_node_modules()
    registry, _ = deploy()
    member, device, relayer = accounts[1:4]
    identity = DeviceIdentity.from_secret(bytes(device.key))
    registry.add_member(member.address)
    registry.using(member).register(identity, keccak(b"cast board"), keccak(b"cast metadata"))
    ids = [keccak(f"certificate {i}".encode()) for i in range(LEAVES)]
    tree = StandardMerkleTree.of([(cid,) for cid in ids], LEAF_TYPES)
    message = AnchorMessage(device.address, EPOCH, tree.root, LEAVES, VDF,
                            registry.genesis_vdf_output_hash(device.address), 1, ITERATIONS)
    signature = identity.sign_typed(anchor_digest(registry.domain, message))
    result = registry.using(relayer).anchor(message, signature)
    return registry, device, relayer, tree, ids, result


def test_cast_computes_the_anchor_digest_the_host_signs(cast_for, anchored):
    """The contract's own digest, read by cast, is the one rosvd.chain.typed_data builds."""
    registry, device, _, tree, _, _ = anchored
    message = AnchorMessage(device.address, EPOCH + 1, tree.root, LEAVES, VDF, keccak(b"prev"), 7, ITERATIONS)
    fields = ",".join([device.address, str(EPOCH + 1), hex32(tree.root), str(LEAVES), hex32(VDF),
                       hex32(keccak(b"prev")), "7", str(ITERATIONS)])
    digest = cast_for("call", registry.address,
                      "anchorDigest((address,uint64,bytes32,uint64,bytes32,bytes32,uint64,uint64))(bytes32)",
                      f"({fields})")
    assert digest == hex32(anchor_digest(registry.domain, message))


def test_cast_signatures_match_the_artifact(anchored):
    """cast's selectors for the signatures used here are those of the compiled ABI."""
    registry = anchored[0]
    selectors = {}
    for entry in registry.artifact.abi:
        if entry.get("type") == "function":
            types = [item["type"] if item["type"] != "tuple" else
                     "(" + ",".join(part["type"] for part in item["components"]) + ")"
                     for item in entry["inputs"]]
            signature = f"{entry['name']}({','.join(types)})"
            selectors[signature] = "0x" + keccak(signature.encode())[:4].hex()
    for signature in ("verifyCertificate(address,bytes32,bytes32,bytes32[])", "getAnchor(address,bytes32)",
                      "flag(address,bytes32,bytes32,bytes32[],bytes32)",
                      "anchor((address,uint64,bytes32,uint64,bytes32,bytes32,uint64,uint64),bytes)"):
        assert offline("sig", signature) == selectors[signature]


def proof_argument(proof) -> str:
    return "[" + ",".join(hex32(node) for node in proof) + "]"


def verify_with_cast(cast_for, registry, device: str, root: bytes, certificate_id: bytes, proof) -> str:
    return cast_for("call", registry.address, "verifyCertificate(address,bytes32,bytes32,bytes32[])(bool)",
                    device, hex32(root), hex32(certificate_id), proof_argument(proof))


@pytest.mark.parametrize("index", [0, 17, LEAVES - 1])
def test_cast_verifies_a_proof_through_the_contract(cast_for, anchored, accounts, index):
    registry, device, _, tree, ids, _ = anchored
    proof = tree.proof(index)
    assert len(proof) >= 5
    assert verify_with_cast(cast_for, registry, device.address, tree.root, ids[index], proof) == "true"
    tampered = list(proof)
    tampered[2] = bytes([tampered[2][0] ^ 0x80]) + tampered[2][1:]
    assert verify_with_cast(cast_for, registry, device.address, tree.root, ids[index], tampered) == "false"
    assert verify_with_cast(cast_for, registry, device.address, tree.root, ids[(index + 1) % LEAVES],
                            proof) == "false"
    assert verify_with_cast(cast_for, registry, device.address, keccak(b"unanchored"), ids[index],
                            proof) == "false"
    other = accounts[5].address  # the same root was never anchored by another device
    assert verify_with_cast(cast_for, registry, other, tree.root, ids[index], proof) == "false"


def test_cast_reads_the_anchor_record(cast_for, anchored):
    registry, device, _, tree, _, result = anchored
    output = cast_for("call", registry.address, "getAnchor(address,bytes32)((uint64,uint64,uint64,uint64))",
                      device.address, hex32(tree.root))
    fields = [int(field.strip().split()[0]) for field in output.strip("()").split(",")]
    assert fields == [EPOCH, result.block_number, LEAVES, 1]


def test_cast_finds_the_anchored_event(cast_for, anchored):
    registry, device, relayer, tree, _, result = anchored
    logs = json.loads(cast_for("logs", "--json", "--from-block", str(result.block_number),
                               "--to-block", str(result.block_number), "--address", registry.address,
                               ANCHORED, device.address))
    assert len(logs) == 1
    log = logs[0]
    assert log["transactionHash"] == hex32(result.tx_hash)
    topics = log["topics"]
    assert topics[0] == offline("keccak", ANCHORED.replace(" indexed", ""))
    assert int(topics[1], 16) == int(device.address, 16)
    assert int(topics[2], 16) == EPOCH and topics[3] == hex32(tree.root)
    data = offline("decode-abi", "--input", "f(bytes32,bytes32,uint64,uint64,uint64,address)",
                   log["data"]).splitlines()
    assert data[0] == hex32(VDF)
    assert data[1] == hex32(registry.genesis_vdf_output_hash(device.address))
    assert [int(line.split()[0]) for line in data[2:5]] == [LEAVES, 1, ITERATIONS]
    assert data[5].lower() == relayer.address.lower()


def test_cast_send_is_read_by_python(cast_for, anchored, devnet, accounts):
    registry, _, _, tree, ids, _ = anchored
    flagger = accounts[7]
    reason = keccak(b"notice: this is my photograph")
    receipt = json.loads(cast_for("send", "--json", "--private-key", devnet.private_keys[7], registry.address,
                                  "flag(address,bytes32,bytes32,bytes32[],bytes32)", anchored[1].address,
                                  hex32(tree.root), hex32(ids[3]), proof_argument(tree.proof(3)),
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
