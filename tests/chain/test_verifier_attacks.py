"""The verifier against a real Anvil: every attack of issue 16, and 1,000+ tampered bundles.

One devnet and one registry per module. An honest appliance (model device) joins it,
certifies two epochs and anchors them through the anchoring service; its bundles verify.
Each attack then builds what a hostile host, device or member could hand a verifier, and
the verifier must refuse it by name. Attacks that change the chain run on a snapshot.
"""
from __future__ import annotations

import copy
import json
import random
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account
from web3 import Web3

from rosvd import ingest, vdf
from rosvd.certificate import decode
from rosvd.certify import Appliance, ApplianceConfig, initialise
from rosvd.chain.anchor import AnchorPolicy, AnchorService, anchor_message
from rosvd.chain.blocks import ChainBlocks
from rosvd.chain.commands import join
from rosvd.chain.contracts import RegistryClient, RegistryError, deploy_registry
from rosvd.chain.deployment import Deployment
from rosvd.chain.devnet import Devnet, rpc
from rosvd.chain.typed_data import anchor_digest
from rosvd.device import ModelDevice
from rosvd.epochs import EpochPolicy, epoch_challenge
from rosvd.verifier import CHAIN_CHECKS, OFFLINE_CHECKS, verify_bundle
from rosvd.verify import proof_bundle

from .conftest import require_node_modules

POLICY = EpochPolicy(max_certificates=64, max_age_s=3600.0, vdf_iterations=1_000)
ANCHOR_POLICY = AnchorPolicy(confirmations=1, poll_s=0.05)
DAY_MS = 86_400_000


@dataclass
class Honest:
    net: Devnet
    w3: Web3
    registry: RegistryClient          #: read-only, as a verifier holds it
    admin: object
    member: object
    relayer: object
    home: Path
    deployment: Path
    bundles: list[dict]               #: epoch 1, then two of epoch 2

    def verify(self, bundle: dict):
        return verify_bundle(bundle, self.registry)


def certify_and_anchor(home: Path, relayer, registry, count: int, seed: int, blocks=None) -> list[dict]:
    """Certify ``count`` arrays in one epoch, seal it, anchor it; return their bundles."""
    rng = np.random.default_rng(seed)
    with Appliance(home, device=ModelDevice(), blocks=blocks) as appliance:
        issued = appliance.certify([ingest.from_array(rng.integers(0, 256, (24, 24), dtype=np.uint8), f"a{i}")
                                    for i in range(count)])
        appliance.seal()
        relay = registry.using(relayer)
        with AnchorService(appliance.store, relay, appliance.identity, ANCHOR_POLICY) as service:
            service.run(until_anchored=True, timeout_s=30)
        return [json.loads(json.dumps(proof_bundle(appliance.store, item.certificate.id))) for item in issued]


@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    require_node_modules()
    scratch = tmp_path_factory.mktemp("honest")
    with Devnet() as net:
        w3 = Web3(Web3.HTTPProvider(net.url, request_kwargs={"timeout": 30}))
        admin, member, relayer = (Account.from_key(key) for key in net.private_keys[:3])
        registry, deployed = deploy_registry(w3, admin)
        registry.add_member(member.address)
        deployment = scratch / "deployment.json"
        Deployment(net.chain_id, net.url, registry.address, deployed.block_number, admin.address,
                   registry.artifact.source_hash).save(deployment)
        home = scratch / "home"
        initialise(home, ApplianceConfig(dev_mode=True, policy=POLICY))
        join(home, deployment, registry.using(member))
        bundles = certify_and_anchor(home, relayer, registry, 3, seed=1)[:1]
        bundles += certify_and_anchor(home, relayer, registry, 4, seed=2)[1:3]
        reader = RegistryClient(w3, registry.address, None, registry.artifact)
        yield Honest(net, w3, reader, admin, member, relayer, home, deployment, bundles)


@contextmanager
def snapshot(w3):
    snapshot_id = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        yield
    finally:
        assert w3.provider.make_request("evm_revert", [snapshot_id])["result"]


def failed(result) -> set[str]:
    return {check.name for check in result.checks if check.ok is False}


def new_device(honest: Honest, tmp_path: Path, name: str):
    """A second appliance, registered by the member, joined to the honest registry."""
    home = tmp_path / name
    initialise(home, ApplianceConfig(dev_mode=True, policy=POLICY))
    join(home, honest.deployment, RegistryClient(honest.w3, honest.registry.address, honest.member,
                                                     honest.registry.artifact))
    return home


