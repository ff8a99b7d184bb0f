"""``rosvd bench anchor``: gas per certificate when epochs are anchored as Merkle roots.

One run on its own Anvil (``rosvd.chain.devnet``): deploy the registry, admit a member,
register a device (dev accounts 0, 1, 2; the device signs its proof of possession), then
for each epoch size build a ``StandardMerkleTree`` over random certificate ids (seeded),
have the device sign the anchor (EIP-712) and relay it from a third account (dev account
3), one ``anchor`` transaction per epoch, epochs 1, 2, 3, ... each chained to the last.
``gas_per_certificate`` is the receipt's ``gasUsed`` (21,000 base included)
over the epoch size. ``signature_check_gas`` is what checking the device's signature adds:
``eth_estimateGas`` of the registry's ``anchorSigner(anchor, signature)`` (digest, signature
calldata, ``ecrecover``) minus that of ``anchorDigest(anchor)`` (the digest alone), measured
on the same anchor; it is included in every ``gas_used``.
Each anchored epoch is checked on chain (``getAnchor`` returns the
root, ``verifyCertificate`` accepts one leaf's proof and refuses it tampered), so a wrong
root fails the bench instead of producing a number.

Baseline, measured in the same run: the design without batching, one ``anchor``
transaction per certificate whose root is that certificate's one-leaf tree.
``certificates_per_s`` is the size over the wall time from the start of the tree build to
the receipt (``time.perf_counter``; Anvil mines on every transaction, so this measures
the host and the JSON-RPC round trips, not a real chain's block time).

``service``: the product path. A store holds ``SERVICE_EPOCHS`` closed epochs of
``SERVICE_EPOCH_SIZE`` certificates; the anchoring service (:mod:`rosvd.chain.anchor`)
anchors them on a second Anvil that mines a block every ``SERVICE_BLOCK_TIME_S`` seconds,
waiting for its default confirmation depth. Its certificates per second are bounded by the
chain (epochs in flight x size over confirmation time), not by the host; the figure shows
the service keeps many epochs in flight instead of waiting for each one's confirmations.
"""
from __future__ import annotations

import random
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from eth_account import Account
from eth_hash.auto import keccak
from web3 import Web3

from ..certificate import LEAF_TYPES
from ..chain.anchor import AnchorPolicy, AnchorService
from ..chain.contracts import DEFAULT_MIN_VDF_ITERATIONS, deploy_registry, load_artifact
from ..chain.devnet import Devnet, anvil_binary
from ..chain.sample_epochs import add_closed_epochs
from ..chain.typed_data import AnchorMessage, anchor_digest
from ..identity import DeviceIdentity
from ..merkle import StandardMerkleTree
from ..store import Store

DEFAULT_SIZES = (1, 16, 256, 4096)
#: The issue's goal, for epochs of at least GOAL_MIN_SIZE certificates.
GOAL_GAS_PER_CERTIFICATE = 300
GOAL_MIN_SIZE = 256
#: One-transaction-per-certificate anchors measured for the baseline.
NAIVE_COUNT = 16
HARDFORK = "cancun"
#: The service run: this many closed epochs of this many certificates, on a chain with this
#: block time (seconds), anchored with the service's default policy.
SERVICE_EPOCHS = 8
SERVICE_EPOCH_SIZE = 256
SERVICE_BLOCK_TIME_S = 1.0
#: Give up on the service run after this long (it should take a few block times).
SERVICE_TIMEOUT_S = 120.0


