"""``GET /v1/bundles/{id}/verification``: the verifier, run by this server against its own node.

A client need not trust the server, so this answer is labelled as what it is: the checks of
:func:`rosvd.verifier.verify_bundle` as *this server* made them, against the chain node of
the deployment its home joined (the web page says so, and shows the ``rosvd query``
command that re-checks with a node of the user's choosing).

Contract:

- The offline checks are always made. The chain checks are made only when the home joined
  a chain; otherwise, or when the node cannot be reached, answers an error, or is too slow,
  they are reported as not made (``ok: null``) with the reason in ``chain_unchecked``,
  never as a server error.
- Bounded: each JSON-RPC request times out after :data:`RPC_TIMEOUT_S`; the answer comes
  within :data:`DEADLINE_S` (the chain checks are abandoned after that); at most
  :data:`MAX_CONCURRENT` chain verifications run at once (a thread stuck on a slow node
  keeps its slot until its own timeouts end it), more are answered without chain checks.
- The node's URL is shown only as ``scheme://host:port``: a path, query or user part may
  carry credentials (API keys), so they are cut and ``node_redacted`` says so.
"""
from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from fastapi.concurrency import run_in_threadpool

from ..verifier import CHAIN_CHECKS, Check, Verification, verify_bundle
from .problems import log

#: Seconds one JSON-RPC request to the node may take.
RPC_TIMEOUT_S = 5.0
#: Seconds the whole verification may take before the chain checks are abandoned.
DEADLINE_S = 15.0
#: Chain verifications running at once (each holds one worker thread).
MAX_CONCURRENT = 4
#: The verifier's reason when it is given no node; replaced by the server's own reason.
NO_NODE = "not checked: no chain node given"


def public_node(url: str) -> tuple[str, bool]:
    """``(scheme://host[:port], redacted)``: the node's URL without the parts that may hold secrets."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "(unparsable URL)", True
    shown = f"[{host}]" if ":" in host else host
    base = f"{parts.scheme}://{shown}" + (f":{port}" if port is not None else "")
    redacted = bool(parts.username or parts.password or parts.path not in ("", "/") or parts.query
                    or parts.fragment)
    return base, redacted


class ServerVerifier:
    """Runs :func:`verify_bundle` for the API, against the deployment at ``deployment_path``."""

    def __init__(self, deployment_path: str | None):
        self.deployment_path = deployment_path
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT)

    async def verify(self, bundle: dict) -> dict:
        started = time.monotonic()
        deployment, unchecked = self._deployment()
        node = redacted = None
        result = None
        if deployment is not None:
            node, redacted = public_node(deployment.rpc_url)
            result, unchecked = await self._on_chain(bundle, deployment, node)
        if result is None:
            result = _without_chain(await run_in_threadpool(verify_bundle, bundle), unchecked)
        return {**result.to_json(), "checked_by": "this server", "node": node, "node_redacted": redacted,
                "chain_id": None if deployment is None else deployment.chain_id,
                "registry": None if deployment is None else deployment.registry.lower(),
                "chain_unchecked": unchecked, "elapsed_ms": round((time.monotonic() - started) * 1000)}

    def _deployment(self):
        if self.deployment_path is None:
            return None, "this server's appliance joined no chain: the chain checks were not made"
        from ..chain.deployment import Deployment, DeploymentError
        try:
            return Deployment.load(Path(self.deployment_path)), None
        except DeploymentError as error:
            return None, f"this server cannot read its deployment file: {error}"

    async def _on_chain(self, bundle: dict, deployment, node: str) -> tuple[Verification | None, str | None]:
        if not self._slots.acquire(blocking=False):
            return None, (f"this server is verifying as many bundles at once as it allows ({MAX_CONCURRENT}):"
                          " the chain checks were not made (try again, or check with your own node)")
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def settle(outcome: tuple) -> None:
            if not done.done():
                done.set_result(outcome)

        def run() -> None:
            # Its own thread, not the worker pool's: one abandoned at the deadline keeps its
            # slot until the node's timeouts end it, and never holds a pool worker.
            try:
                outcome = (verify_bundle(bundle, _registry(deployment), deployment.registry), None)
            except Exception as error:  # the node's failures come in many types (requests, web3, ABI)
                outcome = (None, error)
            finally:
                self._slots.release()
            with contextlib.suppress(RuntimeError):  # the service stopped meanwhile: nobody waits
                loop.call_soon_threadsafe(settle, outcome)

        threading.Thread(target=run, name="rosvd-verify", daemon=True).start()
        try:
            result, error = await asyncio.wait_for(asyncio.shield(done), DEADLINE_S)
        except TimeoutError:
            return None, f"the node at {node} did not finish the chain checks within {DEADLINE_S:g} s"
        if error is None:
            return result, None
        detail = _hide(str(error), deployment.rpc_url, node)
        log.warning("verifying a bundle against %s failed: %s: %s", node, type(error).__name__, detail)
        return None, f"the node at {node} failed: {type(error).__name__}: {detail[:300]}"


def _registry(deployment):
    """A read-only client on the deployment's node; no retries, so each request's timeout is the bound."""
    from web3 import Web3

    from ..chain.contracts import RegistryClient
    provider = Web3.HTTPProvider(deployment.rpc_url, request_kwargs={"timeout": RPC_TIMEOUT_S},
                                 exception_retry_configuration=None)
    return RegistryClient(Web3(provider), deployment.registry)


def _hide(message: str, url: str, node: str) -> str:
    """``message`` without the node URL's secret-bearing parts (an error may quote the URL or its path)."""
    message = message.replace(url, node)
    parts = urlsplit(url)
    for secret in (parts.path if parts.path not in ("", "/") else "", parts.query, parts.password or "",
                   parts.username or ""):   # keys travel as user names too (https://KEY@host)
        if secret:
            message = message.replace(secret, "/...")
    return message


def _without_chain(result: Verification, reason: str) -> Verification:
    """The verifier's own 'no node given' reason replaced by why this server made no chain checks."""
    result.checks = [Check(check.name, None, f"not checked: {reason}")
                     if check.name in CHAIN_CHECKS and check.ok is None and check.detail.startswith(NO_NODE)
                     else check for check in result.checks]
    return result