def test_honest_bundles_pass_every_check(honest):
    for bundle in honest.bundles:
        result = honest.verify(bundle)
        assert result.ok, result.to_json()
        assert [check.name for check in result.checks] == [*OFFLINE_CHECKS, *CHAIN_CHECKS]
        window = result.time_window
        assert window["not_before"] <= window["claimed"] <= window["not_after"] + 1
        assert result.status == {"open_flags": []}


def test_attack_forged_unregistered_key_with_one_iteration(honest, tmp_path):
    """A fresh key, never registered, 1 VDF squaring, a zero block: it signs its own anchor
    for this registry. The math checks out; the chain does not."""
    home = tmp_path / "forger"
    initialise(home, ApplianceConfig(dev_mode=True, policy=EpochPolicy(64, 3600.0, 1)))
    with Appliance(home, device=ModelDevice()) as appliance:     # no chain: block 0, zero hash
        [item] = appliance.certify([ingest.from_bytes(b"forged", "forged.bin")])
        number = appliance.seal()
        epoch = appliance.store.epoch(number)
        bundle = proof_bundle(appliance.store, item.certificate.id)
        message = anchor_message(epoch, appliance.address)
        signature = appliance.identity.sign_typed(anchor_digest(honest.registry.domain, message))
    genuine = honest.bundles[0]["anchor"]
    bundle["anchor"] = {**genuine, "signature": signature.hex()}
    result = honest.verify(bundle)
    assert {"certificate_canonical", "device_signature", "vdf_proof", "anchor_signature"} <= {
        check.name for check in result.checks if check.ok}, "the forger's own math is sound"
    assert {"vdf_min_iterations", "named_block", "certificate_block", "anchor_on_chain"} <= failed(result)
    assert not result.ok
    with pytest.raises(RegistryError, match="DeviceNotRegistered"):
        RegistryClient(honest.w3, honest.registry.address, honest.relayer, honest.registry.artifact).anchor(
            message, signature)


class FixedBlocks:
    def __init__(self, number: int, block_hash: bytes):
        self.block = (number, block_hash)

    def recent_block(self):
        return self.block


def test_attack_nonexistent_and_back_dated_blocks(honest, tmp_path):
    # Changing the number the bundle names: the chain has no such block, or not this one.
    for number in (987_654_321, honest.bundles[1]["epoch"]["block_number"] - 1):
        bundle = copy.deepcopy(honest.bundles[1])
        bundle["epoch"]["block_number"] = number
        assert {"named_block", "anchor_signature"} <= failed(honest.verify(bundle))
    # A registered device that names a real old block number with a made-up hash (back-dating
    # its certificates and its seal): the registry takes the anchor, the verifier does not.
    home = new_device(honest, tmp_path, "backdater")
    with snapshot(honest.w3):
        fake = FixedBlocks(1, Web3.keccak(b"block 1 as the host would like it"))
        [bundle] = certify_and_anchor(home, honest.relayer, honest.registry, 1, seed=3, blocks=fake)
        result = honest.verify(bundle)
        assert {"named_block", "certificate_block"} <= failed(result)
        assert result.check("anchor_on_chain").ok, "anchored as signed"
    # A block that does not exist yet cannot be named in an anchor at all.
    home = new_device(honest, tmp_path, "futurist")
    with snapshot(honest.w3), Appliance(home, device=ModelDevice(),
                                        blocks=FixedBlocks(987_654_321, bytes(range(32)))) as appliance:
        appliance.certify([ingest.from_bytes(b"future", "future.bin")])
        appliance.seal()
        service = AnchorService(appliance.store, honest.registry.using(honest.relayer), appliance.identity,
                                ANCHOR_POLICY)
        with service, pytest.raises(Exception, match="NamedBlockNotInPast"):
            service.run(until_anchored=True, timeout_s=10)


