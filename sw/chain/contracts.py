"""The consortium registry contract from Python: its build artifact, deployment, a typed client.

The artifact ``chain/build/RosvdRegistry.json`` is written by ``node chain/compile.mjs``
(npm ``solc``, offline). :func:`load_artifact` builds it when it is missing or stale: it
records the sha256 of every input (our sources, the OpenZeppelin files they import, the
compile script) and the solc version, and those are compared with the files on disk.

:class:`RegistryClient` wraps every registry function. Transactions are signed locally by
an ``eth_account`` key and sent raw, so the same code talks to Anvil, Hyperledger Besu or
Quorum: nothing here is specific to one node. A refusal raises :class:`RegistryError` with
the contract's custom error name and arguments, decoded from the ABI.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

import eth_abi
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError

from .typed_data import AnchorMessage, Domain, registration_digest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHAIN_DIR = REPO_ROOT / "chain"
BUILD_DIR = CHAIN_DIR / "build"
COMPILE_SCRIPT = CHAIN_DIR / "compile.mjs"
REGISTRY = "RosvdRegistry"
ARTIFACT_FORMAT = 2
#: ``keccak256("ROSVD_MEMBER_ROLE")``, the contract's ``MEMBER_ROLE``.
MEMBER_ROLE = keccak(b"ROSVD_MEMBER_ROLE")
ADMIN_ROLE = bytes(32)
ZERO_ADDRESS = "0x" + "00" * 20
#: The devnet's and the tests' consortium policy: fewest VDF squarings per anchored epoch. A
#: production consortium chooses its own at deployment (`rosvd chain deploy --min-vdf-iterations`).
DEFAULT_MIN_VDF_ITERATIONS = 1_000
#: Flag ids read per ``flagsOf`` call.
FLAG_PAGE = 100


class ArtifactError(RuntimeError):
    """The contract artifact is missing and cannot be built, or does not load."""


class RegistryError(Exception):
    """The registry refused a call: ``name`` is the custom error, ``args`` its arguments."""

    def __init__(self, name: str, args: dict[str, Any] | None = None, data: str | None = None):
        self.name = name
        self.arguments = dict(args or {})
        self.data = data
        shown = ", ".join(f"{key}={_show(value)}" for key, value in self.arguments.items())
        super().__init__(f"{name}({shown})")


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


# ---- artifact ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Artifact:
    contract_name: str
    abi: list[dict]
    bytecode: str
    deployed_bytecode: str
    solc_version: str
    source_hash: str
    path: Path
    #: (start, length) byte ranges of the deployed code filled in by the constructor (immutables).
    immutable_ranges: tuple[tuple[int, int], ...] = ()

    def matches_deployed(self, code: bytes) -> bool:
        """Whether ``code`` (from ``eth_getCode``) is this contract, immutables aside."""
        expected = bytearray.fromhex(self.deployed_bytecode.removeprefix("0x"))
        found = bytearray(code)
        if len(found) != len(expected):
            return False
        for start, length in self.immutable_ranges:
            found[start:start + length] = expected[start:start + length]
        return found == expected


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _input_path(unit: str, root: Path) -> Path:
    if unit == "chain/compile.mjs" or unit.startswith("chain/contracts/"):
        return root / unit
    return root / "node_modules" / unit


def artifact_is_fresh(name: str = REGISTRY, root: Path = REPO_ROOT) -> bool:
    """Whether ``chain/build/<name>.json`` exists and matches every input it was built from.

    Mirrors ``upToDate`` in ``chain/compile.mjs``. Without ``node_modules`` only our own
    sources can be compared, and an artifact that matches them is taken as fresh.
    """
    path = root / "chain" / "build" / f"{name}.json"
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    if record.get("format") != ARTIFACT_FORMAT:
        return False
    inputs: dict[str, str] = record.get("inputs", {})
    own = {f"chain/contracts/{p.name}" for p in (root / "chain" / "contracts").glob("*.sol")}
    if not own <= inputs.keys():
        return False
    node_modules = root / "node_modules"
    if node_modules.is_dir():
        solc_manifest = node_modules / "solc" / "package.json"
        if not solc_manifest.is_file():
            return False
        if json.loads(solc_manifest.read_text())["version"] != record.get("solcVersion"):
            return False
    for unit, digest in inputs.items():
        path_on_disk = _input_path(unit, root)
        if not node_modules.is_dir() and path_on_disk.is_relative_to(node_modules):
            continue
        if _sha256(path_on_disk) != digest:
            return False
    return True


def build_contracts(root: Path = REPO_ROOT, force: bool = False, timeout: float = 300.0) -> None:
    """Run ``node chain/compile.mjs`` (a no-op when the artifacts are fresh)."""
    if not (root / "node_modules" / "solc").is_dir():
        raise ArtifactError(f"cannot build the contracts: {root / 'node_modules'} has no solc;"
                            " run make setup")
    node = shutil.which("node")
    if node is None:
        raise ArtifactError("cannot build the contracts: node (>= 20) is not on PATH; run make setup")
    command = [node, str(root / "chain" / "compile.mjs"), "--quiet"] + (["--force"] if force else [])
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise ArtifactError(f"node chain/compile.mjs failed ({result.returncode}):\n"
                            f"{result.stderr}{result.stdout}")


def load_artifact(name: str = REGISTRY, root: Path = REPO_ROOT, build: bool = True) -> Artifact:
    """The compiled contract ``name``; built first when missing or stale (if ``build``)."""
    if not artifact_is_fresh(name, root):
        if not build:
            raise ArtifactError(f"chain/build/{name}.json is missing or stale; run node chain/compile.mjs")
        build_contracts(root)
    path = root / "chain" / "build" / f"{name}.json"
    try:
        record = json.loads(path.read_text())
        return Artifact(contract_name=record["contractName"], abi=record["abi"], bytecode=record["bytecode"],
                        deployed_bytecode=record["deployedBytecode"], solc_version=record["solcVersion"],
                        source_hash=record["sourceHash"], path=path,
                        immutable_ranges=tuple(tuple(item) for item in record.get("immutableRanges", ())))
    except (FileNotFoundError, json.JSONDecodeError, KeyError) as error:
        raise ArtifactError(f"cannot load {path}: {error}") from error


# ---- records -----------------------------------------------------------------------------

class FlagStatus(IntEnum):
    NONE = 0
    OPEN = 1
    UPHELD = 2
    DISMISSED = 3


@dataclass(frozen=True)
class DeviceRecord:
    address: str
    owner: str
    last_epoch: int
    active: bool
    last_vdf_output_hash: bytes
    registered_block: int
    revoked_block: int       #: 0 while active
    board_id: bytes
    metadata_hash: bytes


@dataclass(frozen=True)
class AnchorRecord:
    device: str
    root: bytes
    epoch: int
    block_number: int        #: the block holding the anchor
    certificate_count: int
    named_block: int         #: the block the epoch's VDF input names


@dataclass(frozen=True)
class AnchoredEvent:
    """The ``Anchored`` event of one anchor: what the device signed, as the registry accepted it."""

    device: str
    epoch: int
    root: bytes
    vdf_output_hash: bytes
    prev_vdf_output_hash: bytes
    certificate_count: int
    named_block: int
    iterations: int
    relayer: str
    block_number: int
    tx_hash: bytes


@dataclass(frozen=True)
class FlagRecord:
    flag_id: int
    device: str
    root: bytes
    certificate_id: bytes
    reason_hash: bytes
    flagger: str
    flagged_block: int
    status: FlagStatus
    resolver: str | None
    resolved_block: int
    resolution_hash: bytes


@dataclass(frozen=True)
class Event:
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class TxResult:
    tx_hash: bytes
    block_number: int
    gas_used: int
    events: tuple[Event, ...]

    def event(self, name: str) -> Event:
        """The one event called ``name`` in this transaction."""
        found = [event for event in self.events if event.name == name]
        if len(found) != 1:
            names = [event.name for event in self.events]
            raise LookupError(f"expected one {name} event, found {len(found)} in {names}")
        return found[0]


# ---- client ------------------------------------------------------------------------------

def _address(value: str) -> str:
    return Web3.to_checksum_address(value)


def _bytes32(value: bytes, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise ValueError(f"{what} must be 32 bytes")
    return bytes(value)


def _error_table(abi: list[dict]) -> dict[bytes, tuple[str, list[str], list[str]]]:
    table = {}
    for entry in abi:
        if entry.get("type") == "error":
            types = [item["type"] for item in entry["inputs"]]
            selector = keccak(f"{entry['name']}({','.join(types)})".encode())[:4]
            table[selector] = (entry["name"], [item["name"] for item in entry["inputs"]], types)
    return table


def _normalise(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return _address(value)
    return value


class RegistryClient:
    """Typed access to a deployed ``RosvdRegistry``; transactions signed by ``account``.

    ``tx_params`` are merged into every transaction (e.g. ``{"gasPrice": 0}`` on a
    free-gas Besu network). :meth:`using` returns the same client signing as another key.
    """

    def __init__(self, w3: Web3, address: str, account: LocalAccount | None = None,
                 artifact: Artifact | None = None, tx_params: dict | None = None):
        self.w3 = w3
        self.artifact = artifact or load_artifact()
        self.address = _address(address)
        self.contract = w3.eth.contract(address=self.address, abi=self.artifact.abi)
        self.account = account
        self.tx_params = dict(tx_params or {})
        self._errors = _error_table(self.artifact.abi)
        self._events = {keccak(self._event_signature(e).encode()): e["name"]
                        for e in self.artifact.abi if e.get("type") == "event"}

    @staticmethod
    def _event_signature(entry: dict) -> str:
        return f"{entry['name']}({','.join(item['type'] for item in entry['inputs'])})"

    def using(self, account: LocalAccount) -> RegistryClient:
        return type(self)(self.w3, self.address, account, self.artifact, self.tx_params)

    # -- plumbing

    def decode_error(self, data: str | bytes | None) -> RegistryError:
        """The :class:`RegistryError` that revert ``data`` encodes."""
        raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else bytes(data or b"")
        entry = self._errors.get(raw[:4])
        if entry is None:
            return RegistryError("UnknownRevert", {"data": raw}, data=str(data))
        name, names, types = entry
        values = eth_abi.decode(types, raw[4:])
        return RegistryError(name, {key: _normalise(value) for key, value in zip(names, values, strict=True)},
                             data=str(data))

    def refusal(self, error: ContractLogicError) -> RegistryError:
        """The :class:`RegistryError` for a revert web3 raised while estimating or calling."""
        if isinstance(error, ContractCustomError):
            return self.decode_error(error.data)
        if isinstance(error, ContractPanicError):
            return RegistryError("Panic", {"message": error.message}, data=str(error.data))
        return RegistryError("Revert", {"message": error.message}, data=str(error.data))

    def _transact(self, function_name: str, *args: Any) -> TxResult:
        if self.account is None:
            raise ValueError("this client has no account to sign transactions with; use .using(account)")
        function = self.contract.functions[function_name](*args)
        nonce = self.w3.eth.get_transaction_count(self.account.address, "pending")
        params = {"from": self.account.address, "chainId": self.w3.eth.chain_id, "nonce": nonce,
                  **self.tx_params}
        try:
            transaction = function.build_transaction(params)
        except ContractLogicError as error:
            raise self.refusal(error) from None
        signed = self.account.sign_transaction(transaction)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            # Passed estimation but failed when mined (state changed in between).
            raise RegistryError("TransactionReverted", {"tx_hash": bytes(tx_hash)})
        return TxResult(tx_hash=bytes(tx_hash), block_number=receipt["blockNumber"],
                        gas_used=receipt["gasUsed"], events=self.decode_events(receipt))

    def decode_events(self, receipt) -> tuple[Event, ...]:
        """This registry's events in a transaction receipt, in log order."""
        events = []
        for log in receipt["logs"]:
            if _address(log["address"]) != self.address or not log["topics"]:
                continue
            name = self._events.get(bytes(log["topics"][0]))
            if name is None:
                continue
            decoded = self.contract.events[name]().process_log(log)
            events.append(Event(name, {key: _normalise(value) for key, value in decoded["args"].items()}))
        return tuple(events)

    def _call(self, function_name: str, *args: Any) -> Any:
        return self.contract.functions[function_name](*args).call()

    # -- roles

    def add_member(self, member: str) -> TxResult:
        """Grant ``MEMBER_ROLE`` (admins only)."""
        return self._transact("grantRole", MEMBER_ROLE, _address(member))

    def remove_member(self, member: str) -> TxResult:
        """Revoke ``MEMBER_ROLE`` (admins only)."""
        return self._transact("revokeRole", MEMBER_ROLE, _address(member))

    def add_admin(self, admin: str) -> TxResult:
        return self._transact("grantRole", ADMIN_ROLE, _address(admin))

    def is_member(self, account: str) -> bool:
        return self._call("hasRole", MEMBER_ROLE, _address(account))

    def is_admin(self, account: str) -> bool:
        return self._call("hasRole", ADMIN_ROLE, _address(account))

    # -- typed data

    @property
    def domain(self) -> Domain:
        """The EIP-712 domain of this registry (chain id read from the node)."""
        return Domain(self.w3.eth.chain_id, self.address)

    def registration_digest(self, owner: str, device: str, board_id: bytes) -> bytes:
        """The contract's own ``registrationDigest`` (pins :mod:`.typed_data` against it)."""
        return bytes(self._call("registrationDigest", _address(owner), _address(device),
                                _bytes32(board_id, "board_id")))

    def anchor_digest(self, message: AnchorMessage) -> bytes:
        return bytes(self._call("anchorDigest", message.as_tuple()))

    def anchor_signer(self, message: AnchorMessage, signature: bytes) -> str:
        """The address the contract recovers from ``signature`` over ``message``."""
        return _address(self._call("anchorSigner", message.as_tuple(), bytes(signature)))

    def genesis_vdf_output_hash(self, device: str) -> bytes:
        return bytes(self._call("genesisVdfOutputHash", _address(device)))

    def min_vdf_iterations(self) -> int:
        return self._call("minVdfIterations")

    # -- devices

    def register_device(self, device: str, board_id: bytes, metadata_hash: bytes,
                        signature: bytes) -> TxResult:
        """Register ``device`` as this client's account; ``signature`` is the device's
        EIP-712 ``Registration`` signature naming that account (:func:`registration_signature`)."""
        return self._transact("registerDevice", _address(device), _bytes32(board_id, "board_id"),
                              _bytes32(metadata_hash, "metadata_hash"), bytes(signature))

    def register(self, identity, board_id: bytes, metadata_hash: bytes) -> TxResult:
        """Register the device ``identity`` (its key signs the proof of possession here)."""
        if self.account is None:
            raise ValueError("this client has no account to register with; use .using(member_account)")
        signature = registration_signature(self.domain, identity, self.account.address, board_id)
        return self.register_device(identity.address, board_id, metadata_hash, signature)

    def revoke_device(self, device: str) -> TxResult:
        return self._transact("revokeDevice", _address(device))

    def get_device(self, device: str) -> DeviceRecord | None:
        """The device's record, or None when it was never registered."""
        (owner, last_epoch, active, last_vdf, registered, revoked, board_id,
         metadata_hash) = self._call("getDevice", _address(device))
        if int(owner, 16) == 0:
            return None
        return DeviceRecord(_address(device), _address(owner), last_epoch, active, bytes(last_vdf),
                            registered, revoked, bytes(board_id), bytes(metadata_hash))

    # -- anchors

    def anchor(self, message: AnchorMessage, signature: bytes) -> TxResult:
        """Relay a device-signed anchor (anyone may send it)."""
        return self._transact("anchor", message.as_tuple(), bytes(signature))

    def get_anchor(self, device: str, root: bytes) -> AnchorRecord | None:
        """``device``'s anchor of ``root``, or None when it never anchored it."""
        epoch, block_number, count, named_block = self._call("getAnchor", _address(device),
                                                             _bytes32(root, "root"))
        if epoch == 0:
            return None
        return AnchorRecord(_address(device), bytes(root), epoch, block_number, count, named_block)

    def is_anchored(self, device: str, root: bytes) -> bool:
        return self._call("isAnchored", _address(device), _bytes32(root, "root"))

    def anchored_events(self, device: str | None = None, epoch: int | None = None, root: bytes | None = None,
                        from_block: int = 0, to_block: int | str = "latest") -> list[AnchoredEvent]:
        """``Anchored`` events, filtered on the indexed fields given."""
        filters = {}
        if device is not None:
            filters["device"] = _address(device)
        if epoch is not None:
            filters["epoch"] = epoch
        if root is not None:
            filters["root"] = _bytes32(root, "root")
        logs = self.contract.events.Anchored().get_logs(from_block=from_block, to_block=to_block,
                                                         argument_filters=filters)
        events = []
        for log in logs:
            args = log["args"]
            events.append(AnchoredEvent(
                _address(args["device"]), args["epoch"], bytes(args["root"]), bytes(args["vdfOutputHash"]),
                bytes(args["prevVdfOutputHash"]), args["certificateCount"], args["namedBlock"],
                args["iterations"], _address(args["relayer"]), log["blockNumber"],
                bytes(log["transactionHash"])))
        return events

    def verify_certificate(self, device: str, root: bytes, certificate_id: bytes,
                           proof: Sequence[bytes]) -> bool:
        """On-chain inclusion check of a certificate id in ``device``'s anchored epoch tree."""
        nodes = [_bytes32(node, "proof element") for node in proof]
        return self._call("verifyCertificate", _address(device), _bytes32(root, "root"),
                          _bytes32(certificate_id, "certificate_id"), nodes)

    # -- disputes

    def flag(self, device: str, root: bytes, certificate_id: bytes, proof: Sequence[bytes],
             reason_hash: bytes) -> tuple[int, TxResult]:
        """Raise a flag; returns its id (from the ``Flagged`` event) and the transaction."""
        nodes = [_bytes32(node, "proof element") for node in proof]
        result = self._transact("flag", _address(device), _bytes32(root, "root"),
                                _bytes32(certificate_id, "certificate_id"), nodes,
                                _bytes32(reason_hash, "reason_hash"))
        return result.event("Flagged").args["flagId"], result

    def resolve(self, flag_id: int, upheld: bool, resolution_hash: bytes) -> TxResult:
        return self._transact("resolve", flag_id, upheld, _bytes32(resolution_hash, "resolution_hash"))

    def get_flag(self, flag_id: int) -> FlagRecord | None:
        """The flag, or None when no flag has this id."""
        (device, root, certificate_id, reason_hash, flagger, flagged_block, status, resolver, resolved_block,
         resolution_hash) = self._call("getFlag", flag_id)
        if status == FlagStatus.NONE:
            return None
        resolver = None if int(resolver, 16) == 0 else _address(resolver)
        return FlagRecord(flag_id, _address(device), bytes(root), bytes(certificate_id), bytes(reason_hash),
                          _address(flagger), flagged_block, FlagStatus(status), resolver, resolved_block,
                          bytes(resolution_hash))

    def flags_of(self, certificate_id: bytes, start: int = 0, limit: int = FLAG_PAGE) -> list[int]:
        """One page of the flag ids raised against ``certificate_id``, oldest first."""
        return list(self._call("flagsOf", _bytes32(certificate_id, "certificate_id"), start, limit))

    def all_flags_of(self, certificate_id: bytes) -> list[int]:
        """Every flag id raised against ``certificate_id``, read page by page."""
        total = self.flag_count_of(certificate_id)
        return [flag for start in range(0, total, FLAG_PAGE) for flag in self.flags_of(certificate_id, start)]

    def flag_count_of(self, certificate_id: bytes) -> int:
        return self._call("flagCountOf", _bytes32(certificate_id, "certificate_id"))

    def flag_count(self) -> int:
        return self._call("flagCount")


