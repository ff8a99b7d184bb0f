"""The anchoring service: closed epochs from the store onto the consortium registry, once each.

Every closed epoch is taken up in epoch order and moves through the store's ``anchors``
table::

    empty                                 no certificates: nothing to anchor (the registry
                                          refuses a zero root)
    queued -> pending -> mined -> anchored
                 ^          |             a reorganisation that drops the transaction sends
                 +----------+             it back to pending, and the same bytes are re-sent
    queued -> refused                     the registry refused it when the gas was estimated;
                                          later epochs wait (sending them would make this one
                                          stale for ever) until :meth:`retry_refused`

Exactly once rests on three rules:

1. A transaction is signed and written to the store, with its nonce, *before* it is
   broadcast. After a crash every transaction that may be on the network is known.
2. Re-sending uses the stored bytes, and a fee bump re-signs the stored fields with the
   *same* nonce, so of all the transactions made for one epoch at most one can be mined.
3. A new nonce (re-anchoring) is used only when the old nonce was consumed on chain by a
   transaction that is none of ours *and* the registry shows the epoch unanchored. Even
   then the registry refuses a root anchored twice (``RootAlreadyAnchored``).

What is anchored is signed by the device key (EIP-712 ``Anchor``, :mod:`.typed_data`): the
epoch, root, count, VDF output hash, the previous epoch's VDF output hash, the block the
epoch names and its VDF iterations. The account that sends the transaction only relays and
pays; the signature is made once, when the epoch is taken up, and kept with the anchor row
for proof bundles. Anyone who copies a pending anchor and sends it first anchors it *for
this device*, exactly as signed: the service then finds the epoch anchored (its own
transaction reverts) and adopts it.

An epoch is ``anchored`` once its transaction's block is ``confirmations`` deep and the
registry's ``getAnchor(device, root)`` returns its epoch. Only standard ``eth_*`` JSON-RPC
is used, so the service runs against Anvil, Besu or Quorum alike. The signing account must
be used by this service alone (rule 3 is the fallback when it is not).
"""
from __future__ import annotations

import fcntl
import json
import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError

from ..epochs import EMPTY_ROOT
from ..identity import DeviceIdentity
from ..store import Anchor, AnchorTx, Epoch, Store, now_ms
from .contracts import RegistryClient, RegistryError
from .typed_data import Domain, anchor_digest, anchor_message

log = logging.getLogger("rosvd.anchor")

#: Registry refusals after which waiting cannot help; the operator must act (reported).
FINAL_REFUSALS = frozenset({"DeviceNotRegistered", "DeviceNotActive", "DeviceOwnerNotMember",
                            "InvalidDeviceSignature", "BrokenVdfChain", "TooFewVdfIterations"})


class AnchorConfigError(RuntimeError):
    """The store is anchored elsewhere, or another service already anchors it."""


class ChainUnavailable(RuntimeError):
    """The JSON-RPC endpoint did not answer; nothing was changed, try again later."""


class AnchoringBlocked(RuntimeError):
    """An epoch was refused by the registry; later epochs wait for it."""

    def __init__(self, anchor: Anchor):
        self.anchor = anchor
        super().__init__(f"epoch {anchor.epoch} refused by the registry: {anchor.error}")


@dataclass(frozen=True)
class AnchorPolicy:
    confirmations: int = 2            #: blocks from the one holding the anchor to the head, inclusive
    replace_after_s: float = 30.0     #: re-send (or bump the fee of) a transaction unmined this long
    fee_bump: float = 1.25            #: fee multiplier per replacement (nodes want >= 1.10)
    max_fee_wei: int | None = None    #: never offer more than this per gas
    gas_margin: float = 1.25          #: gas limit = estimate x margin
    max_in_flight: int = 16           #: epochs sent and not yet mined
    backoff_initial_s: float = 0.5    #: first wait after the endpoint failed ...
    backoff_max_s: float = 30.0       #: ... doubling up to this
    poll_s: float = 1.0               #: wait between passes when nothing is left to do

    def __post_init__(self):
        if self.confirmations < 1:
            raise ValueError("confirmations must be at least 1 (the block holding the anchor)")
        if self.fee_bump < 1.1:
            raise ValueError("fee_bump must be at least 1.1: nodes refuse smaller replacements")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")