def test_attack_broken_vdf_chain(honest, tmp_path, monkeypatch):
    """Epoch 2 re-proved over a made-up previous output: cheap, and the VDF proof itself is
    valid, but the previous output is not the one the device anchored for epoch 1."""
    bundle = copy.deepcopy(honest.bundles[1])
    epoch = bundle["epoch"]
    prev = random.Random(5).randbytes(100)
    challenge = epoch_challenge(epoch["number"], prev, bytes.fromhex(epoch["merkle_root"]),
                                bytes.fromhex(epoch["entropy"]), bytes.fromhex(epoch["block_hash"]))
    proved = vdf.prove(challenge, epoch["iterations"])
    epoch.update(prev_output=prev.hex(), vdf_output=proved.output.hex(), vdf_proof=proved.proof.hex())
    result = honest.verify(bundle)
    assert result.check("vdf_proof").ok, "a valid proof over the wrong input"
    assert {"anchor_signature", "anchor_on_chain"} <= failed(result)
    # The registry refuses such an epoch from the device itself (BrokenVdfChain), and the
    # verifier's own link check does not take the registry's word for it: a node that
    # reported another output for epoch 1 fails vdf_chain alone.
    events = honest.registry.anchored_events

    def lying(**filters):
        found = events(**filters)
        if filters.get("epoch") == 1:
            found = [type(e)(**{**e.__dict__, "vdf_output_hash": Web3.keccak(b"other")}) for e in found]
        return found

    monkeypatch.setattr(honest.registry, "anchored_events", lying)
    assert failed(honest.verify(honest.bundles[1])) == {"vdf_chain"}


def test_attack_broken_vdf_chain_refused_by_the_registry(honest, tmp_path):
    home = new_device(honest, tmp_path, "chainbreaker")
    with snapshot(honest.w3), Appliance(home, device=ModelDevice()) as appliance:
        appliance.certify([ingest.from_bytes(b"x", "x")])
        number = appliance.seal()
        epoch = appliance.store.epoch(number)
        message = anchor_message(epoch, appliance.address)
        broken = type(message)(**{**message.__dict__, "prev_vdf_output_hash": Web3.keccak(b"made up")})
        signature = appliance.identity.sign_typed(anchor_digest(honest.registry.domain, broken))
        relay = RegistryClient(honest.w3, honest.registry.address, honest.relayer, honest.registry.artifact)
        with pytest.raises(RegistryError, match="BrokenVdfChain"):
            relay.anchor(broken, signature)


def test_attack_front_run_anchor_still_verifies_for_the_victim(honest, tmp_path):
    """Automine off: an attacker copies the victim's pending anchor and sends it first; the
    victim's bundle names the attacker's transaction and verifies: front-running gains nothing."""
    home = new_device(honest, tmp_path, "victim")
    attacker = Account.from_key(honest.net.private_keys[6])
    with snapshot(honest.w3), Appliance(home, device=ModelDevice()) as appliance:
        [item] = appliance.certify([ingest.from_bytes(b"victim's content", "v.bin")])
        appliance.seal()
        rpc(honest.net.url, "evm_setAutomine", [False])
        try:
            relay = honest.registry.using(honest.relayer)
            service = AnchorService(appliance.store, relay, appliance.identity, ANCHOR_POLICY)
            with service:
                service.step()
                [ours] = appliance.store.anchor_txs(1)
                pending = honest.w3.eth.get_transaction(ours.tx_hash)
                copied = attacker.sign_transaction({
                    "to": honest.registry.address, "data": pending["input"], "gas": pending["gas"],
                    "gasPrice": 10 * honest.w3.eth.gas_price, "chainId": honest.w3.eth.chain_id,
                    "nonce": honest.w3.eth.get_transaction_count(attacker.address, "pending")})
                stolen = bytes(honest.w3.eth.send_raw_transaction(copied.raw_transaction))
                rpc(honest.net.url, "evm_mine", [])
                rpc(honest.net.url, "evm_setAutomine", [True])
                service.run(until_anchored=True, timeout_s=20)
        finally:
            rpc(honest.net.url, "evm_setAutomine", [True])
        bundle = proof_bundle(appliance.store, item.certificate.id)
        assert bundle["anchor"]["tx_hash"] == stolen.hex()
        result = honest.verify(bundle)
        assert result.ok, result.to_json()


def test_attack_revoked_device_is_reported_and_anchors_after_revocation_are_refused(honest):
    with snapshot(honest.w3):
        device = decode(bytes.fromhex(honest.bundles[0]["certificate"])).device
        admin = RegistryClient(honest.w3, honest.registry.address, honest.admin, honest.registry.artifact)
        revoked = admin.revoke_device(device)
        for bundle in honest.bundles:
            result = honest.verify(bundle)
            assert result.ok and result.status["revoked_since_block"] == revoked.block_number
        # A bundle whose anchor is at or after the revocation block fails: simulate by a
        # revocation in the past of the anchor (the record is what the verifier reads).
        real = honest.registry.get_device(device)

        def revoked_before(_):
            return type(real)(**{**real.__dict__, "revoked_block": real.registered_block})

        original, honest.registry.get_device = honest.registry.get_device, revoked_before
        try:
            assert failed(honest.verify(honest.bundles[0])) == {"device_registered"}
        finally:
            honest.registry.get_device = original


