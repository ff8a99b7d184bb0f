"""The anchoring service against a real Anvil: exactly once through crashes, outages,
dropped and stuck transactions, reorganisations and refusals."""
from __future__ import annotations

import threading
import time

import pytest
from eth_account import Account
from web3 import Web3

from rosvd.certificate import LEAF_TYPES
from rosvd.chain.anchor import (
    AnchorConfigError,
    AnchoringBlocked,
    AnchorPolicy,
    AnchorService,
    ChainUnavailable,
    anchor_message,
)
from rosvd.chain.contracts import RegistryClient, deploy_registry, load_artifact
from rosvd.chain.devnet import Devnet, rpc
from rosvd.chain.sample_epochs import add_closed_epochs
from rosvd.chain.typed_data import anchor_digest
from rosvd.epochs import merkle_root
from rosvd.identity import DeviceIdentity
from rosvd.merkle import StandardMerkleTree
from rosvd.store import Store

from .conftest import require_node_modules


@pytest.fixture(scope="module", autouse=True)
def _needs_node_modules():
    require_node_modules()


class Consortium:
    """A registry on ``net``: admin 0, member 1, device 2 (registered, key ``identity``),
    operator 3 (relays the device's signed anchors and pays for them)."""

    def __init__(self, net: Devnet, registry_address: str | None = None):
        self.net = net
        self.w3 = Web3(Web3.HTTPProvider(net.url, request_kwargs={"timeout": 5}))
        keys = net.private_keys[:4]
        self.admin, self.member, self.device, self.operator = (Account.from_key(key) for key in keys)
        self.identity = DeviceIdentity.from_secret(bytes(self.device.key))
        if registry_address is None:
            registry, _ = deploy_registry(self.w3, self.admin)
            registry.add_member(self.member.address)
            registry.using(self.member).register(self.identity, bytes(32), bytes(32))
            registry_address = registry.address
        self.registry = RegistryClient(self.w3, registry_address, self.admin, load_artifact())
        self.services: list[AnchorService] = []

    def service(self, store: Store, reconnect=None, **policy) -> AnchorService:
        """A new service; the previous one is closed first, as if its process had exited."""
        for old in self.services:
            old.close()
        policy.setdefault("confirmations", 1)
        policy.setdefault("poll_s", 0.05)
        service = AnchorService(store, self.registry.using(self.operator), self.identity,
                                AnchorPolicy(**policy), reconnect=reconnect)
        self.services.append(service)
        return service

    def anchored_logs(self) -> list:
        event = self.registry.contract.events.Anchored()
        return event.get_logs(from_block=0)

    def nonce(self, account=None) -> int:
        return self.w3.eth.get_transaction_count((account or self.operator).address, "pending")

    def rpc(self, method: str, *params):
        return rpc(self.net.url, method, list(params))


@pytest.fixture
def store(tmp_path):
    with_store = Store(tmp_path / "store.sqlite", create=True)
    yield with_store
    with_store.close()


def assert_anchored_once(chain: Consortium, store: Store, numbers: list[int]) -> None:
    logs = chain.anchored_logs()
    assert sorted(log["args"]["epoch"] for log in logs) == sorted(numbers), "each epoch anchored exactly once"
    for number in numbers:
        epoch = store.epoch(number)
        assert chain.registry.get_anchor(chain.device.address, epoch.merkle_root).epoch == number
        assert store.anchor(number).state == "anchored"