def registration_signature(domain: Domain, identity, owner: str, board_id: bytes) -> bytes:
    """The device ``identity``'s proof of possession: its signature letting ``owner`` register it."""
    return identity.sign_typed(registration_digest(domain, _address(owner), identity.address,
                                                   _bytes32(board_id, "board_id")))


def deploy_registry(w3: Web3, deployer: LocalAccount, admin: str | None = None,
                    artifact: Artifact | None = None, tx_params: dict | None = None,
                    client_class: type[RegistryClient] = RegistryClient,
                    min_vdf_iterations: int = DEFAULT_MIN_VDF_ITERATIONS) -> tuple[RegistryClient, TxResult]:
    """Deploy a registry whose first admin is ``admin`` (default: the deployer) and whose
    anchors must claim at least ``min_vdf_iterations`` VDF squarings.

    Returns a client (of ``client_class``) signing as the deployer, and the deployment
    transaction. A refusal by the constructor raises :class:`RegistryError`.
    """
    artifact = artifact or load_artifact()
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    params = {"from": deployer.address, "chainId": w3.eth.chain_id,
              "nonce": w3.eth.get_transaction_count(deployer.address, "pending"), **(tx_params or {})}
    try:
        transaction = factory.constructor(_address(admin or deployer.address),
                                          min_vdf_iterations).build_transaction(params)
    except ContractCustomError as error:
        errors = _error_table(artifact.abi)
        raw = bytes.fromhex(str(error.data).removeprefix("0x"))
        name, names, types = errors.get(raw[:4], ("UnknownRevert", [], []))
        values = eth_abi.decode(types, raw[4:]) if types else ()
        raise RegistryError(name, dict(zip(names, values, strict=True)), data=str(error.data)) from None
    signed = deployer.sign_transaction(transaction)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1 or not receipt["contractAddress"]:
        raise RegistryError("DeploymentFailed", {"tx_hash": bytes(tx_hash)})
    client = client_class(w3, receipt["contractAddress"], deployer, artifact, tx_params)
    events = client.decode_events(receipt)
    return client, TxResult(bytes(tx_hash), receipt["blockNumber"], receipt["gasUsed"], events)