@pytest.mark.parametrize("skew_ms,passes", [(-25 * 365 * DAY_MS, False), (DAY_MS, False), (10_000, True)])
def test_attack_host_clock_skew(honest, tmp_path, monkeypatch, skew_ms, passes):
    """The host clock set to 2001, or a day ahead: the claimed time contradicts the blocks
    the certificate names and is anchored in. Ten seconds of drift is within tolerance."""
    import rosvd.certify
    from rosvd.store import now_ms
    home = new_device(honest, tmp_path, f"skew{skew_ms}")
    monkeypatch.setattr(rosvd.certify, "now_ms", lambda: now_ms() + skew_ms)
    with snapshot(honest.w3):
        [bundle] = certify_and_anchor(home, honest.relayer, honest.registry, 1, seed=4,
                                      blocks=ChainBlocks(honest.w3))
        result = honest.verify(bundle)
    assert result.check("time_window").ok is passes, result.time_window
    assert failed(result) == (set() if passes else {"time_window"})


@pytest.mark.parametrize("path,value,check", [
    (("version",), 2, "bundle_format"),
    (("epoch", "count"), "+1", "anchor_signature"),
    (("epoch", "block_number"), "+1", "named_block"),
    (("anchor", "chain_id"), "+1", "chain_identity"),
    (("anchor", "registry"), "0x" + "11" * 20, "chain_identity"),
    (("anchor", "block_number"), "+1", "anchor_on_chain"),
    (("anchor", "tx_hash"), "00" * 32, "anchor_on_chain"),
    (("anchor", "signature"), None, "anchor_signature"),
])
def test_attack_every_formerly_unchecked_field(honest, path, value, check):
    bundle = copy.deepcopy(honest.bundles[1])
    holder = bundle
    for key in path[:-1]:
        holder = holder[key]
    if value == "+1":
        holder[path[-1]] += 1
    elif value is None:  # the other certificate's anchor signature (another epoch)
        holder[path[-1]] = honest.bundles[0]["anchor"]["signature"]
    else:
        holder[path[-1]] = value
    assert check in failed(honest.verify(bundle))


# ---- tampering: every field of real anchored bundles -------------------------------------

#: For each field, the checks of which at least one must fail when its value changes.
EXPECTED = {
    "version": {"bundle_format"},
    "certificate": {"bundle_format", "certificate_canonical", "device_signature"},
    "signature": {"bundle_format", "device_signature"},
    "nonce": {"bundle_format", "entropy_commitment"},
    "merkle_proof": {"bundle_format", "merkle_path"},
    "epoch": {"bundle_format", "epoch_number"},   # swapped whole: another epoch's
    "epoch.number": {"bundle_format", "epoch_number"},
    "epoch.count": {"bundle_format", "merkle_path", "anchor_signature"},
    "epoch.merkle_root": {"bundle_format", "merkle_path"},
    "epoch.prev_output": {"bundle_format", "vdf_proof"},
    "epoch.entropy": {"bundle_format", "vdf_proof"},
    "epoch.block_number": {"bundle_format", "anchor_signature"},
    "epoch.block_hash": {"bundle_format", "vdf_proof"},
    "epoch.iterations": {"bundle_format", "vdf_proof"},
    "epoch.vdf_output": {"bundle_format", "vdf_proof"},
    "epoch.vdf_proof": {"bundle_format", "vdf_proof"},
    "anchor": {"bundle_format", "anchor_signature"},
    "anchor.chain_id": {"bundle_format", "anchor_signature"},
    "anchor.registry": {"bundle_format", "anchor_signature"},
    "anchor.block_number": {"bundle_format", "anchor_on_chain"},
    "anchor.tx_hash": {"bundle_format", "anchor_on_chain"},
    "anchor.signature": {"bundle_format", "anchor_signature"},
}


