"""``rosvd chain anchor`` killed (SIGKILL) with its transaction in flight, then restarted:
the transaction is found again and the epoch is anchored by exactly one transaction."""
from __future__ import annotations

import subprocess
import sys
import time

import coincurve
import numpy as np
from eth_account import Account
from web3 import Web3

from rosvd import ingest
from rosvd.certify import STORE_FILE, Appliance, ApplianceConfig, initialise
from rosvd.chain.commands import join
from rosvd.chain.contracts import DEFAULT_MIN_VDF_ITERATIONS, deploy_registry
from rosvd.chain.deployment import Deployment
from rosvd.chain.devnet import Devnet, rpc
from rosvd.device import ModelDevice
from rosvd.epochs import EpochPolicy
from rosvd.identity import write_key_file
from rosvd.store import Store

from .conftest import require_node_modules

ROSVD = [sys.executable, "-m", "rosvd.cli"]


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


def test_killed_with_a_transaction_in_flight_and_restarted(tmp_path):
    require_node_modules()
    home, deployment_path = tmp_path / "home", tmp_path / "deployment.json"
    key_path = tmp_path / "operator.json"
    policy = EpochPolicy(vdf_iterations=DEFAULT_MIN_VDF_ITERATIONS)
    initialise(home, ApplianceConfig(dev_mode=True, policy=policy))
    with Devnet() as net:
        admin, member, operator = (Account.from_key(key) for key in net.private_keys[:3])
        w3 = Web3(Web3.HTTPProvider(net.url))
        registry, deployed = deploy_registry(w3, admin)
        registry.add_member(member.address)
        Deployment(net.chain_id, net.url, registry.address, deployed.block_number, admin.address,
                   registry.artifact.source_hash).save(deployment_path)
        device = join(home, deployment_path, registry.using(member))["device"]
        write_key_file(key_path, coincurve.PrivateKey(bytes(operator.key)), role="operator")
        rng = np.random.default_rng(7)
        with Appliance(home, device=ModelDevice()) as appliance:
            appliance.certify([ingest.from_array(rng.integers(0, 256, (48, 48), dtype=np.uint8), f"a{i}")
                               for i in range(3)])
            appliance.seal()
        nonce = w3.eth.get_transaction_count(operator.address)
        rpc(net.url, "evm_setAutomine", [False])

        command = [*ROSVD, "chain", "anchor", "--home", str(home), "--key-file", str(key_path),
                   "--confirmations", "1"]
        first = subprocess.Popen([*command, "--follow"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        store = Store(home / STORE_FILE)
        try:
            wait_for(lambda: store.anchor_txs(1), 60, "the anchor transaction to be recorded")
            wait_for(lambda: rpc(net.url, "txpool_status")["pending"] == "0x1", 30, "it to reach the node")
            first.kill()
            first.wait(10)
            [in_flight] = store.anchor_txs(1)
            assert store.anchor(1).state == "pending"

            second = subprocess.Popen([*command, "--timeout", "60"], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
            time.sleep(2.0)  # time to start and find the transaction still in the pool (not mined)
            while second.poll() is None:
                rpc(net.url, "evm_mine")
                time.sleep(0.2)
            assert second.returncode == 0, second.stderr.read()
            assert store.anchor(1).state == "anchored"
            assert [tx.tx_hash for tx in store.anchor_txs(1)] == [in_flight.tx_hash], "never signed twice"
            assert store.anchor(1).tx_hash == in_flight.tx_hash
        finally:
            store.close()
        assert w3.eth.get_transaction_count(operator.address) == nonce + 1, "one transaction in all"
        logs = registry.contract.events.Anchored().get_logs(from_block=0)
        assert [(log["args"]["device"], log["args"]["epoch"]) for log in logs] == [(device, 1)]