def test_closed_epochs_are_anchored_in_order_each_signed_by_the_device(store):
    with Devnet() as net:
        chain = Consortium(net)
        numbers = add_closed_epochs(store, chain.device.address, [5, 3])
        service = chain.service(store)
        nonce = chain.nonce()
        total = service.run(until_anchored=True, timeout_s=30)
        assert total["anchored"] == 2 and total["taken_up"] == 2
        assert_anchored_once(chain, store, numbers)
        assert chain.nonce() == nonce + 2
        # The on-chain record matches the store, and a certificate verifies through the chain.
        epoch = store.epoch(numbers[1])
        record = chain.registry.get_anchor(chain.device.address, epoch.merkle_root)
        assert (record.epoch, record.certificate_count) == (numbers[1], 3)
        assert record.named_block == epoch.block_number
        [event] = chain.registry.anchored_events(device=chain.device.address, epoch=numbers[1])
        assert event.vdf_output_hash == Web3.keccak(epoch.vdf_output)
        assert event.prev_vdf_output_hash == Web3.keccak(store.epoch(numbers[0]).vdf_output), "chained"
        assert event.relayer == chain.operator.address and event.iterations == epoch.iterations
        # The device signed it (the stored signature), the operator only relayed it.
        signature = store.anchor(numbers[1]).signature
        assert chain.registry.anchor_signer(anchor_message(epoch, chain.device.address),
                                            signature) == chain.device.address
        ids = store.certificate_ids(numbers[1])
        tree = StandardMerkleTree.of([(cid,) for cid in ids], LEAF_TYPES)
        assert tree.root == merkle_root(ids)
        assert chain.registry.verify_certificate(chain.device.address, epoch.merkle_root, ids[1],
                                                 tree.proof(1))
        # A second service on the same store finds nothing to do and sends nothing.
        assert not chain.service(store).run(until_anchored=True, timeout_s=10)["sent"]
        assert chain.nonce() == nonce + 2


def test_confirmation_depth_is_waited_for(store):
    with Devnet() as net:
        chain = Consortium(net)
        [number] = add_closed_epochs(store, chain.device.address, [4])
        service = chain.service(store, confirmations=3)
        assert service.step()["sent"] == 1
        assert service.step()["mined"] == 1  # automine: mined in the head block, one confirmation
        assert store.anchor(number).state == "mined"
        chain.rpc("anvil_mine", "0x1")
        service.step()
        assert store.anchor(number).state == "mined", "two blocks are not three confirmations"
        chain.rpc("anvil_mine", "0x1")
        assert service.step()["anchored"] == 1


def test_transaction_in_flight_at_a_crash_is_found_again_not_sent_twice(store, monkeypatch):
    with Devnet() as net:
        chain = Consortium(net)
        first, second = add_closed_epochs(store, chain.device.address, [3, 2])
        chain.rpc("evm_setAutomine", False)
        # Crash after the transaction was recorded, before it reached the node.
        crashing = chain.service(store)

        def crash(tx, reason):
            raise KeyboardInterrupt

        monkeypatch.setattr(crashing, "_broadcast", crash)
        with pytest.raises(KeyboardInterrupt):
            crashing.step()
        [recorded] = store.anchor_txs(first)
        assert store.anchor(first).state == "pending" and chain.rpc("txpool_status")["pending"] == "0x0"
        # Restart: the recorded bytes are sent (same hash); the next epoch waits for it to be
        # mined (a new instance has no gas estimate to send it behind an unmined one).
        restarted = chain.service(store)
        events = restarted.step()
        assert events["rebroadcast"] == 1 and not events["sent"]
        assert [tx.tx_hash for tx in store.anchor_txs(first)] == [recorded.tx_hash]
        assert store.anchor(second).state == "queued"
        # Crash again with it in the node's pool: the next instance waits, it sends nothing.
        again = chain.service(store)
        assert not again.step()["sent"] and not again.step()["rebroadcast"]
        chain.rpc("evm_mine")
        assert again.step()["sent"] == 1, "once the first is mined, the second is estimated and sent"
        chain.rpc("evm_mine")
        again.run(until_anchored=True, timeout_s=20)
        assert store.anchor_txs(second)[0].nonce == recorded.nonce + 1
        assert_anchored_once(chain, store, [first, second])
        assert len(store.anchor_txs(first)) == len(store.anchor_txs(second)) == 1


def test_endpoint_down_then_back_with_its_state(store, tmp_path):
    state = tmp_path / "anvil-state.json"
    net = Devnet(dump_state=state).start()
    chain = Consortium(net)
    port, registry = net.port, chain.registry.address
    first, = add_closed_epochs(store, chain.device.address, [3])
    chain.service(store).run(until_anchored=True, timeout_s=20)
    net.stop()  # dumps its state
    later = add_closed_epochs(store, chain.device.address, [2, 5], seed=1)
    service = chain.service(store)
    with pytest.raises(ChainUnavailable):
        service.step()
    assert [epoch.number for epoch in store.unanchored_closed_epochs()] == later, "waiting, nothing lost"
    # A runner keeps trying with backoff while the node is down, and finishes once it is back.
    outcome = {}

    def run():  # the service's own process would open its own store: so does its thread
        own_store = Store(store.path)
        try:
            outcome["events"] = chain.service(own_store).run(until_anchored=True, timeout_s=60)
        except BaseException as error:  # noqa: BLE001 - reported below
            outcome["error"] = error
        finally:
            own_store.close()

    runner = threading.Thread(target=run)
    runner.start()
    time.sleep(1.5)
    with Devnet(load_state=state, port=port) as back:
        runner.join(60)
        assert not runner.is_alive() and "error" not in outcome, outcome
        assert outcome["events"]["unavailable"] >= 2
        chain = Consortium(back, registry)
        assert_anchored_once(chain, store, [first, *later])


