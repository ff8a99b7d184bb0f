"""Foundry's ``cast``, installed by npm (``@foundry-rs/cast``), as an independent JSON-RPC client.

Used by tests to check the registry's ABI with a tool that shares no code with web3.py.
Like Anvil (:func:`rosvd.chain.devnet.anvil_binary`), the native binary ships in a
per-platform package (``@foundry-rs/cast-linux-amd64`` ...), which we run directly.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from .devnet import NODE_MODULES, foundry_binary


class CastError(RuntimeError):
    """``cast`` is missing, or exited with an error (its stderr is in the message)."""


def cast_binary(node_modules: Path = NODE_MODULES) -> Path:
    """Path of the ``cast`` executable installed by npm; raises :class:`CastError` if absent."""
    found = foundry_binary("cast", node_modules)
    if found is not None:
        return found
    raise CastError(f"Foundry's cast is not installed under {node_modules} (npm @foundry-rs/cast);"
                    " run make setup")


def cast(*args: str, rpc_url: str | None = None, timeout: float = 60.0,
         node_modules: Path = NODE_MODULES) -> str:
    """Run ``cast *args`` (with ``--rpc-url`` when given); returns its stdout, stripped."""
    command = [str(cast_binary(node_modules)), *map(str, args)]
    if rpc_url is not None:
        command += ["--rpc-url", rpc_url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        shown = " ".join(map(str, args))
        raise CastError(f"cast {shown} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout.strip()
