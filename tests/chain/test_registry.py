"""RosvdRegistry v2 on Anvil: every function from every role, refusals, events, Merkle checks,
the device-signed statements (EIP-712) and the attacks they are there to stop.

One Anvil and one deployment per module; each test runs on a snapshot that is reverted
afterwards, so tests are independent and can run in any order.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace

import eth_abi
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak

from rosvd.certificate import Certificate, ContentKind, FingerprintScheme
from rosvd.chain.contracts import (
    ADMIN_ROLE,
    DEFAULT_MIN_VDF_ITERATIONS,
    MEMBER_ROLE,
    ZERO_ADDRESS,
    AnchoredEvent,
    AnchorRecord,
    DeviceRecord,
    FlagStatus,
    RegistryError,
    deploy_registry,
    registration_signature,
)
from rosvd.chain.typed_data import AnchorMessage, Domain, anchor_digest, registration_digest
from rosvd.epochs import genesis_output
from rosvd.identity import SECP256K1_ORDER, DeviceIdentity, recover_typed
from rosvd.merkle import StandardMerkleTree, leaf_hash

from .conftest import GAS, Chain, RecordingClient, record_gas, reverted

BOARD = keccak(b"board: pynq-z2 dna 0x0123456789abcdef")
METADATA = keccak(b'{"model": "sd-xl", "firmware": "rosvd 0.1"}')
MAX_UINT64 = 2**64 - 1


def h(label: str) -> bytes:
    return keccak(label.encode())


def genesis_hash(device: str) -> bytes:
    """The device's genesis VDF output hash as the host computes it (not the contract)."""
    return keccak(genesis_output(device))


@contextmanager
def refused(name: str, **arguments):
    """Expect the registry to refuse with custom error ``name`` and exactly these arguments."""
    with pytest.raises(RegistryError) as info:
        yield info
    assert info.value.name == name, f"expected {name}, got {info.value}"
    assert info.value.arguments == arguments


def identity(account) -> DeviceIdentity:
    """The device key of a dev account (a device is known by its key's address)."""
    return DeviceIdentity.from_secret(bytes(account.key))


@dataclass
class World:
    chain: Chain
    admin: object
    member_a: object
    member_b: object
    device_a1: object
    device_a2: object
    device_b1: object
    relayer: object
    outsider: object
    spare: object

    def as_(self, account):
        return self.chain.client(account)

    @property
    def registry(self) -> RecordingClient:
        return self.chain.registry

    @property
    def w3(self):
        return self.chain.w3


#: Every kind of account there is: an admin, the device's owner, another member, the device
#: itself, a relayer that sends anchors for it, an unrelated account.
ROLES = ["admin", "member_a", "member_b", "device_a1", "relayer", "outsider"]


def roles_except(*allowed: str) -> list[str]:
    return [role for role in ROLES if role not in allowed]


@pytest.fixture(scope="module")
def world(web3_for, devnet, accounts, deploy):
    """Admin 0; members A (1) and B (2); A owns devices 3 and 4, B owns 5; 6 relays anchors;
    7 is unrelated; 8 a spare (e.g. a device nobody registered yet)."""
    registry, _ = deploy()
    chain = Chain(web3_for, devnet, accounts, registry)
    w = World(chain, *accounts[:9])
    registry.add_member(w.member_a.address)
    registry.add_member(w.member_b.address)
    w.as_(w.member_a).register(identity(w.device_a1), BOARD, METADATA)
    w.as_(w.member_a).register(identity(w.device_a2), h("board a2"), METADATA)
    w.as_(w.member_b).register(identity(w.device_b1), h("board b1"), METADATA)
    return w


@pytest.fixture(autouse=True)
def isolated(world, snapshot):
    yield


class Anchors:
    """Builds each device's next valid anchor, has the device sign it and relays it.

    Tracks every device's last epoch and last VDF output hash itself, from the genesis
    output the host computes (:func:`genesis_hash`), so a test compares the registry's
    chain against an independent account of it.
    """

    def __init__(self, world: World):
        self.world = world
        self.last: dict[str, tuple[int, bytes]] = {}

    def tip(self, device: str) -> tuple[int, bytes]:
        return self.last.get(device, (0, genesis_hash(device)))

    def next(self, account, **changes) -> AnchorMessage:
        """The device's next anchor: epoch last + 1, linked to its last VDF output, naming the
        block before the head (the gas estimate runs with block.number = head, so the head
        itself would be refused there although it is in the past of the block mined next)."""
        epoch, prev = self.tip(account.address)
        message = AnchorMessage(
            device=account.address, epoch=epoch + 1, root=h(f"root {account.address} {epoch + 1}"),
            certificate_count=4, vdf_output_hash=h(f"vdf {account.address} {epoch + 1}"),
            prev_vdf_output_hash=prev, named_block=self.world.w3.eth.block_number - 1,
            iterations=DEFAULT_MIN_VDF_ITERATIONS)
        return replace(message, **changes)

    def sign(self, account, message: AnchorMessage, registry: RecordingClient | None = None) -> bytes:
        """``account``'s device signature of ``message`` for ``registry`` (default: the world's)."""
        return identity(account).sign_typed(anchor_digest((registry or self.world.registry).domain, message))

    def accepted(self, message: AnchorMessage) -> None:
        """Record that the registry took ``message`` (for anchors relayed by hand)."""
        self.last[message.device] = (message.epoch, message.vdf_output_hash)

    def relay(self, account, by=None, **changes):
        """Anchor the device's next epoch, signed by the device, sent by ``by`` (default: the
        world's relayer). Returns (message, signature, TxResult)."""
        message = self.next(account, **changes)
        signature = self.sign(account, message)
        result = self.world.as_(by or self.world.relayer).anchor(message, signature)
        self.accepted(message)
        return message, signature, result


@pytest.fixture
def anchors(world) -> Anchors:
    return Anchors(world)


def certificate_ids(device: str, epoch: int, count: int) -> list[bytes]:
    """Ids of ``count`` real certificates of ``device`` in ``epoch``."""
    return [Certificate(content_kind=ContentKind.IMAGE, fingerprint_scheme=FingerprintScheme.ROSVD_SVD,
                        content_hash=h(f"content {epoch}/{i}"), fingerprint=h(f"fingerprint {epoch}/{i}"),
                        device=device, entropy_commitment=h(f"nonce {epoch}/{i}"),
                        timestamp_ms=1_800_000_000_000 + i, epoch=epoch, sequence=1000 * epoch + i + 1).id
            for i in range(count)]


def epoch_tree(device: str, epoch: int, count: int) -> StandardMerkleTree:
    return StandardMerkleTree.of([[cid] for cid in certificate_ids(device, epoch, count)], ["bytes32"])


def high_s(signature: bytes) -> bytes:
    """The other valid-on-the-curve encoding of ``signature``: s -> n - s, v flipped."""
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (SECP256K1_ORDER - s).to_bytes(32, "big") + bytes([55 - signature[64]])


def rpc(world: World, method: str, *params):
    response = world.w3.provider.make_request(method, list(params))
    assert "error" not in response, response
    return response["result"]


@contextmanager
def automine_off(world: World):
    """Transactions wait in the pool until ``evm_mine``; automine is back on afterwards."""
    rpc(world, "evm_setAutomine", False)
    try:
        yield
    finally:
        rpc(world, "evm_setAutomine", True)