def test_chain_back_on_another_port_is_followed(store, tmp_path):
    """`rosvd chain up` restarted without --port comes back elsewhere and rewrites the
    deployment file: a running service follows it instead of retrying the old URL for ever."""
    state = tmp_path / "anvil-state.json"
    net = Devnet(dump_state=state).start()
    chain = Consortium(net)
    old_port, registry = net.port, chain.registry.address
    first, = add_closed_epochs(store, chain.device.address, [3])
    chain.service(store).run(until_anchored=True, timeout_s=20)
    net.stop()
    later = add_closed_epochs(store, chain.device.address, [2], seed=1)
    where = {}  # what the deployment file says: nothing new until the chain is back
    outcome = {}

    def run():
        own_store = Store(store.path)
        try:
            service = chain.service(own_store, reconnect=lambda: where.get("client"))
            outcome["events"] = service.run(until_anchored=True, timeout_s=60)
        except BaseException as error:  # noqa: BLE001 - reported below
            outcome["error"] = error
        finally:
            own_store.close()

    runner = threading.Thread(target=run)
    runner.start()
    time.sleep(1.0)
    with Devnet(load_state=state) as back:
        assert back.port != old_port
        moved = Consortium(back, registry)
        where["client"] = moved.registry.using(moved.operator)
        runner.join(60)
        assert not runner.is_alive() and "error" not in outcome, outcome
        assert outcome["events"]["reconnected"] == 1
        assert_anchored_once(moved, store, [first, *later])


def test_a_deployment_naming_another_registry_is_not_followed(store):
    with Devnet() as net:
        chain = Consortium(net)
        elsewhere = RegistryClient(Web3(Web3.HTTPProvider("http://127.0.0.1:9")), "0x" + "11" * 20,
                                   chain.operator)
        service = chain.service(store, reconnect=lambda: elsewhere)
        add_closed_epochs(store, chain.device.address, [1])
        service.w3 = Web3(Web3.HTTPProvider("http://127.0.0.1:8"))  # the node it knew is gone
        with pytest.raises(AnchorConfigError, match="a new chain, not this one moved"):
            service.run(until_anchored=True, timeout_s=10)


def test_pending_transaction_lost_with_the_node_is_sent_again(store, tmp_path):
    state = tmp_path / "anvil-state.json"
    net = Devnet(dump_state=state).start()
    chain = Consortium(net)
    port, registry = net.port, chain.registry.address
    [number] = add_closed_epochs(store, chain.device.address, [3])
    chain.rpc("evm_setAutomine", False)
    chain.service(store).step()
    [tx] = store.anchor_txs(number)
    net.stop()
    with Devnet(load_state=state, port=port) as back:
        chain = Consortium(back, registry)
        chain.service(store).run(until_anchored=True, timeout_s=20)
        assert_anchored_once(chain, store, [number])
        assert store.anchor(number).tx_hash == tx.tx_hash, "the same signed bytes, not a new transaction"


def test_transaction_that_never_mines_is_replaced_on_the_same_nonce(store):
    with Devnet() as net:
        chain = Consortium(net)
        [number] = add_closed_epochs(store, chain.device.address, [6])
        chain.rpc("evm_setAutomine", False)
        service = chain.service(store, replace_after_s=0.0)
        service.step()
        service.step()  # unmined "too long": replaced with a higher fee
        first, replacement = store.anchor_txs(number)
        assert replacement.nonce == first.nonce and replacement.fee_wei > first.fee_wei
        assert chain.rpc("txpool_status")["pending"] == "0x1"
        # The node drops it: the same bytes are sent again.
        chain.rpc("anvil_dropTransaction", "0x" + replacement.tx_hash.hex())
        assert chain.rpc("txpool_status")["pending"] == "0x0"
        assert service.step()["rebroadcast"] == 1
        chain.rpc("evm_mine")
        service.run(until_anchored=True, timeout_s=20)
        assert_anchored_once(chain, store, [number])
        assert store.anchor(number).tx_hash in {first.tx_hash, replacement.tx_hash}
        assert chain.w3.eth.get_transaction_count(chain.operator.address) == first.nonce + 1


