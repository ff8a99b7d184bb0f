"""The Anvil devnet helper and the contract build: ports, state files, block time, staleness."""
from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest
from eth_account import Account
from eth_hash.auto import keccak
from web3 import Web3

from rosvd.chain.contracts import (
    REPO_ROOT,
    ArtifactError,
    artifact_is_fresh,
    deploy_registry,
    load_artifact,
)
from rosvd.chain.devnet import Devnet, DevnetError, anvil_binary, rpc
from rosvd.chain.typed_data import AnchorMessage, anchor_digest
from rosvd.identity import DeviceIdentity

from .conftest import require_node_modules


@pytest.fixture(scope="module", autouse=True)
def _needs_node_modules():
    require_node_modules()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_two_devnets_get_their_own_ports_and_stop():
    with Devnet() as first, Devnet(chain_id=1337) as second:
        assert first.port != second.port
        assert int(rpc(first.url, "eth_chainId"), 16) == 31337
        assert int(rpc(second.url, "eth_chainId"), 16) == 1337
        assert len(first.private_keys) == len(first.addresses) == 10
        assert Account.from_key(first.private_keys[3]).address.lower() == first.addresses[3].lower()
        port = first.port
    assert not _port_open(port)
    with pytest.raises(DevnetError, match="not running"):
        first.url  # noqa: B018


def test_deployed_code_is_the_artifact_and_state_survives_dump_and_load(tmp_path):
    state = tmp_path / "state.json"
    root = keccak(b"root kept across restarts")
    with Devnet(dump_state=state) as net:
        w3 = Web3(Web3.HTTPProvider(net.url))
        admin, member, device = (Account.from_key(key) for key in net.private_keys[:3])
        registry, _ = deploy_registry(w3, admin)
        code = bytes(w3.eth.get_code(registry.address))
        artifact = load_artifact()
        assert artifact.matches_deployed(code)
        # Only the immutables (filled in by the constructor) may differ from the artifact.
        assert artifact.immutable_ranges and code.hex() != artifact.deployed_bytecode[2:]
        masked = {i for start, length in artifact.immutable_ranges for i in range(start, start + length)}
        start = next(i for i in range(len(code)) if i not in masked)
        assert not artifact.matches_deployed(code[:start] + bytes([code[start] ^ 1]) + code[start + 1:])
        assert not artifact.matches_deployed(code[:-1])
        registry.add_member(member.address)
        identity = DeviceIdentity.from_secret(bytes(device.key))
        registry.using(member).register(identity, bytes(32), bytes(32))
        message = AnchorMessage(device.address, 1, root, 12, keccak(b"vdf"),
                                registry.genesis_vdf_output_hash(device.address), 0, 1000)
        registry.using(device).anchor(message, identity.sign_typed(anchor_digest(registry.domain, message)))
    assert state.is_file() and state.stat().st_size > 0
    with Devnet(load_state=state) as net:
        w3 = Web3(Web3.HTTPProvider(net.url))
        restored = registry.__class__(w3, registry.address, None, registry.artifact)
        assert restored.get_anchor(device.address, root).certificate_count == 12
        assert restored.is_member(member.address)


def test_load_state_must_exist(tmp_path):
    with pytest.raises(DevnetError, match="no state file"):
        Devnet(load_state=tmp_path / "missing.json").start()


def test_block_time_mines_without_transactions():
    with Devnet(block_time=0.2) as net:
        first = int(rpc(net.url, "eth_blockNumber"), 16)
        deadline = time.monotonic() + 5
        while int(rpc(net.url, "eth_blockNumber"), 16) < first + 2:
            assert time.monotonic() < deadline, "no blocks mined with --block-time"
            time.sleep(0.05)


def test_missing_anvil_says_run_make_setup(tmp_path):
    with pytest.raises(DevnetError, match="run make setup"):
        anvil_binary(tmp_path / "node_modules")


def _copy_chain(tmp_path: Path, with_node_modules: bool) -> Path:
    root = tmp_path / "repo"
    (root / "chain").mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "chain" / "contracts", root / "chain" / "contracts")
    shutil.copy2(REPO_ROOT / "chain" / "compile.mjs", root / "chain" / "compile.mjs")
    if with_node_modules:
        (root / "node_modules").symlink_to(REPO_ROOT / "node_modules")
    return root


def test_artifact_is_rebuilt_when_a_source_changes(tmp_path):
    root = _copy_chain(tmp_path, with_node_modules=True)
    assert not artifact_is_fresh(root=root)
    first = load_artifact(root=root)
    assert artifact_is_fresh(root=root)
    built_at = first.path.stat().st_mtime_ns
    assert load_artifact(root=root).path.stat().st_mtime_ns == built_at  # fresh: not rewritten
    source = root / "chain" / "contracts" / "RosvdRegistry.sol"
    source.write_text(source.read_text() + "\n// changed\n")
    assert not artifact_is_fresh(root=root)
    second = load_artifact(root=root)
    assert second.source_hash != first.source_hash and artifact_is_fresh(root=root)
    assert second.abi == first.abi
    with pytest.raises(ArtifactError, match="stale"):
        source.write_text(source.read_text() + "\n// again\n")
        load_artifact(root=root, build=False)


def test_compile_errors_are_reported(tmp_path):
    root = _copy_chain(tmp_path, with_node_modules=True)
    source = root / "chain" / "contracts" / "RosvdRegistry.sol"
    source.write_text(source.read_text().replace("uint256 private _flagCount;", "uint256 private _flagCount"))
    with pytest.raises(ArtifactError, match="compile.mjs failed"):
        load_artifact(root=root)


def test_missing_node_modules_says_run_make_setup(tmp_path):
    root = _copy_chain(tmp_path, with_node_modules=False)
    with pytest.raises(ArtifactError, match="run make setup"):
        load_artifact(root=root)