def _anvil_version() -> str | None:
    try:
        result = subprocess.run([str(anvil_binary()), "--version"], capture_output=True, text=True,
                                timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    first = result.stdout.strip().splitlines()[:1]
    return first[0].split("Version:")[-1].strip() if first else None


class _DeviceChain:
    """A device's next anchors: each names the VDF output hash of the one before."""

    def __init__(self, identity: DeviceIdentity, relay, rng: random.Random):
        self.identity, self.relay, self.rng = identity, relay, rng
        self.domain = relay.domain
        self.last_vdf_hash = relay.genesis_vdf_output_hash(identity.address)
        self.epoch = 0

    def next_message(self, root: bytes, count: int) -> AnchorMessage:
        block = max(0, self.relay.w3.eth.block_number - 1)
        return AnchorMessage(self.identity.address, self.epoch + 1, root, count,
                             keccak(self.rng.randbytes(100)), self.last_vdf_hash, block,
                             DEFAULT_MIN_VDF_ITERATIONS)

    def anchor(self, message: AnchorMessage):
        signature = self.identity.sign_typed(anchor_digest(self.domain, message))
        result = self.relay.anchor(message, signature)
        self.epoch, self.last_vdf_hash = message.epoch, message.vdf_output_hash
        return result, signature


def _anchor_tree(device_chain: _DeviceChain, ids: list[bytes]):
    """Build the tree of ``ids``, sign and relay its anchor; returns (tree, TxResult, seconds,
    tree seconds, message, signature)."""
    start = time.perf_counter()
    tree = StandardMerkleTree.of([(cid,) for cid in ids], LEAF_TYPES)
    tree_s = time.perf_counter() - start
    message = device_chain.next_message(tree.root, len(ids))
    result, signature = device_chain.anchor(message)
    return tree, result, time.perf_counter() - start, tree_s, message, signature


def _signature_check_gas(client, message: AnchorMessage, signature: bytes) -> int:
    """Gas that checking ``signature`` adds to an anchor (see the module docstring)."""
    functions = client.contract.functions
    with_check = functions.anchorSigner(message.as_tuple(), signature).estimate_gas()
    digest_only = functions.anchorDigest(message.as_tuple()).estimate_gas()
    return with_check - digest_only


def _check_anchored(client, device: str, epoch: int, tree: StandardMerkleTree, ids: list[bytes],
                    index: int) -> int:
    """Fail loudly unless the registry holds ``tree.root`` for ``epoch`` and accepts leaf
    ``index``'s proof (and refuses it tampered); returns eth_estimateGas of that check."""
    root, proof = tree.root, tree.proof(index)
    record = client.get_anchor(device, root)
    if record is None or record.epoch != epoch:
        raise RuntimeError(f"epoch {epoch}: the registry does not hold the tree's root 0x{root.hex()}")
    if not client.verify_certificate(device, root, ids[index], proof):
        raise RuntimeError(f"epoch {epoch}: verifyCertificate refused leaf {index} of its own anchored tree")
    tampered = list(proof) or [bytes(32)]
    tampered[0] = bytes([tampered[0][0] ^ 1]) + tampered[0][1:]
    if client.verify_certificate(device, root, ids[index], tampered):
        raise RuntimeError(f"epoch {epoch}: verifyCertificate accepted a tampered proof")
    return client.contract.functions.verifyCertificate(device, root, ids[index], list(proof)).estimate_gas()


def _consortium(w3, keys, artifact):
    """Deploy the registry; admit a member who registers a device (dev accounts 0, 1, 2);
    dev account 3 relays. Returns (registry as admin, device identity, relaying account)."""
    admin, member, relayer = (Account.from_key(keys[index]) for index in (0, 1, 3))
    device = DeviceIdentity.from_secret(bytes.fromhex(keys[2].removeprefix("0x")))
    registry, _ = deploy_registry(w3, admin, artifact=artifact)
    registry.add_member(member.address)
    registry.using(member).register(device, keccak(b"bench board"), keccak(b"bench metadata"))
    return registry, device, relayer


def run_service(epochs: int = SERVICE_EPOCHS, size: int = SERVICE_EPOCH_SIZE,
                block_time_s: float = SERVICE_BLOCK_TIME_S, seed: int = 0, artifact=None) -> dict:
    """Closed epochs anchored by the anchoring service with its default policy."""
    artifact = artifact or load_artifact()
    policy = AnchorPolicy(poll_s=min(0.1, block_time_s / 4))
    with Devnet(hardfork=HARDFORK, block_time=block_time_s) as net, \
            tempfile.TemporaryDirectory(prefix="rosvd-bench-anchor-") as workdir:
        w3 = Web3(Web3.HTTPProvider(net.url, request_kwargs={"timeout": 30}))
        registry, device, operator = _consortium(w3, net.private_keys, artifact)
        store = Store(Path(workdir) / "store.sqlite", create=True)
        try:
            numbers = add_closed_epochs(store, device.address, [size] * epochs, seed=seed)
            start = time.perf_counter()
            with AnchorService(store, registry.using(operator), device, policy) as service:
                service.run(until_anchored=True, timeout_s=SERVICE_TIMEOUT_S)
            wall_s = time.perf_counter() - start
            anchored = [store.anchor(number) for number in numbers]
            sent = sum(len(store.anchor_txs(number)) for number in numbers)
        finally:
            store.close()
        logs = registry.contract.events.Anchored().get_logs(from_block=0)
        if sorted(log["args"]["epoch"] for log in logs) != numbers:
            raise RuntimeError(f"the service's epochs {numbers} are not each anchored exactly once on chain")
        if any(anchor is None or anchor.state != "anchored" for anchor in anchored):
            raise RuntimeError("the service returned with an epoch not marked anchored")
    return {"epochs": epochs, "epoch_size": size, "block_time_s": block_time_s,
            "confirmations": policy.confirmations, "max_in_flight": policy.max_in_flight,
            "transactions_signed": sent, "anchored_once_on_chain": True,
            "wall_s": round(wall_s, 2), "certificates_per_s": round(epochs * size / wall_s, 1)}


def run(sizes: Sequence[int] = DEFAULT_SIZES, naive_count: int = NAIVE_COUNT, seed: int = 0,
        service: bool = True) -> dict:
    sizes = [int(size) for size in sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError("epoch sizes must be at least 1")
    if naive_count < 1:
        raise ValueError("naive_count must be at least 1")
    rng = random.Random(seed)
    started = time.perf_counter()
    artifact = load_artifact()
    with Devnet(hardfork=HARDFORK) as net:
        w3 = Web3(Web3.HTTPProvider(net.url, request_kwargs={"timeout": 30}))
        registry, device, operator = _consortium(w3, net.private_keys, artifact)
        device_chain = _DeviceChain(device, registry.using(operator), rng)

        epochs = []
        for size in sizes:
            ids = [rng.randbytes(32) for _ in range(size)]
            tree, result, wall_s, tree_s, message, signature = _anchor_tree(device_chain, ids)
            epoch = message.epoch
            index = rng.randrange(size)
            verify_gas = _check_anchored(registry, device.address, epoch, tree, ids, index)
            signature_gas = _signature_check_gas(registry, message, signature)
            epochs.append({"size": size, "epoch": epoch, "gas_used": result.gas_used,
                           "signature_check_gas": signature_gas,
                           "gas_per_certificate": result.gas_used / size,
                           "wall_s": round(wall_s, 4), "tree_build_s": round(tree_s, 4),
                           "certificates_per_s": round(size / wall_s, 1),
                           "proof_length": len(tree.proof(index)),
                           "verify_certificate_gas_estimate": verify_gas, "verified": True})

        naive_gas, naive_start = [], time.perf_counter()
        for _ in range(naive_count):
            ids = [rng.randbytes(32)]
            tree, result, _, _, message, _ = _anchor_tree(device_chain, ids)
            naive_gas.append(result.gas_used)
        naive_wall_s = time.perf_counter() - naive_start
        _check_anchored(registry, device.address, message.epoch, tree, ids, 0)

    naive_per_certificate = sum(naive_gas) / len(naive_gas)
    for record in epochs:
        record["naive_to_batched_ratio"] = round(naive_per_certificate / record["gas_per_certificate"], 2)
        record["gas_per_certificate"] = round(record["gas_per_certificate"], 2)
    goal_sizes = [record for record in epochs if record["size"] >= GOAL_MIN_SIZE]
    batched_certificates = sum(sizes)
    batched_wall_s = sum(record["wall_s"] for record in epochs)
    return {
        "sizes": sizes,
        "epochs": epochs,
        "gas_per_certificate_by_size": {str(r["size"]): r["gas_per_certificate"] for r in epochs},
        "naive_certificates": naive_count,
        "naive_gas_per_certificate": round(naive_per_certificate, 2),
        "naive_gas_min": min(naive_gas),
        "naive_gas_max": max(naive_gas),
        "naive_certificates_per_s": round(naive_count / naive_wall_s, 1),
        "certificates_anchored": batched_certificates,
        "certificates_per_s_overall": round(batched_certificates / batched_wall_s, 1),
        "goal_gas_per_certificate": GOAL_GAS_PER_CERTIFICATE,
        "goal_min_size": GOAL_MIN_SIZE,
        "goal_met": all(r["gas_per_certificate"] <= GOAL_GAS_PER_CERTIFICATE for r in goal_sizes)
        if goal_sizes else None,
        "service": run_service(seed=seed, artifact=artifact) if service else None,
        "signature_check_gas": epochs[-1]["signature_check_gas"],
        "anchored_by": "relayer (device-signed EIP-712 anchor)",
        "gas_includes_base_21000": True,
        "anvil_version": _anvil_version(),
        "solc_version": artifact.solc_version,
        "hardfork": HARDFORK,
        "seed": seed,
        "run_s": round(time.perf_counter() - started, 2),
    }