def vdf_output_hash(epoch: Epoch) -> bytes:
    """What the registry records of an epoch's VDF output: keccak256 of its bytes."""
    return keccak(epoch.vdf_output)


@dataclass
class AnchorService:
    """Anchors the closed epochs of ``store`` for the device ``identity`` through ``registry``.

    ``identity`` (the device key) signs each anchor; ``registry`` signs the transactions
    with the account that relays them and pays the gas (any account: an operator's).
    :meth:`step` makes one pass and returns what happened;
    :meth:`run` repeats it with backoff while the endpoint is down.
    """

    store: Store
    registry: RegistryClient
    identity: DeviceIdentity
    policy: AnchorPolicy = field(default_factory=AnchorPolicy)
    events: Counter = field(default_factory=Counter)
    #: Called when the endpoint does not answer: a client for where the chain is now (a
    #: devnet restarted on another port rewrites its deployment file), or None to keep trying
    #: the same one. The new client must be for the same registry on the same chain.
    reconnect: Callable[[], RegistryClient | None] | None = None

    def __post_init__(self):
        if self.registry.account is None:
            raise ValueError("the registry client needs an account to sign anchors with")
        self.w3 = self.registry.w3
        self.device: str = self.identity.address
        self._gas_limit: int | None = None  # of the last estimated anchor, for epochs sent behind it
        self.sender: str = self.registry.account.address
        self.chain_id: int | None = None  # read on the first pass: the service starts while the chain is down
        # One service per store: two would race to sign for the same epoch.
        self._lock = open(self.store.path.with_name(self.store.path.name + ".anchor-lock"), "a")  # noqa: SIM115
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise AnchorConfigError(f"another anchoring service is running on {self.store.path}") from None

    def close(self) -> None:
        """Release the store for another service (also done when the process exits)."""
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def __enter__(self) -> AnchorService:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- one pass -------------------------------------------------------------------------

    def step(self) -> Counter:
        """Take up closed epochs, follow those in flight, send what may be sent."""
        before = self.events.copy()
        self._rpc(self._step)
        return self.events - before

    def _step(self) -> None:
        if self.chain_id is None:
            self.chain_id = self.w3.eth.chain_id
            for chain_id, registry in self.store.anchor_targets():
                if (chain_id, registry) != (self.chain_id, self.registry.address):
                    raise AnchorConfigError(f"{self.store.path} anchors to {registry} on chain {chain_id},"
                                            f" not {self.registry.address} on chain {self.chain_id}")
        domain = Domain(self.chain_id, self.registry.address)
        for epoch in self.store.unanchored_closed_epochs():
            # Empty epochs come only from stores sealed before rosvd refused to seal them;
            # the registry needs epochs 1, 2, 3, ... so the next one will be refused.
            empty = epoch.count == 0 or epoch.merkle_root == EMPTY_ROOT
            signature = None if empty else self.identity.sign_typed(
                anchor_digest(domain, anchor_message(epoch, self.device)))
            self.store.put_anchor(epoch.number, "empty" if empty else "queued", chain_id=self.chain_id,
                                  registry=self.registry.address, sender=self.sender,
                                  vdf_hash=vdf_output_hash(epoch), signature=signature)
            self.events["taken_up"] += 1
        head = self.w3.eth.block_number
        for anchor in self.store.anchors("pending", "mined"):
            self._follow(anchor, head)
        self._send_queued()

    def _follow(self, anchor: Anchor, head: int) -> None:
        if anchor.state == "mined":
            self._confirm(anchor, head)
            return
        txs = self.store.anchor_txs(anchor.epoch)
        if not txs:  # adopted from the chain: no transaction of ours
            return
        # Nonce first, receipts second: a nonce consumed before we looked must show a receipt.
        confirmed_nonce = self.w3.eth.get_transaction_count(self.sender, "latest")
        for tx in reversed(txs):
            receipt = self._receipt(tx.tx_hash)
            if receipt is not None:
                self._mined(anchor, tx, receipt, head)
                return
        latest = txs[-1]
        if confirmed_nonce > latest.nonce:
            self._nonce_taken(anchor, latest)
        elif self._known(latest.tx_hash):
            if now_ms() - latest.created_ms >= self.policy.replace_after_s * 1000:
                self._replace(latest)
        else:
            self._broadcast(latest, reason="rebroadcast")  # dropped, lost by a restarted node, or reorganised

    def _mined(self, anchor: Anchor, tx: AnchorTx, receipt, head: int) -> None:
        if receipt["status"] != 1 and self._adopt_if_anchored(anchor.epoch):
            # Someone relayed our signed anchor first (front-running gains nothing).
            self._confirm(self.store.anchor(anchor.epoch), head)
            return
        if receipt["status"] != 1:
            self.store.update_anchor(anchor.epoch, "refused", tx_hash=tx.tx_hash,
                                     block_number=receipt["blockNumber"],
                                     error="TransactionReverted (mined but reverted; the registry's"
                                           " state changed after estimation)")
            self.events["reverted"] += 1
            log.error("epoch %d: anchor transaction %s reverted", anchor.epoch, tx.tx_hash.hex())
            return
        self.store.update_anchor(anchor.epoch, "mined", tx_hash=tx.tx_hash,
                                 block_number=receipt["blockNumber"], block_hash=bytes(receipt["blockHash"]))
        self.events["mined"] += 1
        self._confirm(self.store.anchor(anchor.epoch), head)

    def _confirm(self, anchor: Anchor, head: int) -> None:
        if anchor.tx_hash is not None:
            receipt = self._receipt(anchor.tx_hash)
            if receipt is None or bytes(receipt["blockHash"]) != anchor.block_hash:
                # Reorganised: the block holding it is gone. Back to pending; _follow finds
                # it in its new block, or re-sends the same bytes.
                self.store.update_anchor(anchor.epoch, "pending")
                self.events["reorganised"] += 1
                log.warning("epoch %d: anchor block %d was reorganised away", anchor.epoch,
                            anchor.block_number)
                self._follow(self.store.anchor(anchor.epoch), head)
                return
        elif self._block_hash(anchor.block_number) != anchor.block_hash:
            self.store.update_anchor(anchor.epoch, "queued")  # adopted anchor reorganised away
            self.events["reorganised"] += 1
            return
        if head - anchor.block_number + 1 < self.policy.confirmations:
            return
        epoch = self.store.epoch(anchor.epoch)
        record = self.registry.get_anchor(self.device, epoch.merkle_root)
        if record is None or record.epoch != anchor.epoch:
            raise RuntimeError(f"epoch {anchor.epoch}: mined and confirmed, but the registry does not"
                               " hold its root; is the deployment file for this registry?")
        self.store.update_anchor(anchor.epoch, "anchored", tx_hash=anchor.tx_hash,
                                 block_number=anchor.block_number, block_hash=anchor.block_hash)
        self.events["anchored"] += 1
        log.info("epoch %d anchored in block %d", anchor.epoch, anchor.block_number)

    def _nonce_taken(self, anchor: Anchor, latest: AnchorTx) -> None:
        """Our nonce was used by a transaction that is not ours (rule 3)."""
        if self._adopt_if_anchored(anchor.epoch):
            return
        log.warning("epoch %d: nonce %d was used by another transaction; anchoring again",
                    anchor.epoch, latest.nonce)
        self.store.update_anchor(anchor.epoch, "queued")
        self.events["nonce_taken"] += 1

    def _adopt_if_anchored(self, number: int) -> bool:
        """Record an anchor already on chain for this device and epoch (sent by an earlier
        instance whose store was restored from a backup, say); True if there was one."""
        epoch = self.store.epoch(number)
        record = self.registry.get_anchor(self.device, epoch.merkle_root)
        if record is None or record.epoch != number:
            return False
        events = self.registry.anchored_events(device=self.device, root=epoch.merkle_root,
                                               from_block=record.block_number, to_block=record.block_number)
        tx_hash = events[0].tx_hash if len(events) == 1 else None  # the relaying transaction, whoever sent it
        self.store.update_anchor(number, "mined", tx_hash=tx_hash, block_number=record.block_number,
                                 block_hash=self._block_hash(record.block_number))
        self.events["adopted"] += 1
        return True

    # -- sending ----------------------------------------------------------------------------

    def _send_queued(self) -> None:
        in_flight = len(self.store.anchors("pending"))
        for anchor in self.store.anchors("queued", "refused"):
            if anchor.state == "refused":
                self.events["blocked"] += 1
                return
            if in_flight >= self.policy.max_in_flight:
                return
            outcome = self._send(anchor, behind_pending=in_flight > 0)
            if outcome in ("refused", "wait"):
                return  # later epochs wait: the registry takes a device's epochs in order
            in_flight += outcome == "sent"

    def _send(self, anchor: Anchor, behind_pending: bool = False) -> str:
        """Estimate, sign, record and broadcast; returns "sent", "adopted", "refused" or "wait".

        An epoch sent while the one before is still unmined cannot be estimated (the registry
        would see it out of order): it reuses the gas limit of the last estimated anchor,
        which costs the same, and a refusal then shows as a reverted transaction. Without
        such an estimate yet, it waits for the one before to be mined.
        """
        epoch = self.store.epoch(anchor.epoch)
        function = self.registry.contract.functions.anchor(anchor_message(epoch, self.device).as_tuple(),
                                                            anchor.signature)
        params = {"from": self.sender, "chainId": self.chain_id, **self._fees(), **self.registry.tx_params}
        if behind_pending:
            if self._gas_limit is None:
                return "wait"
            params["gas"] = self._gas_limit
        params["nonce"] = self._next_nonce()
        try:
            fields = function.build_transaction(params)
        except ContractLogicError as error:
            return self._refused(anchor, self.registry.refusal(error))
        if not behind_pending:
            fields["gas"] = self._gas_limit = math.ceil(fields["gas"] * self.policy.gas_margin)
        tx = self._sign(anchor.epoch, fields)
        self.store.add_anchor_tx(tx)  # rule 1: durable before it can reach the network
        self.events["sent"] += 1
        self._broadcast(tx, reason="send")
        return "sent"

    def _refused(self, anchor: Anchor, error: RegistryError) -> str:
        if error.name in ("RootAlreadyAnchored", "EpochOutOfOrder") and self._adopt_if_anchored(anchor.epoch):
            return "adopted"
        self.store.update_anchor(anchor.epoch, "refused", error=str(error))
        self.events["refused"] += 1
        log.error("epoch %d refused by the registry: %s%s", anchor.epoch, error,
                  " (the device cannot anchor until a member acts)" if error.name in FINAL_REFUSALS else "")
        return "refused"

    def _next_nonce(self) -> int:
        chain = self.w3.eth.get_transaction_count(self.sender, "pending")
        ours = self.store.highest_pending_nonce(self.sender)
        return chain if ours is None else max(chain, ours + 1)

    def _fees(self) -> dict:
        if "gasPrice" in self.registry.tx_params:
            return {}
        base = self.w3.eth.get_block("latest").get("baseFeePerGas")
        if base is None:
            return {"gasPrice": self._capped(self.w3.eth.gas_price)}
        tip = self.w3.eth.max_priority_fee
        return {"maxFeePerGas": self._capped(2 * base + tip), "maxPriorityFeePerGas": self._capped(tip)}

    def _capped(self, wei: int) -> int:
        return wei if self.policy.max_fee_wei is None else min(wei, self.policy.max_fee_wei)

    def _sign(self, epoch: int, fields: dict) -> AnchorTx:
        account: LocalAccount = self.registry.account
        signed = account.sign_transaction(fields)
        fee = fields.get("maxFeePerGas", fields.get("gasPrice", 0))
        return AnchorTx(epoch=epoch, nonce=fields["nonce"], fee_wei=fee, tx_hash=bytes(signed.hash),
                        fields=json.dumps(fields, sort_keys=True), raw=bytes(signed.raw_transaction),
                        created_ms=now_ms())

    def _replace(self, latest: AnchorTx) -> None:
        """Unmined for too long: the same nonce with a higher fee, or the same bytes again
        when the fee cannot rise (fixed or capped price)."""
        fields = json.loads(latest.fields)
        bumped = dict(fields)
        for key in ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas"):
            if key in fields:
                bumped[key] = self._capped(math.ceil(fields[key] * self.policy.fee_bump))
        if bumped == fields:
            self._broadcast(latest, reason="rebroadcast")
            return
        tx = self._sign(latest.epoch, bumped)
        self.store.add_anchor_tx(tx)
        self.events["replaced"] += 1
        self._broadcast(tx, reason="replace")

    def _broadcast(self, tx: AnchorTx, reason: str) -> None:
        try:
            self.w3.eth.send_raw_transaction(tx.raw)
        except Web3RPCError as error:
            # "already known", "nonce too low", "replacement underpriced": the next pass
            # reads the outcome from the chain instead of trusting this answer.
            log.info("epoch %d: node answered %s to %s of %s", tx.epoch, error, reason, tx.tx_hash.hex())
            self.events[f"{reason}_refused_by_node"] += 1
            return
        if reason != "send":
            self.events[reason] += 1

    # -- chain reads --------------------------------------------------------------------------

    def _receipt(self, tx_hash: bytes):
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None

    def _known(self, tx_hash: bytes) -> bool:
        try:
            self.w3.eth.get_transaction(tx_hash)
            return True
        except TransactionNotFound:
            return False

    def _block_hash(self, number: int) -> bytes | None:
        block = self.w3.eth.get_block(number)
        return None if block is None else bytes(block["hash"])

    @staticmethod
    def _rpc(call):
        try:
            return call()
        except (requests.exceptions.RequestException, ConnectionError, TimeoutError) as error:
            raise ChainUnavailable(f"the chain's JSON-RPC endpoint did not answer: {error}") from error

    def _reconnected(self) -> bool:
        """Follow the chain to a new endpoint, if :attr:`reconnect` names one."""
        client = self.reconnect() if self.reconnect is not None else None
        if client is None or client.w3.provider.endpoint_uri == self.w3.provider.endpoint_uri:
            return False
        if client.address != self.registry.address or client.account.address != self.sender:
            raise AnchorConfigError(f"the deployment now names registry {client.address} (sender"
                                    f" {client.account.address}), not {self.registry.address}: a new"
                                    " chain, not this one moved; start the service again for it")
        log.warning("the chain moved to %s; anchoring there", client.w3.provider.endpoint_uri)
        self.registry, self.w3 = client, client.w3
        self.chain_id = None  # checked again against the store on the next pass
        self.events["reconnected"] += 1
        return True

    # -- loops --------------------------------------------------------------------------------

    def retry_refused(self) -> list[int]:
        """Queue refused epochs again (after a member fixed what the error names)."""
        numbers = [anchor.epoch for anchor in self.store.anchors("refused")]
        for number in numbers:
            self.store.update_anchor(number, "queued")
        return numbers

    def outstanding(self) -> list[Anchor]:
        """Epochs taken up and not yet anchored (empty epochs need nothing)."""
        return self.store.anchors("queued", "pending", "mined", "refused")

    def run(self, stop: threading.Event | None = None, until_anchored: bool = False,
            timeout_s: float | None = None) -> Counter:
        """Pass after pass until ``stop`` is set, or (``until_anchored``) until every closed
        epoch is anchored. Raises :class:`AnchoringBlocked` when an epoch is refused, and
        TimeoutError after ``timeout_s``. The endpoint being down only delays (backoff)."""
        stop = stop or threading.Event()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        backoff = self.policy.backoff_initial_s
        total: Counter = Counter()
        while not stop.is_set():
            try:
                total += self.step()
                backoff = self.policy.backoff_initial_s
                wait = self.policy.poll_s
            except ChainUnavailable as error:
                self.events["unavailable"] += 1
                total["unavailable"] += 1
                if self._reconnected():
                    backoff, wait = self.policy.backoff_initial_s, 0.0
                    total["reconnected"] += 1
                    continue
                log.warning("%s; next try in %.1f s", error, backoff)
                wait = backoff * random.uniform(0.8, 1.2)  # jitter: many hosts must not retry in step
                backoff = min(2 * backoff, self.policy.backoff_max_s)
            refused = self.store.anchors("refused")
            if refused:
                raise AnchoringBlocked(refused[0])
            if until_anchored and not self.outstanding() and not self.store.unanchored_closed_epochs():
                return total
            if deadline is not None and time.monotonic() + wait > deadline:
                left = [anchor.epoch for anchor in self.outstanding()]
                raise TimeoutError(f"epochs {left} not anchored within {timeout_s} s")
            stop.wait(wait)
        return total


def status(store: Store) -> dict[str, Any]:
    """Counts of anchor states and the epochs that need attention, for ``rosvd chain status``."""
    anchors = store.anchors()
    counts = Counter(anchor.state for anchor in anchors)
    return {
        "anchors": dict(counts),
        "closed_not_taken_up": [epoch.number for epoch in store.unanchored_closed_epochs()],
        "refused": [{"epoch": a.epoch, "error": a.error} for a in anchors if a.state == "refused"],
        "last_anchored": max((a.epoch for a in anchors if a.state == "anchored"), default=None),
    }
