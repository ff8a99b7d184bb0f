"""RosvdRegistry on Anvil: every function from every role, refusals, events, Merkle checks.

One Anvil and one deployment per module; each test runs on a snapshot that is reverted
afterwards, so tests are independent and can run in any order.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from eth_hash.auto import keccak

from rosvd.certificate import Certificate, ContentKind, FingerprintScheme
from rosvd.chain.contracts import ADMIN_ROLE, MEMBER_ROLE, ZERO_ADDRESS, FlagStatus, RegistryError
from rosvd.merkle import StandardMerkleTree, leaf_hash

from .conftest import Chain, record_gas

BOARD = keccak(b"board: pynq-z2 dna 0x0123456789abcdef")
METADATA = keccak(b'{"model": "sd-xl", "firmware": "rosvd 0.1"}')
VDF = keccak(b"vdf output")


def h(label: str) -> bytes:
    return keccak(label.encode())


@contextmanager
def refused(name: str, **arguments):
    """Expect the registry to refuse with custom error ``name`` and exactly these arguments."""
    with pytest.raises(RegistryError) as info:
        yield info
    assert info.value.name == name, f"expected {name}, got {info.value}"
    assert info.value.arguments == arguments


@dataclass
class World:
    chain: Chain
    admin: object
    member_a: object
    member_b: object
    device_a1: object
    device_a2: object
    device_b1: object
    operator: object
    outsider: object
    spare: object

    def as_(self, account):
        return self.chain.client(account)


@pytest.fixture(scope="module")
def world(web3_for, devnet, accounts, deploy):
    """Admin 0; members A (1) and B (2); A owns devices 3 and 4, B owns 5; 6 anchors for 3."""
    registry, _ = deploy()
    chain = Chain(web3_for, devnet, accounts, registry)
    w = World(chain, *accounts[:9])
    registry.add_member(w.member_a.address)
    registry.add_member(w.member_b.address)
    w.as_(w.member_a).register_device(w.device_a1.address, BOARD, METADATA)
    w.as_(w.member_a).register_device(w.device_a2.address, h("board a2"), METADATA)
    w.as_(w.member_b).register_device(w.device_b1.address, h("board b1"), METADATA)
    w.as_(w.member_a).authorise_operator(w.device_a1.address, w.operator.address)
    return w


@pytest.fixture(autouse=True)
def isolated(world, snapshot):
    yield


def certificate_ids(device: str, epoch: int, count: int) -> list[bytes]:
    """Ids of ``count`` real certificates of ``device`` in ``epoch``."""
    return [Certificate(content_kind=ContentKind.IMAGE, fingerprint_scheme=FingerprintScheme.ROSVD_SVD,
                        content_hash=h(f"content {epoch}/{i}"), fingerprint=h(f"fingerprint {epoch}/{i}"),
                        device=device, entropy_commitment=h(f"nonce {epoch}/{i}"),
                        timestamp_ms=1_800_000_000_000 + i, epoch=epoch, sequence=1000 * epoch + i + 1).id
            for i in range(count)]


def epoch_tree(device: str, epoch: int, count: int) -> StandardMerkleTree:
    return StandardMerkleTree.of([[cid] for cid in certificate_ids(device, epoch, count)], ["bytes32"])


# ---- roles --------------------------------------------------------------------------------

def test_deployer_is_the_only_admin_and_no_member(deploy, accounts):
    registry, result = deploy()
    assert registry.is_admin(accounts[0].address) and not registry.is_member(accounts[0].address)
    assert not registry.is_admin(accounts[1].address)
    granted = result.event("RoleGranted").args
    assert granted == {"role": ADMIN_ROLE, "account": accounts[0].address, "sender": accounts[0].address}


def test_deploy_with_another_admin(deploy, accounts):
    registry, _ = deploy(admin=accounts[9].address)
    assert registry.is_admin(accounts[9].address) and not registry.is_admin(accounts[0].address)
    with refused("AccessControlUnauthorizedAccount", account=accounts[0].address, neededRole=ADMIN_ROLE):
        registry.add_member(accounts[1].address)
    registry.using(accounts[9]).add_member(accounts[1].address)
    assert registry.is_member(accounts[1].address)


def test_deploy_refuses_zero_admin(deploy):
    with refused("ZeroAddress"):
        deploy(admin=ZERO_ADDRESS)


def test_admin_grants_and_revokes_members(world):
    admin = world.as_(world.admin)
    added = admin.add_member(world.outsider.address).event("RoleGranted").args
    assert added == {"role": MEMBER_ROLE, "account": world.outsider.address, "sender": world.admin.address}
    assert admin.is_member(world.outsider.address)
    removed = admin.remove_member(world.outsider.address).event("RoleRevoked").args
    assert removed == {"role": MEMBER_ROLE, "account": world.outsider.address, "sender": world.admin.address}
    assert not admin.is_member(world.outsider.address)


def test_admin_adds_an_admin(world):
    world.as_(world.admin).add_admin(world.spare.address)
    world.as_(world.spare).add_member(world.outsider.address)
    assert world.chain.registry.is_member(world.outsider.address)


@pytest.mark.parametrize("caller", ["member_a", "outsider"])
def test_only_admins_manage_members(world, caller):
    account = getattr(world, caller)
    with refused("AccessControlUnauthorizedAccount", account=account.address, neededRole=ADMIN_ROLE):
        world.as_(account).add_member(world.spare.address)
    with refused("AccessControlUnauthorizedAccount", account=account.address, neededRole=ADMIN_ROLE):
        world.as_(account).remove_member(world.member_b.address)


# ---- devices ------------------------------------------------------------------------------

def test_member_registers_a_device(world):
    result = world.as_(world.member_b).register_device(world.spare.address, h("spare board"), h("spare meta"))
    assert result.events[0].name == "DeviceRegistered"
    assert result.events[0].args == {"device": world.spare.address, "owner": world.member_b.address,
                                     "boardId": h("spare board"), "metadataHash": h("spare meta")}
    record = world.chain.registry.get_device(world.spare.address)
    assert (record.owner, record.last_epoch, record.active) == (world.member_b.address, 0, True)
    assert (record.board_id, record.metadata_hash) == (h("spare board"), h("spare meta"))


def test_unregistered_device_reads_as_none(world):
    assert world.chain.registry.get_device(world.spare.address) is None


@pytest.mark.parametrize("caller", ["outsider", "admin", "device_a1", "operator"])
def test_non_member_cannot_register(world, caller):
    account = getattr(world, caller)
    with refused("AccessControlUnauthorizedAccount", account=account.address, neededRole=MEMBER_ROLE):
        world.as_(account).register_device(world.spare.address, BOARD, METADATA)


def test_removed_member_cannot_register(world):
    world.as_(world.admin).remove_member(world.member_b.address)
    with refused("AccessControlUnauthorizedAccount", account=world.member_b.address, neededRole=MEMBER_ROLE):
        world.as_(world.member_b).register_device(world.spare.address, BOARD, METADATA)


def test_device_registered_once(world):
    with refused("DeviceAlreadyRegistered", device=world.device_a1.address):
        world.as_(world.member_b).register_device(world.device_a1.address, BOARD, METADATA)
    with refused("ZeroAddress"):
        world.as_(world.member_b).register_device(ZERO_ADDRESS, BOARD, METADATA)


def test_revoked_device_is_never_registered_again(world):
    world.as_(world.member_a).revoke_device(world.device_a1.address)
    with refused("DeviceAlreadyRegistered", device=world.device_a1.address):
        world.as_(world.member_a).register_device(world.device_a1.address, BOARD, METADATA)


def test_owner_revokes_its_device(world):
    result = world.as_(world.member_a).revoke_device(world.device_a2.address)
    assert result.event("DeviceRevoked").args == {
        "device": world.device_a2.address, "owner": world.member_a.address,
        "revokedBy": world.member_a.address}
    assert world.chain.registry.get_device(world.device_a2.address).active is False
    with refused("DeviceNotActive", device=world.device_a2.address):
        world.as_(world.member_a).revoke_device(world.device_a2.address)


def test_admin_revokes_any_device(world):
    result = world.as_(world.admin).revoke_device(world.device_b1.address)
    assert result.event("DeviceRevoked").args == {
        "device": world.device_b1.address, "owner": world.member_b.address, "revokedBy": world.admin.address}


@pytest.mark.parametrize("caller", ["member_b", "outsider", "device_a1", "operator"])
def test_others_cannot_revoke_a_device(world, caller):
    account = getattr(world, caller)
    with refused("NotDeviceOwner", device=world.device_a1.address, caller=account.address):
        world.as_(account).revoke_device(world.device_a1.address)


def test_removed_member_cannot_revoke_but_admin_can(world):
    world.as_(world.admin).remove_member(world.member_a.address)
    with refused("NotDeviceOwner", device=world.device_a1.address, caller=world.member_a.address):
        world.as_(world.member_a).revoke_device(world.device_a1.address)
    world.as_(world.admin).revoke_device(world.device_a1.address)


def test_revoking_an_unknown_device(world):
    with refused("DeviceNotRegistered", device=world.spare.address):
        world.as_(world.admin).revoke_device(world.spare.address)


# ---- operators ----------------------------------------------------------------------------

def test_owner_authorises_and_withdraws_an_operator(world):
    owner = world.as_(world.member_a)
    result = owner.authorise_operator(world.device_a2.address, world.spare.address)
    assert result.event("OperatorAuthorised").args == {
        "device": world.device_a2.address, "operator": world.spare.address, "owner": world.member_a.address}
    assert owner.is_operator(world.device_a2.address, world.spare.address)
    with refused("OperatorAlreadyAuthorised", device=world.device_a2.address, operator=world.spare.address):
        owner.authorise_operator(world.device_a2.address, world.spare.address)
    result = owner.withdraw_operator(world.device_a2.address, world.spare.address)
    assert result.event("OperatorWithdrawn").args == {
        "device": world.device_a2.address, "operator": world.spare.address, "owner": world.member_a.address}
    assert not owner.is_operator(world.device_a2.address, world.spare.address)
    with refused("OperatorNotAuthorised", device=world.device_a2.address, operator=world.spare.address):
        owner.withdraw_operator(world.device_a2.address, world.spare.address)


@pytest.mark.parametrize("caller", ["member_b", "admin", "outsider", "device_a1", "operator"])
def test_only_the_owner_manages_operators(world, caller):
    account = getattr(world, caller)
    with refused("NotDeviceOwner", device=world.device_a1.address, caller=account.address):
        world.as_(account).authorise_operator(world.device_a1.address, world.spare.address)
    with refused("NotDeviceOwner", device=world.device_a1.address, caller=account.address):
        world.as_(account).withdraw_operator(world.device_a1.address, world.operator.address)


def test_operator_refusals(world):
    owner = world.as_(world.member_a)
    with refused("ZeroAddress"):
        owner.authorise_operator(world.device_a1.address, ZERO_ADDRESS)
    with refused("DeviceNotRegistered", device=world.spare.address):
        owner.authorise_operator(world.spare.address, world.outsider.address)
    owner.revoke_device(world.device_a2.address)
    with refused("DeviceNotActive", device=world.device_a2.address):
        owner.authorise_operator(world.device_a2.address, world.outsider.address)


# ---- anchors ------------------------------------------------------------------------------

def test_device_anchors_its_epoch(world):
    device = world.device_a1.address
    root = h("root 1")
    result = world.as_(world.device_a1).anchor(device, 1, root, VDF, 4096)
    assert [e.name for e in result.events] == ["Anchored"]
    assert result.events[0].args == {"device": device, "epoch": 1, "root": root, "vdfOutputHash": VDF,
                                     "certificateCount": 4096, "anchoredBy": device}
    registry = world.chain.registry
    anchor = registry.get_anchor(root)
    assert (anchor.device, anchor.epoch, anchor.certificate_count) == (device, 1, 4096)
    assert anchor.vdf_output_hash == VDF
    assert anchor.block_number == result.block_number
    assert registry.is_anchored(root) and registry.epoch_root(device, 1) == root
    assert registry.get_device(device).last_epoch == 1
    assert registry.get_anchor(h("never")) is None and registry.epoch_root(device, 2) is None


def test_operator_anchors_for_its_device(world):
    result = world.as_(world.operator).anchor(world.device_a1.address, 3, h("root op"), VDF, 7)
    assert result.event("Anchored").args["anchoredBy"] == world.operator.address
    assert result.event("Anchored").args["device"] == world.device_a1.address


def test_epochs_strictly_increase_and_may_skip(world):
    device = world.as_(world.device_a1)
    address = world.device_a1.address
    with refused("StaleEpoch", device=address, epoch=0, lastEpoch=0):
        device.anchor(address, 0, h("r0"), VDF, 1)
    device.anchor(address, 1, h("r1"), VDF, 1)
    device.anchor(address, 4, h("r4"), VDF, 1)  # empty epochs 2 and 3 are never anchored
    with refused("StaleEpoch", device=address, epoch=4, lastEpoch=4):
        device.anchor(address, 4, h("r4 again"), VDF, 1)
    with refused("StaleEpoch", device=address, epoch=3, lastEpoch=4):
        world.as_(world.operator).anchor(address, 3, h("r3"), VDF, 1)
    assert world.chain.registry.get_device(address).last_epoch == 4


def test_epochs_are_per_device(world):
    world.as_(world.device_a1).anchor(world.device_a1.address, 5, h("a1 e5"), VDF, 1)
    world.as_(world.device_b1).anchor(world.device_b1.address, 1, h("b1 e1"), VDF, 1)


def test_duplicate_root_refused_for_every_device(world):
    root = h("shared root")
    world.as_(world.device_a1).anchor(world.device_a1.address, 1, root, VDF, 3)
    with refused("RootAlreadyAnchored", root=root, device=world.device_a1.address, epoch=1):
        world.as_(world.device_a1).anchor(world.device_a1.address, 2, root, VDF, 3)
    with refused("RootAlreadyAnchored", root=root, device=world.device_a1.address, epoch=1):
        world.as_(world.device_b1).anchor(world.device_b1.address, 1, root, VDF, 3)


def test_empty_anchors_refused(world):
    device = world.as_(world.device_a1)
    with refused("ZeroMerkleRoot"):
        device.anchor(world.device_a1.address, 1, bytes(32), VDF, 1)
    with refused("ZeroCertificateCount"):
        device.anchor(world.device_a1.address, 1, h("r"), VDF, 0)


def test_operator_of_another_device_refused(world):
    with refused("NotDeviceOrOperator", device=world.device_a2.address, caller=world.operator.address):
        world.as_(world.operator).anchor(world.device_a2.address, 1, h("r"), VDF, 1)


@pytest.mark.parametrize("caller", ["device_a2", "device_b1", "member_a", "admin", "outsider"])
def test_only_the_device_or_its_operator_anchors(world, caller):
    account = getattr(world, caller)
    with refused("NotDeviceOrOperator", device=world.device_a1.address, caller=account.address):
        world.as_(account).anchor(world.device_a1.address, 1, h("r"), VDF, 1)


def test_withdrawn_operator_refused(world):
    world.as_(world.member_a).withdraw_operator(world.device_a1.address, world.operator.address)
    with refused("NotDeviceOrOperator", device=world.device_a1.address, caller=world.operator.address):
        world.as_(world.operator).anchor(world.device_a1.address, 1, h("r"), VDF, 1)


@pytest.mark.parametrize("caller", ["device_a1", "operator"])
def test_revoked_device_cannot_anchor(world, caller):
    world.as_(world.member_a).revoke_device(world.device_a1.address)
    with refused("DeviceNotActive", device=world.device_a1.address):
        world.as_(getattr(world, caller)).anchor(world.device_a1.address, 1, h("r"), VDF, 1)


def test_device_of_a_removed_member_cannot_anchor(world):
    world.as_(world.admin).remove_member(world.member_b.address)
    with refused("DeviceOwnerNotMember", device=world.device_b1.address, owner=world.member_b.address):
        world.as_(world.device_b1).anchor(world.device_b1.address, 1, h("r"), VDF, 1)


def test_unregistered_device_cannot_anchor(world):
    with refused("DeviceNotRegistered", device=world.spare.address):
        world.as_(world.spare).anchor(world.spare.address, 1, h("r"), VDF, 1)


def test_anchors_are_found_by_indexed_topics(world):
    """Device, epoch and root are topics: a verifier can replay anchors with eth_getLogs."""
    a1, b1 = world.device_a1.address, world.device_b1.address
    world.as_(world.device_a1).anchor(a1, 1, h("a1/1"), VDF, 1)
    world.as_(world.device_a1).anchor(a1, 2, h("a1/2"), VDF, 1)
    world.as_(world.device_b1).anchor(b1, 2, h("b1/2"), VDF, 1)
    registry = world.chain.registry
    anchored = registry.contract.events.Anchored()

    def roots(**argument_filters):
        logs = anchored.get_logs(from_block=0, argument_filters=argument_filters)
        return sorted(bytes(log["args"]["root"]) for log in logs)

    assert roots(device=a1) == sorted([h("a1/1"), h("a1/2")])
    assert roots(epoch=2) == sorted([h("a1/2"), h("b1/2")])
    assert roots(root=h("b1/2")) == [h("b1/2")]


# ---- on-chain Merkle inclusion ------------------------------------------------------------

@pytest.mark.parametrize("count", [1, 2, 3, 37])
def test_verify_certificate_accepts_every_leaf_of_a_host_tree(world, count):
    device = world.device_a1.address
    tree = epoch_tree(device, 1, count)
    registry = world.chain.registry
    world.as_(world.device_a1).anchor(device, 1, tree.root, VDF, count)
    for index, (certificate_id,) in enumerate(tree.values):
        proof = tree.proof(index)
        assert tree.leaf_hash(index) == leaf_hash(["bytes32"], [certificate_id])
        assert registry.verify_certificate(tree.root, certificate_id, proof), f"leaf {index} of {count}"


def test_verify_certificate_refuses_forgeries(world):
    device = world.device_a1.address
    tree = epoch_tree(device, 1, 16)
    other = epoch_tree(device, 2, 16)
    registry = world.chain.registry
    world.as_(world.device_a1).anchor(device, 1, tree.root, VDF, 16)
    (certificate_id,) = tree.values[5]
    proof = tree.proof(5)
    assert registry.verify_certificate(tree.root, certificate_id, proof)
    for position in range(len(proof)):
        tampered = list(proof)
        tampered[position] = bytes([tampered[position][0] ^ 1]) + tampered[position][1:]
        assert not registry.verify_certificate(tree.root, certificate_id, tampered), f"node {position}"
    assert not registry.verify_certificate(tree.root, certificate_id, proof[:-1])
    assert not registry.verify_certificate(tree.root, tree.values[6][0], proof)  # another leaf's id
    assert not registry.verify_certificate(tree.root, tree.leaf_hash(5), proof)  # the leaf hash, not the id
    # A valid tree and proof whose root was never anchored.
    assert other.verify(3, other.proof(3))
    assert not registry.verify_certificate(other.root, other.values[3][0], other.proof(3))


def test_past_anchors_stay_verifiable_after_revocation(world):
    device = world.device_a1.address
    tree = epoch_tree(device, 1, 8)
    world.as_(world.device_a1).anchor(device, 1, tree.root, VDF, 8)
    world.as_(world.admin).revoke_device(device)
    assert world.chain.registry.verify_certificate(tree.root, tree.values[2][0], tree.proof(2))


def test_verify_certificate_gas_for_a_full_epoch(world):
    """Gas a contract would pay to check one certificate of a 4096-certificate epoch."""
    device = world.device_a1.address
    tree = epoch_tree(device, 1, 4096)
    world.as_(world.device_a1).anchor(device, 1, tree.root, VDF, 4096)
    proof = tree.proof(1234)
    assert len(proof) == 12
    call = world.chain.registry.contract.functions.verifyCertificate(tree.root, tree.values[1234][0], proof)
    assert call.call()
    record_gas("verifyCertificate (estimate, 12-node proof)", call.estimate_gas())


# ---- disputes -----------------------------------------------------------------------------

@pytest.fixture
def anchored_tree(world):
    device = world.device_a1.address
    tree = epoch_tree(device, 1, 5)
    world.as_(world.device_a1).anchor(device, 1, tree.root, VDF, 5)
    return tree


@pytest.mark.parametrize("flagger", ["outsider", "member_b", "device_b1"])
def test_anyone_flags_a_certificate(world, anchored_tree, flagger):
    account = getattr(world, flagger)
    (certificate_id,) = anchored_tree.values[2]
    flag_id, result = world.as_(account).flag(anchored_tree.root, certificate_id, h("notice #1"))
    assert flag_id == 1
    assert result.event("Flagged").args == {
        "flagId": 1, "root": anchored_tree.root, "certificateId": certificate_id,
        "flagger": account.address, "reasonHash": h("notice #1")}
    registry = world.chain.registry
    record = registry.get_flag(1)
    assert (record.root, record.certificate_id, record.reason_hash) == (anchored_tree.root, certificate_id,
                                                                        h("notice #1"))
    assert (record.flagger, record.flagged_block, record.status) == (account.address, result.block_number,
                                                                     FlagStatus.OPEN)
    assert (record.resolver, record.resolved_block, record.resolution_hash) == (None, 0, bytes(32))
    assert registry.flags_of(certificate_id) == [1] and registry.flag_count() == 1


def test_flags_are_numbered_and_listed_per_certificate(world, anchored_tree):
    outsider = world.as_(world.outsider)
    first, second = anchored_tree.values[0][0], anchored_tree.values[1][0]
    assert outsider.flag(anchored_tree.root, first, h("a"))[0] == 1
    assert outsider.flag(anchored_tree.root, second, h("b"))[0] == 2
    assert world.as_(world.spare).flag(anchored_tree.root, first, h("c"))[0] == 3
    registry = world.chain.registry
    assert registry.flags_of(first) == [1, 3] and registry.flags_of(second) == [2]
    assert registry.flags_of(h("unflagged")) == [] and registry.flag_count() == 3
    assert registry.get_flag(4) is None and registry.get_flag(0) is None


def test_flag_refusals(world, anchored_tree):
    with refused("RootNotAnchored", root=h("not anchored")):
        world.as_(world.outsider).flag(h("not anchored"), anchored_tree.values[0][0], h("notice"))
    with refused("ZeroReasonHash"):
        world.as_(world.outsider).flag(anchored_tree.root, anchored_tree.values[0][0], bytes(32))


@pytest.mark.parametrize(("upheld", "status"), [(True, FlagStatus.UPHELD), (False, FlagStatus.DISMISSED)])
def test_member_resolves_a_flag(world, anchored_tree, upheld, status):
    flag_id, _ = world.as_(world.outsider).flag(anchored_tree.root, anchored_tree.values[0][0], h("notice"))
    result = world.as_(world.member_b).resolve(flag_id, upheld, h("decision"))
    assert result.event("FlagResolved").args == {"flagId": flag_id, "resolver": world.member_b.address,
                                                 "upheld": upheld, "resolutionHash": h("decision")}
    record = world.chain.registry.get_flag(flag_id)
    assert (record.status, record.resolver, record.resolved_block, record.resolution_hash) == (
        status, world.member_b.address, result.block_number, h("decision"))
    with refused("FlagAlreadyResolved", flagId=flag_id, status=int(status)):
        world.as_(world.member_a).resolve(flag_id, not upheld, h("second opinion"))


@pytest.mark.parametrize("caller", ["outsider", "admin", "device_a1", "operator"])
def test_non_member_cannot_resolve(world, anchored_tree, caller):
    flag_id, _ = world.as_(world.outsider).flag(anchored_tree.root, anchored_tree.values[0][0], h("notice"))
    account = getattr(world, caller)
    with refused("AccessControlUnauthorizedAccount", account=account.address, neededRole=MEMBER_ROLE):
        world.as_(account).resolve(flag_id, True, h("decision"))
    assert world.chain.registry.get_flag(flag_id).status == FlagStatus.OPEN


def test_resolving_an_unknown_flag(world):
    with refused("FlagNotFound", flagId=9):
        world.as_(world.member_a).resolve(9, True, h("decision"))


# ---- isolation ----------------------------------------------------------------------------

def test_snapshots_isolate_tests_a(world):
    world.as_(world.device_a1).anchor(world.device_a1.address, 1, h("isolation"), VDF, 1)


def test_snapshots_isolate_tests_b(world):
    assert not world.chain.registry.is_anchored(h("isolation"))
    assert world.chain.registry.get_device(world.device_a1.address).last_epoch == 0
