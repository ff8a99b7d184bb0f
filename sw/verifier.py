"""One verifier: every check a proof bundle must pass, each by name, trusting only the chain.

:func:`verify_bundle` parses the bundle strictly (:mod:`.bundle`), runs the checks that need
nothing but the math, then, given a registry client on a node the verifier chose and the
registry address the verifier trusts, the checks that ask the chain. Each check is reported
with its outcome: ``True`` passed, ``False`` failed, ``None`` could not be made (no node, or a
check it depends on failed). A bundle is verified only when every check passed, so a
verifier without a node never sees success. See docs/trust-model.md for what it proves.

Checks, in order:

offline
    ``bundle_format``, ``certificate_canonical``, ``device_signature``, ``entropy_commitment``,
    ``epoch_number``, ``merkle_path``, ``vdf_proof``, ``vdf_genesis`` (epoch 1 starts from the
    device's genesis output), ``anchor_signature`` (the device signed this anchor for the
    named chain and registry)
on chain
    ``chain_identity`` (the node's chain id and the trusted registry are the bundle's),
    ``vdf_min_iterations`` (at least the registry's ``minVdfIterations``),
    ``named_block`` (the block the epoch names exists, with that hash), ``certificate_block``
    (the block a version-2 certificate names exists with that hash, no later than the epoch's),
    ``anchor_on_chain`` (the device anchored this root, for this epoch, count, named block,
    VDF output, previous output and iterations, in the bundle's block),
    ``vdf_chain`` (the previous output is the one the device anchored for the epoch before),
    ``merkle_on_chain`` (the registry's own inclusion check), ``device_registered`` (registered
    before and not revoked at the anchor block; revoked in that very block counts as revoked),
    ``time_window`` (the host's claimed time lies between the certificate's block and the
    anchor block, within :data:`CLAIM_TOLERANCE_S`)
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import vdf
from .bundle import Bundle, BundleError, parse
from .certificate import LEAF_TYPES, CertificateError, decode, entropy_commitment, verify_signature
from .epochs import epoch_challenge, genesis_output
from .identity import recover_typed
from .merkle import leaf_hash, verify

#: How far the host's claimed certificate time may lie past the anchor block's timestamp
#: (block timestamps and the host clock each drift by seconds; minutes is a contradiction).
CLAIM_TOLERANCE_S = 300

OFFLINE_CHECKS = ("bundle_format", "certificate_canonical", "device_signature", "entropy_commitment",
                  "epoch_number", "merkle_path", "vdf_proof", "vdf_genesis", "anchor_signature")
CHAIN_CHECKS = ("chain_identity", "vdf_min_iterations", "named_block", "certificate_block", "anchor_on_chain",
                "vdf_chain", "merkle_on_chain", "device_registered", "time_window")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None      #: None: not checked
    detail: str

    def to_json(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass
class Verification:
    checks: list[Check] = field(default_factory=list)
    time_window: dict = field(default_factory=dict)
    #: What the chain says beyond pass or fail: revocation since the anchor, open dispute flags.
    status: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok is True for check in self.checks)

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)

    def failed(self) -> list[str]:
        return [check.name for check in self.checks if check.ok is False]

    def add(self, name: str, ok: bool | None, detail: str = "") -> bool | None:
        self.checks.append(Check(name, ok, detail))
        return ok

    def skip_rest(self, names, reason: str) -> None:
        done = {check.name for check in self.checks}
        for name in names:
            if name not in done:
                self.add(name, None, reason)

    def to_json(self) -> dict:
        return {"ok": self.ok, "checks": [check.to_json() for check in self.checks],
                "time_window": self.time_window, "status": self.status}


def verify_bundle(record, registry=None, trusted_registry: str | None = None) -> Verification:
    """Run every check on the bundle ``record`` (decoded JSON).

    ``registry`` is a :class:`rosvd.chain.contracts.RegistryClient` on a node of the
    verifier's choice, at the registry address the verifier trusts (``trusted_registry``
    defaults to that client's address); without it the chain checks are reported as not made.
    """
    result = Verification()
    try:
        bundle = parse(record)
    except BundleError as error:
        result.add("bundle_format", False, str(error))
        result.skip_rest(OFFLINE_CHECKS + CHAIN_CHECKS, "not checked: the bundle is malformed")
        return result
    result.add("bundle_format", True, "version 3, every field well formed")
    cert = _offline_checks(bundle, result)
    if registry is None:
        result.skip_rest(CHAIN_CHECKS, "not checked: no chain node given (--rpc)")
    elif cert is None:
        result.skip_rest(CHAIN_CHECKS, "not checked: the certificate does not decode")
    else:
        _chain_checks(bundle, cert, registry, trusted_registry or registry.address, result)
    return result


def _offline_checks(bundle: Bundle, result: Verification):
    epoch = bundle.epoch
    try:
        cert = decode(bundle.certificate)
    except CertificateError as error:
        result.add("certificate_canonical", False, str(error))
        result.skip_rest(OFFLINE_CHECKS, "not checked: the certificate does not decode")
        return None
    result.add("certificate_canonical", True, f"version {cert.version}, id 0x{cert.id.hex()}")
    result.add("device_signature", verify_signature(cert, bundle.signature),
               f"certificate signed by {cert.device}")
    result.add("entropy_commitment", entropy_commitment(bundle.nonce) == cert.entropy_commitment,
               "the nonce opens the certificate's entropy commitment")
    result.add("epoch_number", cert.epoch == epoch.number,
               f"certificate names epoch {cert.epoch}, the bundle's epoch is {epoch.number}")
    in_tree = len(bundle.merkle_proof) <= epoch.count and verify(
        epoch.merkle_root, leaf_hash(LEAF_TYPES, (cert.id,)), bundle.merkle_proof)
    result.add("merkle_path", in_tree,
               f"{len(bundle.merkle_proof)}-node path to root 0x{epoch.merkle_root.hex()}")
    challenge = epoch_challenge(epoch.number, epoch.prev_output, epoch.merkle_root, epoch.entropy,
                                epoch.block_hash)
    result.add("vdf_proof", vdf.verify(challenge, epoch.iterations, epoch.vdf_output, epoch.vdf_proof),
               f"Wesolowski proof of {epoch.iterations} squarings over the epoch's input")
    if epoch.number == 1:
        result.add("vdf_genesis", epoch.prev_output == genesis_output(cert.device),
                   "epoch 1 starts from the device's genesis output")
    else:
        result.add("vdf_genesis", True, f"epoch {epoch.number}: its link is checked on chain (vdf_chain)")
    if bundle.anchor is None:
        result.add("anchor_signature", False, "the bundle names no anchor: the epoch is not anchored yet")
    else:
        result.add("anchor_signature", _anchor_signer(bundle, cert.device) == cert.device,
                   f"anchor signed by the device for chain {bundle.anchor.chain_id},"
                   f" registry {bundle.anchor.registry}")
    return cert


def _anchor_signer(bundle: Bundle, device: str) -> str | None:
    from web3 import Web3

    from .chain.typed_data import Domain, anchor_digest, anchor_message
    domain = Domain(bundle.anchor.chain_id, Web3.to_checksum_address(bundle.anchor.registry))
    try:
        digest = anchor_digest(domain, anchor_message(bundle.epoch, device))
        return recover_typed(digest, bundle.anchor.signature)
    except ValueError:
        return None


def _chain_checks(bundle: Bundle, cert, registry, trusted_registry: str, result: Verification) -> None:
    epoch, anchor = bundle.epoch, bundle.anchor
    w3 = registry.w3
    chain_id = w3.eth.chain_id
    same_registry = anchor is not None and anchor.registry == trusted_registry.lower()
    if anchor is None:
        result.add("chain_identity", False, "the bundle names no anchor (no chain, no registry)")
    else:
        result.add("chain_identity", anchor.chain_id == chain_id and same_registry,
                   f"bundle: chain {anchor.chain_id}, registry {anchor.registry}; node: chain {chain_id},"
                   f" trusted registry {trusted_registry.lower()}")
    if not result.checks[-1].ok:
        result.skip_rest(CHAIN_CHECKS, "not checked: the bundle is not for this chain and registry")
        return
    minimum = registry.min_vdf_iterations()
    result.add("vdf_min_iterations", epoch.iterations >= minimum,
               f"{epoch.iterations} squarings; the registry's minimum is {minimum}")
    head = w3.eth.block_number
    named = _block(w3, epoch.block_number, epoch.block_hash, head)
    result.add("named_block", named is not None,
               f"block {epoch.block_number} " + ("exists with the epoch's hash" if named is not None else
                                                 "does not exist or has another hash"))
    opening = None
    if cert.version == 1:
        result.add("certificate_block", True, "a version-1 certificate names no block (no lower time bound)")
    else:
        opening = _block(w3, cert.after_block, cert.after_block_hash, head)
        in_order = opening is not None and cert.after_block <= epoch.block_number
        result.add("certificate_block", in_order,
                   f"certificate names block {cert.after_block}: " + (
                       "it exists with that hash, before the epoch was sealed" if in_order else
                       "no such block with that hash on this chain, or named after the seal"))
    record = registry.get_anchor(cert.device, epoch.merkle_root)
    events = [] if record is None else [e for e in registry.anchored_events(
        device=cert.device, root=epoch.merkle_root, from_block=record.block_number,
        to_block=record.block_number) if e.epoch == record.epoch]
    from .chain.typed_data import anchor_message
    expected = anchor_message(bundle.epoch, cert.device)
    anchored = (record is not None and len(events) == 1 and record.block_number == anchor.block_number
                and events[0].tx_hash == anchor.tx_hash
                and (record.epoch, record.certificate_count, record.named_block)
                == (epoch.number, epoch.count, epoch.block_number)
                and (events[0].vdf_output_hash, events[0].prev_vdf_output_hash, events[0].iterations)
                == (expected.vdf_output_hash, expected.prev_vdf_output_hash, expected.iterations))
    if record is None:
        detail = f"{cert.device} never anchored root 0x{epoch.merkle_root.hex()}"
    else:
        detail = (f"anchored in block {record.block_number} as epoch {record.epoch} with"
                  f" {record.certificate_count} certificates, named block {record.named_block}")
    result.add("anchor_on_chain", anchored, detail)
    if not anchored:
        result.skip_rest(CHAIN_CHECKS, "not checked: the anchor on chain is not the bundle's")
        return
    if epoch.number == 1:
        linked = registry.genesis_vdf_output_hash(cert.device) == expected.prev_vdf_output_hash
        detail = "epoch 1 links to the device's genesis output"
    else:
        previous = registry.anchored_events(device=cert.device, epoch=epoch.number - 1,
                                            to_block=record.block_number)
        linked = len(previous) == 1 and previous[0].vdf_output_hash == expected.prev_vdf_output_hash
        detail = f"the previous output is the VDF output the device anchored for epoch {epoch.number - 1}"
    result.add("vdf_chain", linked, detail)
    result.add("merkle_on_chain", registry.verify_certificate(cert.device, epoch.merkle_root, cert.id,
                                                              bundle.merkle_proof),
               "the registry's verifyCertificate accepts the path")
    device = registry.get_device(cert.device)
    # Revoked in the anchor's own block: the order inside the block is not compared, so it
    # counts as revoked (the conservative reading).
    registered = device is not None and device.registered_block <= record.block_number and (
        device.revoked_block == 0 or device.revoked_block > record.block_number)
    if device is None:
        detail = f"{cert.device} is not registered"
    else:
        detail = f"registered in block {device.registered_block} by {device.owner}" + (
            f"; revoked in block {device.revoked_block}" if device.revoked_block else "; not revoked")
    result.add("device_registered", registered, detail)
    if device is not None and device.revoked_block:
        result.status["revoked_since_block"] = device.revoked_block
    # Flags count only when raised against this device's anchored root: anyone can anchor a
    # tree holding another device's certificate id and flag it there.
    flags = [registry.get_flag(flag) for flag in registry.all_flags_of(cert.id)]
    result.status["open_flags"] = [flag.flag_id for flag in flags if flag.status == 1
                                   and flag.device == cert.device and flag.root == epoch.merkle_root]
    _time_window(cert, opening, named, w3.eth.get_block(record.block_number), result)


def _block(w3, number: int, block_hash: bytes, head: int):
    """Block ``number`` when it exists on this chain with ``block_hash``, else None."""
    if number > head or not any(block_hash):
        return None
    block = w3.eth.get_block(number)
    return block if bytes(block["hash"]) == block_hash else None


def _time_window(cert, opening, named, anchor_block, result: Verification) -> None:
    not_after = anchor_block["timestamp"]
    claimed_s = cert.timestamp_ms / 1000
    not_before = opening["timestamp"] if opening is not None else None
    result.time_window = {
        "not_before": not_before,
        "epoch_sealed_not_before": named["timestamp"] if named is not None else None,
        "not_after": not_after, "claimed": claimed_s, "tolerance_s": CLAIM_TOLERANCE_S}
    if cert.version == 1:
        result.time_window["not_before_reason"] = "a version-1 certificate names no block of its own"
    low = -float("inf") if cert.version == 1 else (not_before if not_before is not None else float("inf"))
    inside = low - CLAIM_TOLERANCE_S <= claimed_s <= not_after + CLAIM_TOLERANCE_S
    result.add("time_window", inside,
               f"claimed {claimed_s:.3f}; the chain proves {not_before} .. {not_after} (block times)")
