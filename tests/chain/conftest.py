"""Fixtures for the registry tests: one Anvil per test module, a snapshot per test.

Gas of every successful transaction sent through :class:`RecordingClient` is collected,
written to ``build/chain-gas.json`` and printed as a table at the end of the run.
"""
from __future__ import annotations

import json
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from rosvd.chain.contracts import REPO_ROOT, RegistryClient, TxResult, deploy_registry, load_artifact

NODE_MODULES = REPO_ROOT / "node_modules"
GAS_REPORT = REPO_ROOT / "build" / "chain-gas.json"
#: function name -> gas used by each successful call, over the whole session.
GAS: dict[str, list[int]] = defaultdict(list)


def require_node_modules() -> None:
    missing = [name for name in ("solc", "@openzeppelin/contracts", "@foundry-rs/anvil")
               if not (NODE_MODULES / name).is_dir()]
    if missing:
        pytest.skip(f"node_modules lacks {', '.join(missing)}: run make setup (npm ci) for the chain tests")


def record_gas(name: str, gas_used: int) -> None:
    GAS[name].append(gas_used)


class RecordingClient(RegistryClient):
    """A registry client that records the gas of every transaction it sends."""

    def _transact(self, function_name: str, *args) -> TxResult:
        result = super()._transact(function_name, *args)
        record_gas(function_name, result.gas_used)
        return result


@dataclass
class Chain:
    w3: object
    devnet: object
    accounts: list
    registry: RecordingClient

    def client(self, index_or_account) -> RecordingClient:
        account = self.accounts[index_or_account] if isinstance(index_or_account, int) else index_or_account
        return self.registry.using(account)


@pytest.fixture(scope="module")
def devnet():
    require_node_modules()
    from rosvd.chain.devnet import Devnet

    with Devnet() as net:
        yield net


@pytest.fixture(scope="module")
def web3_for(devnet):
    from web3 import Web3

    return Web3(Web3.HTTPProvider(devnet.url, request_kwargs={"timeout": 30}))


@pytest.fixture(scope="module")
def accounts(devnet):
    from eth_account import Account

    return [Account.from_key(key) for key in devnet.private_keys]


@pytest.fixture(scope="module")
def artifact():
    require_node_modules()
    return load_artifact()


@pytest.fixture(scope="module")
def deploy(web3_for, accounts, artifact):
    """Deploy a fresh registry (admin: account 0 unless told otherwise)."""

    def deploy_one(admin: str | None = None) -> tuple[RecordingClient, TxResult]:
        client, result = deploy_registry(web3_for, accounts[0], admin, artifact, client_class=RecordingClient)
        record_gas("deploy", result.gas_used)
        return client, result

    return deploy_one


@contextmanager
def reverted(w3):
    """Whatever happens on the chain inside the block is undone at its end
    (``evm_snapshot``/``evm_revert``; blocks nest)."""
    snapshot_id = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        yield
    finally:
        ok = w3.provider.make_request("evm_revert", [snapshot_id])["result"]
        assert ok, "evm_revert failed: later tests would not start from the same state"


@pytest.fixture
def snapshot(web3_for):
    """Revert the chain to its state before the test (:func:`reverted`)."""
    with reverted(web3_for):
        yield


def pytest_terminal_summary(terminalreporter):
    if not GAS:
        return
    rows = {name: {"calls": len(values), "min": min(values), "max": max(values),
                   "mean": round(sum(values) / len(values))} for name, values in sorted(GAS.items())}
    GAS_REPORT.parent.mkdir(parents=True, exist_ok=True)
    GAS_REPORT.write_text(json.dumps(rows, indent=1) + "\n")
    terminalreporter.section("RosvdRegistry gas used (Anvil, cancun)")
    terminalreporter.write_line(f"{'function':<46}{'calls':>6}{'min':>10}{'max':>10}{'mean':>10}")
    for name, row in rows.items():
        terminalreporter.write_line(f"{name:<46}{row['calls']:>6}{row['min']:>10}{row['max']:>10}{row['mean']:>10}")
    terminalreporter.write_line(f"written to {Path(GAS_REPORT).relative_to(REPO_ROOT)}")
