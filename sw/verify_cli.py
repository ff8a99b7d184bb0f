"""``rosvd bundle`` and ``rosvd verify``: hand out a proof bundle, and check one trusting only the chain.

    rosvd bundle CERT_ID --home H                  the bundle JSON of one certificate
    rosvd verify --bundle FILE --rpc URL --registry ADDR [--json]
    rosvd verify CONTENT_FILE --home H [--json]    every certificate of these exact bytes

One line per check (``ok``, ``FAIL`` or ``--`` for not checked) and a verdict; ``--json``
prints ``{"ok", "checks": [{"name", "ok", "detail"}], "time_window", "status"}``. Exit 0
only when every check passed, 1 when one failed or could not be made, 2 on malformed input
(an unreadable or malformed bundle, a bad id, an unreachable node).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .home import add_home_option, home_of


class VerifyInputError(ValueError):
    """Input the verifier cannot read (exit 2)."""


def _certificate_id(text: str) -> bytes:
    from .certificate import parse_hex32
    value = parse_hex32(text)
    if value is None:
        raise VerifyInputError(f"certificate id must be 32 bytes of hex, not {text!r}")
    return value


def _bundle(args) -> int:
    from .certify import open_store
    from .verify import proof_bundle
    store = open_store(home_of(args))
    try:
        try:
            bundle = proof_bundle(store, _certificate_id(args.certificate_id))
        except KeyError as error:
            raise VerifyInputError(error.args[0]) from None
    finally:
        store.close()
    text = json.dumps(bundle, indent=1, sort_keys=True) + "\n"
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def read_bundle(path: str) -> dict:
    from .bundle import MAX_BUNDLE_BYTES
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BUNDLE_BYTES + 1)
    except OSError as error:
        raise VerifyInputError(f"cannot read {path}: {error.strerror}") from None
    if len(raw) > MAX_BUNDLE_BYTES:
        raise VerifyInputError(f"{path} is larger than {MAX_BUNDLE_BYTES} bytes: not a proof bundle")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise VerifyInputError(f"{path} is not JSON: {error}") from None


def registry_client(rpc_url: str, registry: str):
    """A read-only client of the trusted ``registry`` through ``rpc_url``."""
    import requests
    from web3 import Web3

    from .chain.contracts import RegistryClient
    if not Web3.is_address(registry):
        raise VerifyInputError(f"--registry must be an address, not {registry!r}")
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    try:
        w3.eth.get_block_number()
    except (requests.exceptions.RequestException, OSError, ValueError) as error:
        raise VerifyInputError(f"cannot reach the chain node at {rpc_url}: {error}") from None
    return RegistryClient(w3, Web3.to_checksum_address(registry))


def _print_verification(result, label: str, out) -> None:
    marks = {True: "ok  ", False: "FAIL", None: "--  "}
    print(label, file=out)
    for check in result.checks:
        print(f"  {marks[check.ok]} {check.name:<22} {check.detail}", file=out)
    failed = [c.name for c in result.checks if c.ok is False]
    unchecked = [c.name for c in result.checks if c.ok is None]
    if result.ok:
        verdict = "VERIFIED"
        if result.status.get("revoked_since_block"):
            verdict += f" (device revoked since block {result.status['revoked_since_block']})"
        if result.status.get("open_flags"):
            verdict += f" (open dispute flags {result.status['open_flags']})"
    else:
        verdict = "NOT VERIFIED:" + (f" failed {', '.join(failed)};" if failed else "") + (
            f" not checked {', '.join(unchecked)}" if unchecked else "")
    print(verdict.rstrip(";"), file=out)


def _verify(args) -> int:
    from .bundle import BundleError, parse
    from .verifier import verify_bundle
    if (args.bundle is None) == (args.content is None):
        raise VerifyInputError("give either --bundle FILE or a CONTENT_FILE (with --home)")
    if args.bundle is not None:
        record = read_bundle(args.bundle)
        try:
            parse(record)
        except BundleError as error:
            raise VerifyInputError(str(error)) from None
        if args.rpc is None:
            registry = None
        elif args.registry is None:
            raise VerifyInputError("--rpc needs --registry ADDR: the registry address you trust"
                                   " (the bundle's own word for it proves nothing)")
        else:
            registry = registry_client(args.rpc, args.registry)
        results = [(args.bundle, verify_bundle(record, registry))]
    else:
        results = _verify_content(args)
    if args.json:
        records = [result.to_json() for _, result in results]
        print(json.dumps(records[0] if args.bundle is not None else records, indent=2, sort_keys=True))
    else:
        for label, result in results:
            _print_verification(result, label, sys.stdout)
    return 0 if results and all(result.ok for _, result in results) else 1


def _verify_content(args):
    """Every certificate of ``args.content``'s exact bytes in the home's store, each bundle
    verified on the chain the appliance joined."""
    from . import ingest
    from .certify import load_config, open_store
    from .chain.deployment import Deployment
    from .verifier import verify_bundle
    from .verify import proof_bundle
    config = load_config(home_of(args))
    try:
        content = ingest.from_path(args.content)
    except ingest.ContentError as error:
        raise VerifyInputError(str(error)) from None
    registry = None
    if args.rpc or config.deployment:
        deployment = Deployment.load(Path(config.deployment)) if config.deployment else None
        rpc = args.rpc or deployment.rpc_url
        address = args.registry or (deployment.registry if deployment else None)
        if address is None:
            raise VerifyInputError("--rpc needs --registry ADDR (this appliance joined no registry)")
        registry = registry_client(rpc, address)
    store = open_store(home_of(args), config)
    try:
        found = store.find_by_content(content.blake3())
        if not found:
            raise VerifyInputError(f"no certificate in {home_of(args)} covers the exact bytes of"
                                   f" {args.content}")
        results = []
        for stored in found:
            label = f"certificate 0x{stored.id.hex()} (#{stored.sequence}, {stored.name})"
            try:
                bundle = proof_bundle(store, stored.id)
            except ValueError as error:
                from .verifier import Verification
                result = Verification()
                result.add("bundle_format", False, str(error))
                results.append((label, result))
                continue
            results.append((label, verify_bundle(bundle, registry)))
    finally:
        store.close()
    return results


def add_commands(commands) -> None:
    from .output import add_json_flag
    bundle = commands.add_parser("bundle", help="print the proof bundle of one certificate (JSON)")
    bundle.add_argument("certificate_id", metavar="CERT_ID", help="certificate id (64 hex digits)")
    add_home_option(bundle)
    bundle.add_argument("-o", "--output", help="write the bundle here instead of stdout")
    bundle.set_defaults(handler=_bundle)

    verify = commands.add_parser("verify", help="check a proof bundle (or content's certificates) on chain")
    verify.add_argument("content", metavar="CONTENT_FILE", nargs="?",
                        help="verify every certificate of this file's exact bytes in --home's store")
    verify.add_argument("--bundle", metavar="FILE", help="a proof bundle (from `rosvd bundle`)")
    verify.add_argument("--rpc", metavar="URL", help="JSON-RPC URL of a chain node you choose")
    verify.add_argument("--registry", metavar="ADDR", help="the consortium registry address you trust")
    verify.add_argument("--home", help="appliance directory, for CONTENT_FILE (its joined registry is the"
                        " default --rpc and --registry)")
    add_json_flag(verify)
    verify.set_defaults(handler=_verify)
