"""A local Anvil devnet for tests and the demo: started from ``node_modules``, on a free port.

Anvil comes from the npm package ``@foundry-rs/anvil``, which ships its native binary in a
per-platform package (``@foundry-rs/anvil-linux-amd64`` ...). We run that binary directly
(falling back to the ``node_modules/.bin/anvil`` Node wrapper), so the process we stop is
Anvil itself and not a Node parent that might leave it running.

Contract: :class:`Devnet` is a context manager. On entry it picks a free loopback port, starts
Anvil on ``127.0.0.1`` with it, and returns once ``eth_chainId`` answers; on exit it stops
Anvil (SIGTERM, then SIGKILL after ``stop_timeout``), which writes ``dump_state`` if given.
Nothing outside this module is Anvil-specific: callers get a JSON-RPC URL, the chain id
and the dev accounts' private keys.
"""
from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO_ROOT / "node_modules"
#: Anvil's chain id unless told otherwise.
DEFAULT_CHAIN_ID = 31337
#: npm's per-platform package suffix for Foundry's native binaries, by (system, machine).
FOUNDRY_PLATFORMS = {
    ("Linux", "x86_64"): "linux-amd64",
    ("Linux", "aarch64"): "linux-arm64",
    ("Darwin", "x86_64"): "darwin-amd64",
    ("Darwin", "arm64"): "darwin-arm64",
}


class DevnetError(RuntimeError):
    """Anvil is missing, did not start, or did not answer in time."""


def foundry_binary(tool: str, node_modules: Path = NODE_MODULES) -> Path | None:
    """Path of Foundry's ``tool`` (anvil, cast) installed by npm, or None if absent: the
    native binary of ``@foundry-rs/<tool>-<platform>``, else the ``.bin`` Node wrapper."""
    suffix = FOUNDRY_PLATFORMS.get((platform.system(), platform.machine()))
    candidates = []
    if suffix:
        candidates.append(node_modules / "@foundry-rs" / f"{tool}-{suffix}" / "bin" / tool)
    candidates.append(node_modules / ".bin" / tool)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def anvil_binary(node_modules: Path = NODE_MODULES) -> Path:
    """Path of the Anvil executable installed by npm; raises :class:`DevnetError` if absent."""
    found = foundry_binary("anvil", node_modules)
    if found is None:
        raise DevnetError(f"Anvil is not installed under {node_modules} (npm @foundry-rs/anvil); "
                          "run make setup")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the kernel's pick; may be taken before use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def rpc(url: str, method: str, params: list | None = None, timeout: float = 5.0):
    """One JSON-RPC call; returns ``result`` or raises :class:`DevnetError` with the error."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.load(response)
    if "error" in reply:
        raise DevnetError(f"{method}: {reply['error']}")
    return reply["result"]


@dataclass
class Devnet:
    """One Anvil process. Use as ``with Devnet() as net: ... net.url ...``.

    ``block_time`` (seconds) switches from mining on every transaction to interval mining;
    ``load_state`` starts from a file written earlier through ``dump_state``; ``hardfork``
    pins the EVM rules (the contracts are compiled for ``cancun``). ``port`` asks for a
    fixed port (to restart a devnet where its clients expect it) instead of a free one.
    """

    accounts: int = 10
    chain_id: int = DEFAULT_CHAIN_ID
    block_time: float | None = None
    dump_state: Path | None = None
    load_state: Path | None = None
    hardfork: str | None = "cancun"
    start_timeout: float = 20.0
    stop_timeout: float = 10.0
    node_modules: Path = NODE_MODULES
    extra_args: tuple[str, ...] = ()
    port: int | None = None
    host: str = field(default="127.0.0.1", init=False)
    private_keys: list[str] = field(default_factory=list, init=False)
    addresses: list[str] = field(default_factory=list, init=False)
    _process: subprocess.Popen | None = field(default=None, init=False, repr=False)
    _workdir: tempfile.TemporaryDirectory | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        if self.port is None:
            raise DevnetError("devnet is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        if self._workdir is None:
            raise DevnetError("devnet is not running")
        return Path(self._workdir.name) / "anvil.log"

    def _command(self, binary: Path, config_out: Path) -> list[str]:
        command = [str(binary), "--host", self.host, "--port", str(self.port),
                   "--accounts", str(self.accounts), "--chain-id", str(self.chain_id),
                   "--config-out", str(config_out)]
        if self.block_time is not None:
            command += ["--block-time", repr(self.block_time)]
        if self.hardfork:
            command += ["--hardfork", self.hardfork]
        if self.dump_state is not None:
            command += ["--dump-state", str(self.dump_state)]
        if self.load_state is not None:
            if not Path(self.load_state).is_file():
                raise DevnetError(f"no state file at {self.load_state}")
            command += ["--load-state", str(self.load_state)]
        return command + list(self.extra_args)

    def start(self) -> Devnet:
        if self._process is not None:
            raise DevnetError("devnet already started")
        binary = anvil_binary(self.node_modules)
        self._workdir = tempfile.TemporaryDirectory(prefix="rosvd-anvil-")
        config_out = Path(self._workdir.name) / "anvil.json"
        # A free port can be taken between free_port() and Anvil's bind: try a few.
        fixed_port = self.port
        for _attempt in range(1 if fixed_port else 3):
            self.port = fixed_port or free_port(self.host)
            with open(self.log_path, "ab") as log:
                self._process = subprocess.Popen(self._command(binary, config_out), stdin=subprocess.DEVNULL,
                                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            if self._wait_ready():
                break
            self._kill()
        else:
            log_text = self.log_path.read_text(errors="replace")[-2000:]
            self._cleanup()
            raise DevnetError(f"Anvil did not answer within {self.start_timeout} s; its log:\n{log_text}")
        self._read_accounts(config_out)
        return self

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                if int(rpc(self.url, "eth_chainId", timeout=1.0), 16) == self.chain_id:
                    return True
            except (OSError, urllib.error.URLError, ValueError, DevnetError):
                pass
            time.sleep(0.05)
        return False

    def _read_accounts(self, config_out: Path) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                config = json.loads(config_out.read_text())
                break
            except (FileNotFoundError, json.JSONDecodeError):
                if time.monotonic() > deadline:
                    raise DevnetError(f"Anvil wrote no account list to {config_out}") from None
                time.sleep(0.05)
        self.private_keys = list(config["private_keys"])
        self.addresses = list(config["available_accounts"])

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _cleanup(self) -> None:
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None
        self.port = None

    def stop(self) -> None:
        """Stop Anvil (it writes ``dump_state`` on the way out) and remove its temporary files."""
        self._kill()
        self._cleanup()

    def __enter__(self) -> Devnet:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