def test_fee_cap_stops_the_bumps(store):
    with Devnet() as net:
        chain = Consortium(net)
        [number] = add_closed_epochs(store, chain.device.address, [2])
        chain.rpc("evm_setAutomine", False)
        cap = 3 * chain.w3.eth.gas_price
        service = chain.service(store, replace_after_s=0.0, max_fee_wei=cap)
        for _ in range(8):
            service.step()
        fees = [tx.fee_wei for tx in store.anchor_txs(number)]
        assert max(fees) == cap and len(fees) < 8, fees
        chain.rpc("evm_mine")
        service.run(until_anchored=True, timeout_s=20)
        assert_anchored_once(chain, store, [number])


def test_reorganised_anchor_is_sent_again_and_confirmed_once(store):
    with Devnet() as net:
        chain = Consortium(net)
        [number] = add_closed_epochs(store, chain.device.address, [5])
        service = chain.service(store, confirmations=4)
        service.step()
        service.step()
        mined = store.anchor(number)
        assert mined.state == "mined"
        chain.rpc("anvil_mine", "0x1")
        chain.rpc("anvil_reorg", 2, [])  # replaces the block holding the anchor and the one above
        assert chain.registry.get_anchor(chain.device.address, store.epoch(number).merkle_root) is None
        events = service.step()
        assert events["reorganised"] == 1 and events["rebroadcast"] == 1
        assert service.step()["mined"] == 1
        again = store.anchor(number)
        assert again.state == "mined" and again.block_hash != mined.block_hash
        chain.rpc("anvil_mine", "0x3")
        assert service.step()["anchored"] == 1
        assert_anchored_once(chain, store, [number])
        assert len(store.anchor_txs(number)) == 1


def test_nonce_used_by_someone_else_means_anchoring_again(store):
    with Devnet() as net:
        chain = Consortium(net)
        [number] = add_closed_epochs(store, chain.device.address, [2])
        chain.rpc("evm_setAutomine", False)
        service = chain.service(store)
        service.step()
        [ours] = store.anchor_txs(number)
        chain.rpc("anvil_dropTransaction", "0x" + ours.tx_hash.hex())
        foreign = chain.operator.sign_transaction({
            "to": chain.admin.address, "value": 1, "gas": 21_000, "gasPrice": 2 * chain.w3.eth.gas_price,
            "nonce": ours.nonce, "chainId": chain.w3.eth.chain_id})
        chain.w3.eth.send_raw_transaction(foreign.raw_transaction)
        chain.rpc("evm_mine")
        events = service.step()
        assert events["nonce_taken"] == 1 and events["sent"] == 1
        ours, again = store.anchor_txs(number)
        assert again.nonce == ours.nonce + 1
        chain.rpc("evm_mine")
        service.run(until_anchored=True, timeout_s=20)
        assert_anchored_once(chain, store, [number])


def test_revoked_device_is_refused_and_later_epochs_wait(store):
    with Devnet() as net:
        chain = Consortium(net)
        first, second = add_closed_epochs(store, chain.device.address, [3, 4])
        chain.registry.using(chain.member).revoke_device(chain.device.address)
        service = chain.service(store)
        nonce = chain.nonce()
        with pytest.raises(AnchoringBlocked, match="DeviceNotActive"):
            service.run(until_anchored=True, timeout_s=10)
        assert store.anchor(first).state == "refused" and store.anchor(second).state == "queued"
        assert chain.nonce() == nonce, "nothing sent"
        assert [store.epoch(n).state for n in (first, second)] == ["closed", "closed"]
        assert chain.anchored_logs() == []


