"""Where the registry lives: the deployment file the host reads to reach it.

``rosvd chain up`` (a local Anvil) and ``rosvd chain deploy`` (any EVM JSON-RPC endpoint:
Besu, Quorum) write it; ``rosvd chain anchor`` and the appliance read it. It names the
chain id, the endpoint, the registry address and the block it was deployed in.
:meth:`Deployment.connect` refuses an endpoint whose chain id differs, or an address
whose code is not the registry this checkout builds, before anything is signed.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import requests
from eth_account.signers.local import LocalAccount
from web3 import Web3

from .contracts import Artifact, RegistryClient, load_artifact

DEPLOYMENT_FORMAT = 1
#: Seconds one JSON-RPC request may take before the endpoint is treated as down.
RPC_TIMEOUT_S = 10.0


class DeploymentError(RuntimeError):
    """The deployment file is missing or malformed, or does not match the endpoint."""


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    rpc_url: str
    registry: str
    block_number: int       #: the block holding the deployment (start of log searches)
    deployer: str
    source_hash: str        #: sha256 of the contract sources the bytecode was built from

    def save(self, path: Path) -> None:
        """Write atomically (a reader never sees half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"format": DEPLOYMENT_FORMAT, **asdict(self)}, indent=1) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Deployment:
        path = Path(path)
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            raise DeploymentError(f"no deployment file at {path}; run `rosvd chain up` (local devnet)"
                                  " or `rosvd chain deploy --rpc URL`") from None
        except json.JSONDecodeError as error:
            raise DeploymentError(f"{path}: not JSON ({error})") from None
        if record.pop("format", None) != DEPLOYMENT_FORMAT:
            raise DeploymentError(f"{path}: not a format-{DEPLOYMENT_FORMAT} deployment file")
        try:
            deployment = cls(**record)
            Web3.to_checksum_address(deployment.registry)
        except (TypeError, ValueError) as error:
            raise DeploymentError(f"{path}: malformed deployment ({error})") from None
        return deployment

    def web3(self, timeout_s: float = RPC_TIMEOUT_S) -> Web3:
        return Web3(Web3.HTTPProvider(self.rpc_url, request_kwargs={"timeout": timeout_s}))

    def connect(self, account: LocalAccount | None = None, tx_params: dict | None = None,
                artifact: Artifact | None = None, w3: Web3 | None = None) -> RegistryClient:
        """A registry client, after checking the endpoint serves this chain and this registry."""
        w3 = w3 or self.web3()
        artifact = artifact or load_artifact()
        try:
            chain_id = w3.eth.chain_id
        except requests.exceptions.RequestException as error:
            raise DeploymentError(f"cannot reach the chain at {self.rpc_url}: {error}") from None
        if chain_id != self.chain_id:
            raise DeploymentError(f"{self.rpc_url} is chain {chain_id}; the deployment is on chain"
                                  f" {self.chain_id}")
        code = bytes(w3.eth.get_code(Web3.to_checksum_address(self.registry)))
        if not artifact.matches_deployed(code):
            found = "no contract" if not code else "other code"
            raise DeploymentError(f"{self.registry} on chain {chain_id} holds {found}, not the registry this"
                                  " rosvd builds (wrong deployment file, or a devnet restarted without its"
                                  " state)")
        return RegistryClient(w3, self.registry, account, artifact, tx_params)