def send_anchor(world: World, sender, message: AnchorMessage, signature: bytes, gas_price: int) -> bytes:
    """Sign and send an ``anchor`` transaction by hand (no estimate: it may be meant to fail)."""
    w3 = world.w3
    transaction = world.registry.contract.functions.anchor(message.as_tuple(), signature).build_transaction({
        "from": sender.address, "chainId": w3.eth.chain_id, "gas": 400_000, "gasPrice": gas_price,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending")})
    return bytes(w3.eth.send_raw_transaction(sender.sign_transaction(transaction).raw_transaction))


# ---- deployment ---------------------------------------------------------------------------

def test_deployer_is_the_only_admin_and_no_member(deploy, accounts):
    registry, result = deploy()
    assert registry.is_admin(accounts[0].address) and not registry.is_member(accounts[0].address)
    assert not registry.is_admin(accounts[1].address)
    granted = result.event("RoleGranted").args
    assert granted == {"role": ADMIN_ROLE, "account": accounts[0].address, "sender": accounts[0].address}
    assert registry.min_vdf_iterations() == DEFAULT_MIN_VDF_ITERATIONS
    assert registry.contract.functions.REGISTRY_VERSION().call() == 2


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


def test_deploy_refuses_zero_min_vdf_iterations(web3_for, accounts, artifact):
    with refused("ZeroMinVdfIterations"):
        deploy_registry(web3_for, accounts[0], None, artifact, client_class=RecordingClient,
                        min_vdf_iterations=0)


def test_min_vdf_iterations_is_the_deployments_policy(web3_for, accounts, artifact):
    """A registry deployed with 5 takes 5 squarings and refuses 4 (the policy is not a constant)."""
    registry, _ = deploy_registry(web3_for, accounts[0], None, artifact, client_class=RecordingClient,
                                  min_vdf_iterations=5)
    assert registry.min_vdf_iterations() == 5
    member, device = accounts[1], accounts[8]
    registry.add_member(member.address)
    registry.using(member).register(identity(device), BOARD, METADATA)
    message = AnchorMessage(device.address, 1, h("r"), 1, h("v"), genesis_hash(device.address),
                            web3_for.eth.block_number - 1, 4)
    with refused("TooFewVdfIterations", iterations=4, minimum=5):
        registry.anchor(message, identity(device).sign_typed(anchor_digest(registry.domain, message)))
    message = replace(message, iterations=5)
    registry.anchor(message, identity(device).sign_typed(anchor_digest(registry.domain, message)))
    assert registry.get_device(device.address).last_epoch == 1


# ---- roles --------------------------------------------------------------------------------

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
    assert world.registry.is_member(world.outsider.address)


@pytest.mark.parametrize("caller", roles_except("admin"))
def test_only_admins_manage_roles(world, caller):
    account = getattr(world, caller)
    client = world.as_(account)
    with refused("AccessControlUnauthorizedAccount", account=account.address, neededRole=ADMIN_ROLE):
        client.add_member(world.spare.address)
    with refused("AccessControlUnauthorizedAccount", account=account.address, neededRole=ADMIN_ROLE):
        client.remove_member(world.member_b.address)
    with refused("AccessControlUnauthorizedAccount", account=account.address, neededRole=ADMIN_ROLE):
        client.add_admin(account.address)
    with refused("AccessControlUnauthorizedAccount", account=account.address, neededRole=ADMIN_ROLE):
        client._transact("revokeRole", ADMIN_ROLE, world.admin.address)
    registry = world.registry
    assert not registry.is_member(world.spare.address) and registry.is_member(world.member_b.address)
    assert not registry.is_admin(account.address) and registry.is_admin(world.admin.address)


# ---- typed data ---------------------------------------------------------------------------

ANCHOR_EXAMPLES = [
    AnchorMessage("0x" + "11" * 20, 1, h("root"), 4096, h("vdf"), h("prev"), 17, 1_000_000),
    AnchorMessage("0x" + "ff" * 20, MAX_UINT64, b"\xff" * 32, MAX_UINT64, bytes(32), b"\x01" * 32, MAX_UINT64,
                  MAX_UINT64),
]


@pytest.mark.parametrize("message", ANCHOR_EXAMPLES)
def test_anchor_digest_matches_the_contract(world, message):
    message = replace(message, device=world.registry.w3.to_checksum_address(message.device))
    assert world.registry.anchor_digest(message) == anchor_digest(world.registry.domain, message)


def test_registration_digest_matches_the_contract(world):
    registry = world.registry
    for owner, device, board in [(world.member_a.address, world.device_a1.address, BOARD),
                                 (world.member_b.address, world.spare.address, bytes(32)),
                                 (ZERO_ADDRESS, world.outsider.address, b"\xff" * 32)]:
        assert registry.registration_digest(owner, device, board) == registration_digest(
            registry.domain, owner, device, board)
    # Every field counts: a digest for another owner, device or board differs.
    a, b = world.member_a.address, world.member_b.address
    a1, a2 = world.device_a1.address, world.device_a2.address
    digests = {registration_digest(registry.domain, owner, device, board)
               for owner, device, board in [(a, a1, BOARD), (b, a1, BOARD), (a, a2, BOARD), (a, a1, h("x"))]}
    assert len(digests) == 4


def fields(*pairs: str) -> list[dict]:
    """EIP-712 type members from "type name" strings."""
    return [{"name": name, "type": kind} for kind, name in (pair.split() for pair in pairs)]


EIP712_DOMAIN_FIELDS = fields("string name", "string version", "uint256 chainId", "address verifyingContract")


def eth_account_digest(domain: Domain, primary: str, members: list[dict], message: dict):
    """The EIP-712 digest as eth_account (an independent implementation) computes it, and the
    ``SignableMessage`` to recover signatures of it with."""
    signable = encode_typed_data(full_message={
        "types": {"EIP712Domain": EIP712_DOMAIN_FIELDS, primary: members},
        "primaryType": primary,
        "domain": {"name": "RO-SVD registry", "version": "2", "chainId": domain.chain_id,
                   "verifyingContract": domain.registry},
        "message": message})
    return keccak(b"\x19" + signable.version + signable.header + signable.body), signable


def test_typed_data_matches_eth_account(world):
    domain = world.registry.domain
    device = identity(world.device_a1)
    digest, signable = eth_account_digest(
        domain, "Registration", fields("address owner", "address device", "bytes32 boardId"),
        {"owner": world.member_a.address, "device": device.address, "boardId": BOARD})
    assert registration_digest(domain, world.member_a.address, device.address, BOARD) == digest
    signature = registration_signature(domain, device, world.member_a.address, BOARD)
    assert Account.recover_message(signable, signature=signature) == device.address

    anchor_fields = fields("address device", "uint64 epoch", "bytes32 root", "uint64 certificateCount",
                           "bytes32 vdfOutputHash", "bytes32 prevVdfOutputHash", "uint64 namedBlock",
                           "uint64 iterations")
    for message in ANCHOR_EXAMPLES:
        message = replace(message, device=device.address)
        digest, signable = eth_account_digest(domain, "Anchor", anchor_fields, {
            "device": message.device, "epoch": message.epoch, "root": message.root,
            "certificateCount": message.certificate_count, "vdfOutputHash": message.vdf_output_hash,
            "prevVdfOutputHash": message.prev_vdf_output_hash, "namedBlock": message.named_block,
            "iterations": message.iterations})
        assert anchor_digest(domain, message) == digest
        assert Account.recover_message(signable, signature=device.sign_typed(digest)) == device.address


def test_genesis_vdf_output_hash_matches_the_host(world):
    for account in [world.device_a1, world.device_b1, world.spare]:
        assert world.registry.genesis_vdf_output_hash(account.address) == genesis_hash(account.address)
    assert world.registry.genesis_vdf_output_hash(ZERO_ADDRESS) == genesis_hash(ZERO_ADDRESS)
    assert genesis_hash(world.device_a1.address) != genesis_hash(world.device_b1.address)


def test_decode_error_knows_openzeppelins_signature_errors(world):
    registry = world.registry
    length = registry.decode_error(keccak(b"ECDSAInvalidSignatureLength(uint256)")[:4]
                                   + eth_abi.encode(["uint256"], [64]))
    assert (length.name, length.arguments) == ("ECDSAInvalidSignatureLength", {"length": 64})
    high = registry.decode_error(keccak(b"ECDSAInvalidSignatureS(bytes32)")[:4] + b"\x77" * 32)
    assert (high.name, high.arguments) == ("ECDSAInvalidSignatureS", {"s": b"\x77" * 32})
    assert registry.decode_error(keccak(b"ECDSAInvalidSignature()")[:4]).name == "ECDSAInvalidSignature"
    assert registry.decode_error(keccak(b"NoSuchError()")[:4]).name == "UnknownRevert"


# ---- devices ------------------------------------------------------------------------------

def test_member_registers_a_device(world):
    spare = identity(world.spare)
    result = world.as_(world.member_b).register(spare, h("spare board"), h("spare meta"))
    assert [e.name for e in result.events] == ["DeviceRegistered"]
    assert result.events[0].args == {"device": spare.address, "owner": world.member_b.address,
                                     "boardId": h("spare board"), "metadataHash": h("spare meta")}
    assert world.registry.get_device(spare.address) == DeviceRecord(
        address=spare.address, owner=world.member_b.address, last_epoch=0, active=True,
        last_vdf_output_hash=genesis_hash(spare.address), registered_block=result.block_number,
        revoked_block=0, board_id=h("spare board"), metadata_hash=h("spare meta"))


def test_register_device_with_a_signature_made_elsewhere(world):
    """The proof of possession can be made on the device and sent by its owner's wallet."""
    domain = world.registry.domain
    signature = registration_signature(domain, identity(world.spare), world.member_a.address, BOARD)
    world.as_(world.member_a).register_device(world.spare.address, BOARD, METADATA, signature)
    assert world.registry.get_device(world.spare.address).owner == world.member_a.address


def test_unregistered_device_reads_as_none(world):
    assert world.registry.get_device(world.spare.address) is None


@pytest.mark.parametrize("caller", roles_except("member_a", "member_b"))
def test_non_member_cannot_register(world, caller):
    account = getattr(world, caller)
    # A proof of possession naming the caller: only the role is missing.
    signature = registration_signature(world.registry.domain, identity(world.spare), account.address, BOARD)
    with refused("AccessControlUnauthorizedAccount", account=account.address, neededRole=MEMBER_ROLE):
        world.as_(account).register_device(world.spare.address, BOARD, METADATA, signature)
    assert world.registry.get_device(world.spare.address) is None


def test_removed_member_cannot_register(world):
    world.as_(world.admin).remove_member(world.member_b.address)
    with refused("AccessControlUnauthorizedAccount", account=world.member_b.address, neededRole=MEMBER_ROLE):
        world.as_(world.member_b).register(identity(world.spare), BOARD, METADATA)


def test_device_registered_once(world):
    with refused("DeviceAlreadyRegistered", device=world.device_a1.address):
        world.as_(world.member_b).register(identity(world.device_a1), BOARD, METADATA)
    with refused("DeviceAlreadyRegistered", device=world.device_a1.address):
        world.as_(world.member_a).register(identity(world.device_a1), BOARD, METADATA)
    with refused("ZeroAddress"):
        world.as_(world.member_b).register_device(ZERO_ADDRESS, BOARD, METADATA, bytes(65))
    assert world.registry.get_device(world.device_a1.address).owner == world.member_a.address


def test_revoked_device_is_never_registered_again(world):
    world.as_(world.member_a).revoke_device(world.device_a1.address)
    with refused("DeviceAlreadyRegistered", device=world.device_a1.address):
        world.as_(world.member_a).register(identity(world.device_a1), BOARD, METADATA)
    with refused("DeviceAlreadyRegistered", device=world.device_a1.address):
        world.as_(world.member_b).register(identity(world.device_a1), BOARD, METADATA)


@pytest.mark.parametrize("signer", ["member_a", "device_a2", "outsider"])
def test_registration_signed_by_another_key_refused(world, signer):
    key = getattr(world, signer)
    digest = registration_digest(world.registry.domain, world.member_a.address, world.spare.address, BOARD)
    signature = identity(key).sign_typed(digest)  # the right statement, by the wrong key
    with refused("InvalidDeviceSignature", device=world.spare.address, signer=key.address):
        world.as_(world.member_a).register_device(world.spare.address, BOARD, METADATA, signature)


def test_registration_for_another_board_refused(world):
    """The device agreed to be registered as one board; the owner cannot claim another."""
    domain = world.registry.domain
    signature = registration_signature(domain, identity(world.spare), world.member_a.address, BOARD)
    other_board = registration_digest(domain, world.member_a.address, world.spare.address, h("other"))
    signer = recover_typed(other_board, signature)
    assert signer != world.spare.address
    with refused("InvalidDeviceSignature", device=world.spare.address, signer=signer):
        world.as_(world.member_a).register_device(world.spare.address, h("other"), METADATA, signature)


def test_malformed_registration_signatures(world):
    member = world.as_(world.member_a)
    good = registration_signature(world.registry.domain, identity(world.spare), world.member_a.address, BOARD)
    malleated = high_s(good)
    with refused("ECDSAInvalidSignatureS", s=malleated[32:64]):
        member.register_device(world.spare.address, BOARD, METADATA, malleated)
    for length in (0, 64, 66):
        with refused("ECDSAInvalidSignatureLength", length=length):
            member.register_device(world.spare.address, BOARD, METADATA, (good + b"\x00")[:length])
    with refused("ECDSAInvalidSignature"):
        member.register_device(world.spare.address, BOARD, METADATA, good[:64] + bytes([good[64] - 27]))
    member.register_device(world.spare.address, BOARD, METADATA, good)  # the low-s original is fine


# ---- revocation ---------------------------------------------------------------------------

def test_owner_revokes_its_device(world):
    result = world.as_(world.member_a).revoke_device(world.device_a2.address)
    assert result.event("DeviceRevoked").args == {
        "device": world.device_a2.address, "owner": world.member_a.address,
        "revokedBy": world.member_a.address}
    record = world.registry.get_device(world.device_a2.address)
    assert (record.active, record.revoked_block, record.owner) == (False, result.block_number,
                                                                    world.member_a.address)
    with refused("DeviceNotActive", device=world.device_a2.address):
        world.as_(world.member_a).revoke_device(world.device_a2.address)


def test_admin_revokes_any_device(world):
    result = world.as_(world.admin).revoke_device(world.device_b1.address)
    assert result.event("DeviceRevoked").args == {
        "device": world.device_b1.address, "owner": world.member_b.address, "revokedBy": world.admin.address}
    assert world.registry.get_device(world.device_b1.address).revoked_block == result.block_number


@pytest.mark.parametrize("caller", roles_except("admin", "member_a"))
def test_others_cannot_revoke_a_device(world, caller):
    account = getattr(world, caller)
    with refused("NotDeviceOwner", device=world.device_a1.address, caller=account.address):
        world.as_(account).revoke_device(world.device_a1.address)
    record = world.registry.get_device(world.device_a1.address)
    assert (record.active, record.revoked_block) == (True, 0)


def test_removed_member_cannot_revoke_but_admin_can(world):
    world.as_(world.admin).remove_member(world.member_a.address)
    with refused("NotDeviceOwner", device=world.device_a1.address, caller=world.member_a.address):
        world.as_(world.member_a).revoke_device(world.device_a1.address)
    world.as_(world.admin).revoke_device(world.device_a1.address)
    assert world.registry.get_device(world.device_a1.address).active is False


def test_revoking_an_unknown_device(world):
    with refused("DeviceNotRegistered", device=world.spare.address):
        world.as_(world.admin).revoke_device(world.spare.address)


def test_revocation_stops_anchors_but_keeps_the_past(world, anchors):
    device = world.device_a1.address
    tree = epoch_tree(device, 1, 8)
    message, _, anchored = anchors.relay(world.device_a1, root=tree.root, certificate_count=8)
    revoked = world.as_(world.member_a).revoke_device(device)
    record = world.registry.get_device(device)
    assert revoked.block_number > anchored.block_number
    assert (record.active, record.revoked_block, record.last_epoch) == (False, revoked.block_number, 1)
    with refused("DeviceNotActive", device=device):
        anchors.relay(world.device_a1)
    with refused("DeviceNotActive", device=device):
        anchors.relay(world.device_a1, by=world.member_a)
    registry = world.registry
    assert registry.get_anchor(device, tree.root) == AnchorRecord(
        device, tree.root, 1, anchored.block_number, 8, message.named_block)
    assert registry.is_anchored(device, tree.root)
    assert registry.verify_certificate(device, tree.root, tree.values[2][0], tree.proof(2))
    assert registry.get_device(device).last_epoch == 1


# ---- anchors ------------------------------------------------------------------------------

def test_device_signed_anchor_is_recorded(world, anchors):
    device = world.device_a1.address
    message, _, result = anchors.relay(world.device_a1, certificate_count=4096, iterations=123_456)
    assert message.epoch == 1 and message.prev_vdf_output_hash == genesis_hash(device)
    assert [e.name for e in result.events] == ["Anchored"]
    assert result.events[0].args == {
        "device": device, "epoch": 1, "root": message.root, "vdfOutputHash": message.vdf_output_hash,
        "prevVdfOutputHash": genesis_hash(device), "certificateCount": 4096,
        "namedBlock": message.named_block, "iterations": 123_456, "relayer": world.relayer.address}
    registry = world.registry
    assert registry.get_anchor(device, message.root) == AnchorRecord(
        device, message.root, 1, result.block_number, 4096, message.named_block)
    assert message.named_block < result.block_number
    assert registry.is_anchored(device, message.root)
    record = registry.get_device(device)
    assert (record.last_epoch, record.last_vdf_output_hash) == (1, message.vdf_output_hash)
    assert registry.get_anchor(device, h("never")) is None and not registry.is_anchored(device, h("never"))
    # The anchor is the device's: another device has not anchored that root.
    assert registry.get_anchor(world.device_b1.address, message.root) is None


@pytest.mark.parametrize("relayer", ROLES)
def test_anyone_relays_a_device_signed_anchor(world, anchors, relayer):
    account = getattr(world, relayer)
    message, _, result = anchors.relay(world.device_a1, by=account)
    assert result.event("Anchored").args["relayer"] == account.address
    assert result.event("Anchored").args["device"] == world.device_a1.address
    assert world.registry.get_anchor(world.device_a1.address, message.root).epoch == 1


def test_outsider_relays_a_device_signed_anchor(world, anchors):
    """An account with no role and no tie to the device relays its anchors, epoch after epoch."""
    registry = world.registry
    assert not registry.is_member(world.outsider.address) and not registry.is_admin(world.outsider.address)
    for epoch in (1, 2, 3):
        message, _, result = anchors.relay(world.device_b1, by=world.outsider)
        assert message.epoch == epoch
        assert result.event("Anchored").args["relayer"] == world.outsider.address
    [event] = registry.anchored_events(device=world.device_b1.address, epoch=3)
    assert event.relayer == world.outsider.address and event.tx_hash == result.tx_hash
    assert registry.get_device(world.device_b1.address).last_epoch == 3


def test_epochs_follow_one_another(world, anchors):
    device = world.device_a1
    address = device.address
    relay = world.as_(world.relayer)

    def signed(**changes):
        message = anchors.next(device, **changes)
        return message, anchors.sign(device, message)

    with refused("EpochOutOfOrder", device=address, epoch=0, expected=1):
        relay.anchor(*signed(epoch=0))
    with refused("EpochOutOfOrder", device=address, epoch=2, expected=1):
        relay.anchor(*signed(epoch=2))
    anchors.relay(device)
    anchors.relay(device)
    with refused("EpochOutOfOrder", device=address, epoch=2, expected=3):  # replaced
        relay.anchor(*signed(epoch=2, root=h("replacement of 2")))
    with refused("EpochOutOfOrder", device=address, epoch=4, expected=3):  # skipped
        relay.anchor(*signed(epoch=4))
    anchors.relay(device)
    assert world.registry.get_device(address).last_epoch == 3


def test_epochs_are_per_device(world, anchors):
    anchors.relay(world.device_a1)
    anchors.relay(world.device_a1)
    message, _, _ = anchors.relay(world.device_b1)
    assert message.epoch == 1
    registry = world.registry
    assert registry.get_device(world.device_a1.address).last_epoch == 2
    assert registry.get_device(world.device_b1.address).last_epoch == 1
    assert registry.get_device(world.device_a2.address).last_epoch == 0


def test_vdf_outputs_form_one_chain(world, anchors):
    device = world.device_a1
    address = device.address
    relay = world.as_(world.relayer)
    wrong = h("not the genesis output")
    message = anchors.next(device, prev_vdf_output_hash=wrong)
    with refused("BrokenVdfChain", device=address, epoch=1, prevVdfOutputHash=wrong,
                 expected=genesis_hash(address)):
        relay.anchor(message, anchors.sign(device, message))
    first, _, _ = anchors.relay(device)
    # Epoch 2 must name epoch 1's output, not the genesis output again.
    message = anchors.next(device, prev_vdf_output_hash=genesis_hash(address))
    with refused("BrokenVdfChain", device=address, epoch=2, prevVdfOutputHash=genesis_hash(address),
                 expected=first.vdf_output_hash):
        relay.anchor(message, anchors.sign(device, message))
    second, _, _ = anchors.relay(device)
    assert second.prev_vdf_output_hash == first.vdf_output_hash
    assert world.registry.get_device(address).last_vdf_output_hash == second.vdf_output_hash
    events = world.registry.anchored_events(device=address)
    assert [(e.epoch, e.prev_vdf_output_hash, e.vdf_output_hash) for e in events] == [
        (1, genesis_hash(address), first.vdf_output_hash), (2, first.vdf_output_hash, second.vdf_output_hash)]


def test_named_block_must_be_in_the_past(world, anchors):
    device = world.device_a1
    relay = world.as_(world.relayer)
    head = world.w3.eth.block_number
    # Through the client the refusal comes from the gas estimate, which runs at the head block.
    for named in (head, head + 1, head + 1000, MAX_UINT64):
        message = anchors.next(device, named_block=named)
        with refused("NamedBlockNotInPast", namedBlock=named, currentBlock=head):
            relay.anchor(message, anchors.sign(device, message))
    assert world.w3.eth.block_number == head
    # Mined without an estimate, the rule is block by block: a block that is not yet in the
    # past of the anchor's own block fails, the block just before it is taken.
    price = world.w3.eth.gas_price
    late = anchors.next(device, named_block=head + 1)
    failed = world.w3.eth.wait_for_transaction_receipt(
        send_anchor(world, world.relayer, late, anchors.sign(device, late), price))
    assert (failed["status"], failed["blockNumber"]) == (0, head + 1)
    head = failed["blockNumber"]
    with refused("NamedBlockNotInPast", namedBlock=head, currentBlock=head):  # why it failed
        relay.anchor(late, anchors.sign(device, late))
    message = anchors.next(device, named_block=head)
    mined = world.w3.eth.wait_for_transaction_receipt(
        send_anchor(world, world.relayer, message, anchors.sign(device, message), price))
    assert (mined["status"], mined["blockNumber"]) == (1, head + 1)
    assert world.registry.get_anchor(device.address, message.root) == AnchorRecord(
        device.address, message.root, 1, head + 1, message.certificate_count, head)


def test_too_few_vdf_iterations_refused(world, anchors):
    device = world.device_a1
    relay = world.as_(world.relayer)
    for iterations in (0, DEFAULT_MIN_VDF_ITERATIONS - 1):
        message = anchors.next(device, iterations=iterations)
        with refused("TooFewVdfIterations", iterations=iterations, minimum=DEFAULT_MIN_VDF_ITERATIONS):
            relay.anchor(message, anchors.sign(device, message))
    message, _, result = anchors.relay(device, iterations=DEFAULT_MIN_VDF_ITERATIONS)
    assert result.event("Anchored").args["iterations"] == DEFAULT_MIN_VDF_ITERATIONS


def test_roots_are_unique_per_device(world, anchors):
    root = h("shared root")
    first, _, _ = anchors.relay(world.device_a1, root=root)
    message = anchors.next(world.device_a1, root=root)
    with refused("RootAlreadyAnchored", device=world.device_a1.address, root=root, epoch=1):
        world.as_(world.relayer).anchor(message, anchors.sign(world.device_a1, message))
    # Another device may anchor the same root: anchors are keyed by (device, root).
    _, _, other = anchors.relay(world.device_b1, root=root, certificate_count=9)
    registry = world.registry
    assert registry.get_anchor(world.device_a1.address, root).certificate_count == first.certificate_count
    assert registry.get_anchor(world.device_b1.address, root) == AnchorRecord(
        world.device_b1.address, root, 1, other.block_number, 9, other.event("Anchored").args["namedBlock"])


def test_empty_anchors_refused(world, anchors):
    relay = world.as_(world.relayer)
    message = anchors.next(world.device_a1, root=bytes(32))
    with refused("ZeroMerkleRoot"):
        relay.anchor(message, anchors.sign(world.device_a1, message))
    message = anchors.next(world.device_a1, certificate_count=0)
    with refused("ZeroCertificateCount"):
        relay.anchor(message, anchors.sign(world.device_a1, message))
    assert world.registry.get_device(world.device_a1.address).last_epoch == 0


@pytest.mark.parametrize("signer", ["device_a2", "device_b1", "member_a", "relayer"])
def test_anchor_signed_by_another_key_refused(world, anchors, signer):
    key = getattr(world, signer)
    message = anchors.next(world.device_a1)
    with refused("InvalidDeviceSignature", device=world.device_a1.address, signer=key.address):
        world.as_(world.relayer).anchor(message, anchors.sign(key, message))
    assert world.registry.get_device(world.device_a1.address).last_epoch == 0


def test_malformed_anchor_signatures(world, anchors):
    relay = world.as_(world.relayer)
    message = anchors.next(world.device_a1)
    good = anchors.sign(world.device_a1, message)
    malleated = high_s(good)
    assert int.from_bytes(malleated[32:64], "big") > SECP256K1_ORDER // 2
    with refused("ECDSAInvalidSignatureS", s=malleated[32:64]):
        relay.anchor(message, malleated)
    for length in (0, 64, 66):
        with refused("ECDSAInvalidSignatureLength", length=length):
            relay.anchor(message, (good + b"\x00")[:length])
    relay.anchor(message, good)


def test_revoked_device_cannot_anchor(world, anchors):
    world.as_(world.member_a).revoke_device(world.device_a1.address)
    with refused("DeviceNotActive", device=world.device_a1.address):
        anchors.relay(world.device_a1)


def test_device_of_a_removed_member_cannot_anchor(world, anchors):
    anchors.relay(world.device_b1)
    world.as_(world.admin).remove_member(world.member_b.address)
    with refused("DeviceOwnerNotMember", device=world.device_b1.address, owner=world.member_b.address):
        anchors.relay(world.device_b1)
    world.as_(world.admin).add_member(world.member_b.address)  # re-admitted: its device anchors again
    message, _, _ = anchors.relay(world.device_b1)
    assert message.epoch == 2


def test_unregistered_device_cannot_anchor(world, anchors):
    with refused("DeviceNotRegistered", device=world.spare.address):
        anchors.relay(world.spare)


def test_anchored_events_by_indexed_topics(world, anchors):
    """Device, epoch and root are topics: a verifier can replay anchors with eth_getLogs."""
    a1, b1 = world.device_a1.address, world.device_b1.address
    m1, _, r1 = anchors.relay(world.device_a1)
    m2, _, _ = anchors.relay(world.device_a1, by=world.outsider)
    n1, _, _ = anchors.relay(world.device_b1)
    n2, _, _ = anchors.relay(world.device_b1)
    registry = world.registry

    def roots(**filters):
        return sorted(event.root for event in registry.anchored_events(**filters))

    assert roots(device=a1) == sorted([m1.root, m2.root])
    assert roots(epoch=2) == sorted([m2.root, n2.root])
    assert roots(device=b1, epoch=1) == [n1.root]
    assert roots(root=m2.root) == [m2.root]
    assert roots(device=b1, root=m1.root) == []
    assert registry.anchored_events(device=a1, epoch=1) == [AnchoredEvent(
        a1, 1, m1.root, m1.vdf_output_hash, m1.prev_vdf_output_hash, m1.certificate_count, m1.named_block,
        m1.iterations, world.relayer.address, r1.block_number, r1.tx_hash)]


# ---- attacks ------------------------------------------------------------------------------

def test_attack_squatting_a_device_address(world):
    """Member B cannot register a device that agreed to be registered by member A, nor any
    device whose key it does not hold; A's registration still goes through afterwards."""
    domain = world.registry.domain
    victim = identity(world.spare)
    for_a = registration_signature(domain, victim, world.member_a.address, BOARD)
    squatter = world.as_(world.member_b)
    signer = recover_typed(registration_digest(domain, world.member_b.address, victim.address, BOARD), for_a)
    assert signer != victim.address
    with refused("InvalidDeviceSignature", device=victim.address, signer=signer):
        squatter.register_device(victim.address, BOARD, METADATA, for_a)
    # Without the device key: B signs the victim's registration with its own key, or with
    # another device's.
    for key in (world.member_b, world.device_b1):
        digest = registration_digest(domain, world.member_b.address, victim.address, BOARD)
        forged = identity(key).sign_typed(digest)
        with refused("InvalidDeviceSignature", device=victim.address, signer=key.address):
            squatter.register_device(victim.address, BOARD, METADATA, forged)
    # Nor any other address whose key B lacks (another member's account, the admin's).
    for target in (world.member_a, world.admin):
        forged = identity(world.member_b).sign_typed(
            registration_digest(domain, world.member_b.address, target.address, BOARD))
        with refused("InvalidDeviceSignature", device=target.address, signer=world.member_b.address):
            squatter.register_device(target.address, BOARD, METADATA, forged)
        assert world.registry.get_device(target.address) is None
    assert world.registry.get_device(victim.address) is None
    world.as_(world.member_a).register_device(victim.address, BOARD, METADATA, for_a)
    assert world.registry.get_device(victim.address).owner == world.member_a.address


@pytest.mark.parametrize("epoch", [MAX_UINT64, 2**63, 3, 2, 0])
def test_attack_relayer_cannot_jump_epochs(world, anchors, epoch):
    """Even signed by the device, an epoch that is not last + 1 is refused: nobody can push a
    device to epoch 2**64 - 1 (which would end its chain) or past epochs it has not sealed."""
    device = world.device_a1
    relay = world.as_(world.relayer)
    message = anchors.next(device, epoch=epoch)
    with refused("EpochOutOfOrder", device=device.address, epoch=epoch, expected=1):
        relay.anchor(message, anchors.sign(device, message))
    assert world.registry.get_device(device.address).last_epoch == 0
    message, _, _ = anchors.relay(device)  # the device's real next epoch is unaffected
    assert message.epoch == 1


def test_attack_relayer_cannot_anchor_without_the_device_signature(world, anchors):
    device = world.device_a1
    message = anchors.next(device)
    relay = world.as_(world.relayer)
    with refused("InvalidDeviceSignature", device=device.address, signer=world.relayer.address):
        relay.anchor(message, anchors.sign(world.relayer, message))
    with refused("ECDSAInvalidSignatureLength", length=0):
        relay.anchor(message, b"")
    # The device's signature of an earlier, different statement does not serve either.
    domain = world.registry.domain
    registration = registration_signature(domain, identity(device), world.member_a.address, BOARD)
    signer = recover_typed(anchor_digest(world.registry.domain, message), registration)
    with refused("InvalidDeviceSignature", device=device.address, signer=signer):
        relay.anchor(message, registration)
    assert world.registry.get_device(device.address).last_epoch == 0
    assert world.registry.anchored_events(device=device.address) == []


def test_attack_front_running_a_signed_anchor(world, anchors):
    """Automine off: the attacker (member B, owner of device B1) copies the victim device's
    pending anchor and sends it first at a higher gas price. It only relays it: the anchor is
    the victim's, exactly as signed; B1 gains nothing; the victim's own copy fails harmlessly
    and its next epoch anchors as usual."""
    victim, attacker = world.device_a1, world.member_b
    registry = world.registry
    w3 = world.w3
    attacker_device_before = registry.get_device(world.device_b1.address)
    victim_before = registry.get_device(victim.address)
    message = anchors.next(victim)
    signature = anchors.sign(victim, message)
    price = w3.eth.gas_price
    with automine_off(world):
        honest = send_anchor(world, world.relayer, message, signature, gas_price=2 * price)
        # The attacker reads the victim's transaction from the pool and copies its input.
        pending = w3.eth.get_transaction(honest)
        decoded = registry.contract.decode_function_input(pending["input"])[1]
        copied = AnchorMessage(*decoded["a"].values())  # web3 decodes the struct by field name
        assert copied == message and bytes(decoded["signature"]) == signature
        front = send_anchor(world, attacker, copied, bytes(decoded["signature"]), gas_price=4 * price)
        assert registry.get_device(victim.address) == victim_before  # nothing mined yet
        rpc(world, "evm_mine")
    front_receipt = w3.eth.wait_for_transaction_receipt(front)
    honest_receipt = w3.eth.wait_for_transaction_receipt(honest)
    assert front_receipt["blockNumber"] == honest_receipt["blockNumber"]
    assert (front_receipt["transactionIndex"], honest_receipt["transactionIndex"]) == (0, 1)
    assert (front_receipt["status"], honest_receipt["status"]) == (1, 0)
    anchors.accepted(message)
    # Recorded for the victim device, exactly as it signed it; the attacker only relayed it.
    assert registry.get_anchor(victim.address, message.root) == AnchorRecord(
        victim.address, message.root, message.epoch, front_receipt["blockNumber"], message.certificate_count,
        message.named_block)
    [event] = registry.anchored_events(device=victim.address)
    assert AnchorMessage(event.device, event.epoch, event.root, event.certificate_count,
                         event.vdf_output_hash, event.prev_vdf_output_hash, event.named_block,
                         event.iterations) == message
    assert event.relayer == attacker.address
    victim_after = registry.get_device(victim.address)
    assert (victim_after.last_epoch, victim_after.last_vdf_output_hash) == (1, message.vdf_output_hash)
    assert victim_after.owner == world.member_a.address
    # The attacker's device gains nothing: its record is unchanged, it holds no such anchor.
    assert registry.get_device(world.device_b1.address) == attacker_device_before
    assert registry.get_anchor(world.device_b1.address, message.root) is None
    assert registry.anchored_events(device=world.device_b1.address) == []
    # The victim's own copy reverted (nothing changed twice); sent again it is refused.
    with refused("EpochOutOfOrder", device=victim.address, epoch=1, expected=2):
        world.as_(world.relayer).anchor(message, signature)
    # The victim's next epoch anchors fine, linked to the epoch the attacker relayed.
    following, _, result = anchors.relay(victim)
    assert (following.epoch, following.prev_vdf_output_hash) == (2, message.vdf_output_hash)
    assert result.event("Anchored").args["relayer"] == world.relayer.address


ALTERATIONS = {
    "root": lambda m, w: replace(m, root=h("attacker's root")),
    "certificate_count": lambda m, w: replace(m, certificate_count=m.certificate_count + 1),
    "vdf_output_hash": lambda m, w: replace(m, vdf_output_hash=h("attacker's vdf output")),
    "named_block": lambda m, w: replace(m, named_block=m.named_block - 1),
    "iterations": lambda m, w: replace(m, iterations=m.iterations + 1),
    # Redirected to another device (with that device's genesis link, so only the signature is wrong).
    "device": lambda m, w: replace(m, device=w.device_b1.address,
                                   prev_vdf_output_hash=genesis_hash(w.device_b1.address)),
}


@pytest.mark.parametrize("field", sorted(ALTERATIONS))
def test_attack_front_runner_alters_a_signed_anchor(world, anchors, field):
    victim = world.device_a1
    message = anchors.next(victim)
    signature = anchors.sign(victim, message)
    altered = ALTERATIONS[field](message, world)
    assert getattr(altered, field) != getattr(message, field)
    signer = recover_typed(anchor_digest(world.registry.domain, altered), signature)
    assert signer != victim.address
    with refused("InvalidDeviceSignature", device=altered.device, signer=signer):
        world.as_(world.member_b).anchor(altered, signature)
    assert world.registry.get_device(altered.device).last_epoch == 0
    assert world.registry.anchored_events() == []
    world.as_(world.relayer).anchor(message, signature)  # the original still goes through
    assert world.registry.get_anchor(victim.address, message.root).epoch == 1


@pytest.mark.parametrize("field", ["epoch", "prev_vdf_output_hash"])
def test_attack_front_runner_alters_the_chain_position(world, anchors, field):
    """Epoch and previous output are checked against the device's record before the
    signature: an altered one is refused for that (and its digest differs, so the signature
    would not pass either)."""
    victim = world.device_a1
    message = anchors.next(victim)
    signature = anchors.sign(victim, message)
    domain = world.registry.domain
    if field == "epoch":
        altered = replace(message, epoch=2)
        expectation = refused("EpochOutOfOrder", device=victim.address, epoch=2, expected=1)
    else:
        altered = replace(message, prev_vdf_output_hash=h("other"))
        expectation = refused("BrokenVdfChain", device=victim.address, epoch=1, prevVdfOutputHash=h("other"),
                              expected=genesis_hash(victim.address))
    assert recover_typed(anchor_digest(domain, altered), signature) != victim.address
    with expectation:
        world.as_(world.member_b).anchor(altered, signature)
    assert world.registry.get_device(victim.address).last_epoch == 0


def test_attack_replay_on_another_registry(world, anchors, deploy):
    """Signatures name one registry (EIP-712 domain): a registration or an anchor signed for
    the world's registry is refused by a second deployment on the same chain, although the
    statements are otherwise identical (a device's genesis output is the same everywhere)."""
    device = world.device_a1
    first = world.registry
    second, _ = deploy()
    second.add_member(world.member_a.address)
    owner_on_second = second.using(world.member_a)
    registration = registration_signature(first.domain, identity(device), world.member_a.address, BOARD)
    signer = recover_typed(registration_digest(second.domain, world.member_a.address, device.address, BOARD),
                           registration)
    assert signer != device.address
    with refused("InvalidDeviceSignature", device=device.address, signer=signer):
        owner_on_second.register_device(device.address, BOARD, METADATA, registration)
    assert second.get_device(device.address) is None
    owner_on_second.register(identity(device), BOARD, METADATA)  # signed for the second registry

    message = anchors.next(device)
    signature = anchors.sign(device, message, registry=first)
    signer = recover_typed(anchor_digest(second.domain, message), signature)
    assert signer != device.address
    with refused("InvalidDeviceSignature", device=device.address, signer=signer):
        second.using(world.relayer).anchor(message, signature)
    assert second.get_device(device.address).last_epoch == 0
    first.using(world.relayer).anchor(message, signature)  # where it was signed for, it is good
    second.using(world.relayer).anchor(message, anchors.sign(device, message, registry=second))
    assert second.get_device(device.address).last_epoch == first.get_device(device.address).last_epoch == 1


# ---- on-chain Merkle inclusion ------------------------------------------------------------

@pytest.mark.parametrize("count", [1, 2, 3, 37])
def test_verify_certificate_accepts_every_leaf_of_a_host_tree(world, anchors, count):
    device = world.device_a1.address
    tree = epoch_tree(device, 1, count)
    registry = world.registry
    anchors.relay(world.device_a1, root=tree.root, certificate_count=count)
    for index, (certificate_id,) in enumerate(tree.values):
        proof = tree.proof(index)
        assert tree.leaf_hash(index) == leaf_hash(["bytes32"], [certificate_id])
        assert registry.verify_certificate(device, tree.root, certificate_id, proof), f"leaf {index}/{count}"


def test_verify_certificate_refuses_forgeries(world, anchors):
    device = world.device_a1.address
    tree = epoch_tree(device, 1, 16)
    other = epoch_tree(device, 2, 16)
    registry = world.registry
    anchors.relay(world.device_a1, root=tree.root, certificate_count=16)
    (certificate_id,) = tree.values[5]
    proof = tree.proof(5)
    assert registry.verify_certificate(device, tree.root, certificate_id, proof)
    for position in range(len(proof)):
        tampered = list(proof)
        tampered[position] = bytes([tampered[position][0] ^ 1]) + tampered[position][1:]
        assert not registry.verify_certificate(device, tree.root, certificate_id, tampered), position
    assert not registry.verify_certificate(device, tree.root, certificate_id, proof[:-1])
    assert not registry.verify_certificate(device, tree.root, tree.values[6][0], proof)  # another leaf's id
    assert not registry.verify_certificate(device, tree.root, tree.leaf_hash(5), proof)  # leaf hash, not id
    # The right proof against a device that did not anchor this root.
    assert not registry.verify_certificate(world.device_b1.address, tree.root, certificate_id, proof)
    # A valid tree and proof whose root was never anchored.
    assert other.verify(3, other.proof(3))
    assert not registry.verify_certificate(device, other.root, other.values[3][0], other.proof(3))


def test_verify_certificate_gas_for_a_full_epoch(world, anchors):
    """Gas a contract would pay to check one certificate of a 4096-certificate epoch."""
    device = world.device_a1.address
    tree = epoch_tree(device, 1, 4096)
    anchors.relay(world.device_a1, root=tree.root, certificate_count=4096)
    proof = tree.proof(1234)
    assert len(proof) == 12
    call = world.registry.contract.functions.verifyCertificate(device, tree.root, tree.values[1234][0], proof)
    assert call.call()
    record_gas("verifyCertificate (estimate, 12-node proof)", call.estimate_gas())


# ---- disputes -----------------------------------------------------------------------------

@pytest.fixture
def anchored_tree(world, anchors):
    device = world.device_a1.address
    tree = epoch_tree(device, 1, 5)
    anchors.relay(world.device_a1, root=tree.root, certificate_count=5)
    return tree


def flag(world, account, tree, index, reason):
    """``account`` flags certificate ``index`` of device A1's anchored ``tree``; returns (id, tx)."""
    (certificate_id,) = tree.values[index]
    return world.as_(account).flag(world.device_a1.address, tree.root, certificate_id, tree.proof(index),
                                   h(reason))


@pytest.mark.parametrize("flagger", ROLES)
def test_anyone_flags_a_certificate(world, anchored_tree, flagger):
    account = getattr(world, flagger)
    (certificate_id,) = anchored_tree.values[2]
    flag_id, result = flag(world, account, anchored_tree, 2, "notice #1")
    assert flag_id == 1
    assert result.event("Flagged").args == {
        "flagId": 1, "root": anchored_tree.root, "certificateId": certificate_id,
        "device": world.device_a1.address, "flagger": account.address, "reasonHash": h("notice #1")}
    registry = world.registry
    record = registry.get_flag(1)
    assert (record.device, record.root, record.certificate_id, record.reason_hash) == (
        world.device_a1.address, anchored_tree.root, certificate_id, h("notice #1"))
    assert (record.flagger, record.flagged_block, record.status) == (account.address, result.block_number,
                                                                     FlagStatus.OPEN)
    assert (record.resolver, record.resolved_block, record.resolution_hash) == (None, 0, bytes(32))
    assert registry.flags_of(certificate_id) == [1] and registry.flag_count() == 1
    assert registry.flag_count_of(certificate_id) == 1


def test_flags_are_numbered_and_listed_per_certificate(world, anchored_tree):
    first, second = anchored_tree.values[0][0], anchored_tree.values[1][0]
    assert flag(world, world.outsider, anchored_tree, 0, "a")[0] == 1
    assert flag(world, world.outsider, anchored_tree, 1, "b")[0] == 2
    assert flag(world, world.spare, anchored_tree, 0, "c")[0] == 3
    registry = world.registry
    assert registry.flags_of(first) == [1, 3] and registry.flags_of(second) == [2]
    assert registry.all_flags_of(first) == [1, 3] and registry.flag_count_of(second) == 1
    assert registry.flags_of(h("unflagged")) == [] and registry.all_flags_of(h("unflagged")) == []
    assert registry.flag_count() == 3
    assert registry.get_flag(4) is None and registry.get_flag(0) is None


def test_flags_of_a_certificate_are_paged(world, anchored_tree):
    """Five flags on one certificate, read two at a time (a flag on another certificate in
    between, so the pages hold that certificate's ids, not a range of ids)."""
    target = anchored_tree.values[3][0]
    ids = []
    for n in range(5):
        ids.append(flag(world, world.outsider, anchored_tree, 3, f"notice {n}")[0])
        if n == 1:
            flag(world, world.outsider, anchored_tree, 4, "elsewhere")
    assert ids == [1, 2, 4, 5, 6]
    registry = world.registry
    assert registry.flag_count_of(target) == 5
    assert [registry.flags_of(target, start, 2) for start in (0, 2, 4)] == [[1, 2], [4, 5], [6]]
    assert registry.flags_of(target, 1, 3) == [2, 4, 5]
    assert registry.flags_of(target, 5, 2) == [] and registry.flags_of(target, 99, 2) == []
    assert registry.flags_of(target, 0, 0) == []
    assert registry.flags_of(target, 3, 2**256 - 1) == [5, 6]
    assert registry.all_flags_of(target) == ids


def test_flag_refusals(world, anchors, anchored_tree):
    device = world.device_a1.address
    outsider = world.as_(world.outsider)
    (certificate_id,) = anchored_tree.values[0]
    proof = anchored_tree.proof(0)
    with refused("RootNotAnchored", device=device, root=h("not anchored")):
        outsider.flag(device, h("not anchored"), certificate_id, proof, h("notice"))
    # The root is anchored, but by another device.
    with refused("RootNotAnchored", device=world.device_b1.address, root=anchored_tree.root):
        outsider.flag(world.device_b1.address, anchored_tree.root, certificate_id, proof, h("notice"))
    root = anchored_tree.root
    with refused("CertificateNotInEpoch", device=device, root=root, certificateId=certificate_id):
        outsider.flag(device, root, certificate_id, anchored_tree.proof(1), h("notice"))
    stranger = h("a certificate of some other epoch")
    with refused("CertificateNotInEpoch", device=device, root=anchored_tree.root, certificateId=stranger):
        outsider.flag(device, anchored_tree.root, stranger, proof, h("notice"))
    with refused("ZeroReasonHash"):
        outsider.flag(device, anchored_tree.root, certificate_id, proof, bytes(32))
    assert world.registry.flag_count() == 0 and world.registry.flags_of(certificate_id) == []


def test_flags_stay_possible_after_revocation(world, anchored_tree):
    world.as_(world.admin).revoke_device(world.device_a1.address)
    flag_id, _ = flag(world, world.outsider, anchored_tree, 1, "notice")
    assert world.registry.get_flag(flag_id).status == FlagStatus.OPEN


@pytest.mark.parametrize(("upheld", "status"), [(True, FlagStatus.UPHELD), (False, FlagStatus.DISMISSED)])
def test_member_resolves_a_flag(world, anchored_tree, upheld, status):
    flag_id, _ = flag(world, world.outsider, anchored_tree, 0, "notice")
    result = world.as_(world.member_b).resolve(flag_id, upheld, h("decision"))
    assert result.event("FlagResolved").args == {"flagId": flag_id, "resolver": world.member_b.address,
                                                 "upheld": upheld, "resolutionHash": h("decision")}
    record = world.registry.get_flag(flag_id)
    assert (record.status, record.resolver, record.resolved_block, record.resolution_hash) == (
        status, world.member_b.address, result.block_number, h("decision"))
    with refused("FlagAlreadyResolved", flagId=flag_id, status=int(status)):
        world.as_(world.member_a).resolve(flag_id, not upheld, h("second opinion"))
    assert world.registry.get_flag(flag_id).status == status


@pytest.mark.parametrize("caller", roles_except("member_a", "member_b"))
def test_non_member_cannot_resolve(world, anchored_tree, caller):
    flag_id, _ = flag(world, world.outsider, anchored_tree, 0, "notice")
    account = getattr(world, caller)
    with refused("AccessControlUnauthorizedAccount", account=account.address, neededRole=MEMBER_ROLE):
        world.as_(account).resolve(flag_id, True, h("decision"))
    assert world.registry.get_flag(flag_id).status == FlagStatus.OPEN


def test_resolving_an_unknown_flag(world):
    with refused("FlagNotFound", flagId=9):
        world.as_(world.member_a).resolve(9, True, h("decision"))


# ---- harness ------------------------------------------------------------------------------

def test_snapshot_and_revert_restore_the_state(world, anchors):
    """Take a snapshot, change devices, anchors and roles, revert: everything is as before.

    Self-contained (no test relies on another having run first, in any order or worker):
    the raw RPC pair, then :func:`.conftest.reverted`, which the per-test ``snapshot``
    fixture uses, nested inside that fixture's own snapshot as every test is."""
    registry = world.registry
    device = world.device_a1.address

    def state():
        return (world.w3.eth.block_number, registry.get_device(device),
                registry.get_device(world.spare.address), registry.is_member(world.outsider.address),
                registry.anchored_events(device=device))

    before = state()
    snapshot_id = rpc(world, "evm_snapshot")
    message, _, _ = anchors.relay(world.device_a1)
    world.as_(world.member_b).register(identity(world.spare), BOARD, METADATA)
    world.as_(world.admin).add_member(world.outsider.address)
    changed = state()
    assert all(a != b for a, b in zip(before, changed, strict=True)), (before, changed)
    assert registry.is_anchored(device, message.root)
    assert rpc(world, "evm_revert", snapshot_id) is True
    assert state() == before
    assert not registry.is_anchored(device, message.root)

    anchors.last.clear()            # the tracker's tips were reverted with the chain
    with reverted(world.w3):
        message, _, _ = anchors.relay(world.device_a1)
        world.as_(world.member_b).register(identity(world.spare), BOARD, METADATA)
        world.as_(world.admin).add_member(world.outsider.address)
        assert all(a != b for a, b in zip(before, state(), strict=True))
    assert state() == before
    assert not registry.is_anchored(device, message.root)


def test_recording_client_records_gas_by_function_name(world, anchors):
    counts = {name: len(GAS[name]) for name in ("anchor", "registerDevice")}
    _, _, result = anchors.relay(world.device_a1)
    registered = world.as_(world.member_b).register(identity(world.spare), BOARD, METADATA)
    assert len(GAS["anchor"]) == counts["anchor"] + 1 and GAS["anchor"][-1] == result.gas_used > 0
    assert len(GAS["registerDevice"]) == counts["registerDevice"] + 1
    assert GAS["registerDevice"][-1] == registered.gas_used
    with refused("DeviceAlreadyRegistered", device=world.spare.address):
        world.as_(world.member_b).register(identity(world.spare), BOARD, METADATA)
    assert len(GAS["registerDevice"]) == counts["registerDevice"] + 1  # refusals cost nothing, record nothing