def test_refusal_cleared_by_an_admin_then_retried(store):
    with Devnet() as net:
        chain = Consortium(net)
        first, second = add_closed_epochs(store, chain.device.address, [3, 4])
        chain.registry.remove_member(chain.member.address)  # freezes the member's devices
        service = chain.service(store)
        service.step()
        assert "DeviceOwnerNotMember" in store.anchor(first).error
        assert store.anchor(second).state == "queued"
        chain.registry.add_member(chain.member.address)
        assert service.retry_refused() == [first]
        service.run(until_anchored=True, timeout_s=20)
        assert_anchored_once(chain, store, [first, second])


def test_anchor_already_on_chain_is_adopted_without_a_transaction(store, tmp_path):
    with Devnet() as net:
        chain = Consortium(net)
        [number] = add_closed_epochs(store, chain.device.address, [3])
        epoch = store.epoch(number)
        message = anchor_message(epoch, chain.device.address)
        signature = chain.identity.sign_typed(anchor_digest(chain.registry.domain, message))
        chain.registry.using(chain.device).anchor(message, signature)
        nonce = chain.nonce()
        events = chain.service(store).run(until_anchored=True, timeout_s=20)
        assert events["adopted"] == 1 and not events["sent"]
        assert chain.nonce() == nonce
        assert store.anchor(number).state == "anchored" and store.anchor_txs(number) == []


def test_one_service_per_store_and_one_registry_per_store(store):
    with Devnet() as net:
        chain = Consortium(net)
        [number] = add_closed_epochs(store, chain.device.address, [2])
        first = chain.service(store)
        with pytest.raises(AnchorConfigError, match="another anchoring service"):
            AnchorService(store, chain.registry.using(chain.operator), chain.identity)
        first.run(until_anchored=True, timeout_s=20)
        first.close()
        other, _ = deploy_registry(chain.w3, chain.admin)
        with AnchorService(store, other.using(chain.operator), chain.identity) as wrong:
            with pytest.raises(AnchorConfigError, match="anchors to"):
                wrong.step()
        assert store.anchor(number).registry == chain.registry.address


def test_policy_refuses_unsafe_settings():
    with pytest.raises(ValueError, match="confirmations"):
        AnchorPolicy(confirmations=0)
    with pytest.raises(ValueError, match="fee_bump"):
        AnchorPolicy(fee_bump=1.05)


def test_many_epochs_keep_nonce_order_with_a_small_window(store):
    with Devnet(block_time=0.2) as net:
        chain = Consortium(net)
        numbers = add_closed_epochs(store, chain.device.address, [1, 2, 3, 4, 5, 6])
        service = chain.service(store, max_in_flight=2, confirmations=2)
        service.run(until_anchored=True, timeout_s=60)
        assert_anchored_once(chain, store, numbers)
        blocks = [store.anchor(n).block_number for n in numbers]
        assert blocks == sorted(blocks)


def test_attack_front_run_anchor_gains_nothing(store):
    """Automine off: an attacker copies the service's pending anchor (the device's signed
    statement) and sends it first at a higher price. The epoch is anchored for the device
    exactly as it signed, the service adopts it, and the device's next epoch anchors."""
    with Devnet() as net:
        chain = Consortium(net)
        attacker = Account.from_key(net.private_keys[5])
        first, second = add_closed_epochs(store, chain.device.address, [4, 2])
        chain.rpc("evm_setAutomine", False)
        service = chain.service(store)
        service.step()
        [ours] = store.anchor_txs(first)
        pending = chain.w3.eth.get_transaction(ours.tx_hash)
        copied = attacker.sign_transaction({
            "to": chain.registry.address, "data": pending["input"], "gas": pending["gas"],
            "gasPrice": 10 * chain.w3.eth.gas_price, "nonce": chain.nonce(attacker),
            "chainId": chain.w3.eth.chain_id})
        stolen = chain.w3.eth.send_raw_transaction(copied.raw_transaction)
        chain.rpc("evm_mine")
        assert chain.w3.eth.get_transaction_receipt(stolen)["status"] == 1, "the copy went first"
        assert chain.w3.eth.get_transaction_receipt(ours.tx_hash)["status"] == 0, "ours reverted"
        [event] = chain.registry.anchored_events(epoch=first)
        assert event.device == chain.device.address and event.relayer == attacker.address
        chain.rpc("evm_setAutomine", True)
        service.run(until_anchored=True, timeout_s=20)
        assert store.anchor(first).state == "anchored"
        assert_anchored_once(chain, store, [first, second])