def _flip_hex(text: str, bit: int) -> str:
    raw = bytearray.fromhex(text.removeprefix("0x"))
    raw[(bit // 8) % len(raw)] ^= 1 << (bit % 8)
    return ("0x" if text.startswith("0x") else "") + raw.hex()


def _value_mutations(value, rng: random.Random):
    """Changed values for one field (each differs from ``value`` or is not of its type)."""
    if isinstance(value, bool) or value is None:
        yield from (0, 1, "x")
    elif isinstance(value, int):
        yield from (value + 1, value - 1, 0, -1, 2**64, 10**30, str(value), float(value), True, None, [value])
    elif isinstance(value, str):
        size = len(value.removeprefix("0x")) * 4
        for bit in sorted({0, 7, size - 1, *rng.sample(range(size), 8)}):
            yield _flip_hex(value, bit)
        yield from (value[:-2], value + "00", value.upper() if value.upper() != value else value + "G",
                    "0x" + value if not value.startswith("0x") else value[2:], "", 7, None, [value])
    elif isinstance(value, list):
        for index in range(len(value)):
            yield value[:index] + value[index + 1:]
        if len(value) > 1:
            yield [value[1], value[0], *value[2:]]
        yield from (value + [value[0]], [], "list", None)
    elif isinstance(value, dict):
        for key in value:
            yield {k: v for k, v in value.items() if k != key}
        yield from ({**value, "unexpected": 1}, [], None)


def _fields(bundle):
    """Dotted names of every field, containers included."""
    for key, value in bundle.items():
        yield key
        if isinstance(value, dict):
            yield from (f"{key}.{inner}" for inner in value)


def mutations(bundles: list[dict], seed: int = 16):
    rng = random.Random(seed)
    for index, bundle in enumerate(bundles):
        for name in _fields(bundle):
            for changed in _value_mutations(_get(bundle, name), rng):
                mutated = copy.deepcopy(bundle)
                _set(mutated, name, changed)
                yield name, mutated
            other = bundles[(index + 1) % len(bundles)]
            if _get(other, name) != _get(bundle, name):   # swapped with another certificate's
                mutated = copy.deepcopy(bundle)
                _set(mutated, name, copy.deepcopy(_get(other, name)))
                yield name, mutated
        for key in list(bundle):                             # missing keys
            yield key, {k: v for k, v in bundle.items() if k != key}


def _get(bundle, name):
    holder = bundle
    for part in name.split("."):
        holder = holder[part]
    return holder


def _set(bundle, name, value):
    *outer, last = name.split(".")
    holder = bundle
    for part in outer:
        holder = holder[part]
    holder[last] = value


@pytest.mark.heavy
def test_every_tampered_bundle_is_refused_by_name(honest):
    cases = list(mutations(honest.bundles))
    assert len(cases) >= 1000
    misses = []
    for name, mutated in cases:
        result = honest.verify(mutated)    # must not raise
        if result.ok or not (failed(result) & EXPECTED[name]):
            misses.append((name, sorted(failed(result)), _get_safe(mutated, name)))
    assert not misses, f"{len(misses)} of {len(cases)} mutations not refused as expected: {misses[:5]}"


def _get_safe(bundle, name):
    try:
        return _get(bundle, name)
    except (KeyError, TypeError):
        return "<missing>"


def test_tamper_cases_cover_every_field(honest):
    names = {name for name, _ in mutations(honest.bundles)}
    assert names == set(EXPECTED)


def test_attack_planted_dispute_flag_is_not_reported_against_the_victim(honest, tmp_path):
    """Another device anchors a tree holding the victim's certificate id and flags it there:
    that flag is about the other device's epoch. A flag proven on the victim's own root is."""
    from rosvd.merkle import StandardMerkleTree
    bundle = honest.bundles[1]
    cert = decode(bytes.fromhex(bundle["certificate"]))
    flagger = RegistryClient(honest.w3, honest.registry.address, Account.from_key(honest.net.private_keys[7]),
                             honest.registry.artifact)
    home = new_device(honest, tmp_path, "planter")
    with snapshot(honest.w3), Appliance(home, device=ModelDevice()) as planter:
        tree = StandardMerkleTree.of([(cert.id,), (b"\x01" * 32,)], ("bytes32",))
        genesis = honest.registry.genesis_vdf_output_hash(planter.address)
        from rosvd.chain.typed_data import AnchorMessage
        message = AnchorMessage(planter.address, 1, tree.root, 2, Web3.keccak(b"v"), genesis, 1, 1_000)
        honest.registry.using(honest.relayer).anchor(
            message, planter.identity.sign_typed(anchor_digest(honest.registry.domain, message)))
        planted, _ = flagger.flag(planter.address, tree.root, cert.id, tree.proof(0), Web3.keccak(b"spam"))
        result = honest.verify(bundle)
        assert result.ok and result.status["open_flags"] == [], "the planted flag is not the victim's"
        proof = [bytes.fromhex(node) for node in bundle["merkle_proof"]]
        root = bytes.fromhex(bundle["epoch"]["merkle_root"])
        genuine, _ = flagger.flag(cert.device, root, cert.id, proof, Web3.keccak(b"notice"))
        assert honest.verify(bundle).status["open_flags"] == [genuine] and genuine != planted
