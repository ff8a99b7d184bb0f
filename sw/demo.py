"""``make demo``: certify sample content end to end and verify it, on the RTL-simulated device.

1. Enroll a device in a fresh home directory (dev mode: the entropy is simulated).
2. Start a local consortium chain (Anvil from npm) and deploy the registry; a member
   registers the device, which signs its proof of possession.
3. Certify sample content: three synthetic pictures as PNG files, one in-memory array,
   one text file. Decompositions run on the whole top's Verilog (RosvdCore) in Verilator,
   through the host driver over AXI4-Lite and AXI4-Stream, and every one is compared word
   for word with the specification model; the demo prints how many it compared.
4. Seal the epoch: Merkle root, fresh entropy (from the simulated top's entropy source,
   labelled simulated), a recent block of the chain, Wesolowski
   VDF; verify the chain of epochs.
5. Anchor the epoch's root on the registry (signed by the device, relayed by an operator
   account that pays the gas) and wait for confirmations.
6. Verify as an outsider would: a JPEG re-encoding of one picture is found by its robust
   fingerprint; ``rosvd bundle`` writes its proof bundle and ``rosvd verify --bundle``
   runs every check against the chain node and the registry address alone.
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from rosvd import ingest
from rosvd.certify import Appliance, ApplianceConfig, initialise
from rosvd.chain.anchor import AnchorPolicy, AnchorService
from rosvd.chain.contracts import deploy_registry
from rosvd.chain.deployment import Deployment
from rosvd.chain.devnet import Devnet
from rosvd.device import ModelDevice, RtlDevice
from rosvd.epochs import EpochPolicy
from rosvd.fingerprint import fingerprint_images
from rosvd.verify import find

#: Largest normalised Hamming distance the demo accepts as "the same picture".
DEMO_MATCH_DISTANCE = 0.2
DEMO_POLICY = EpochPolicy(max_certificates=64, max_age_s=3600.0, vdf_iterations=50_000)
#: The devnet mines a block this often (s), so confirmations accrue as on a real chain.
DEMO_BLOCK_TIME_S = 0.5
DEMO_ANCHOR_POLICY = AnchorPolicy(confirmations=2, poll_s=0.2)


def sample_picture(variant: int, size: int = 256) -> np.ndarray:
    """A deterministic RGB picture: a lit sphere on a gradient with stripes, per variant."""
    y, x = np.mgrid[0:size, 0:size] / size
    cx = 0.3 + 0.2 * variant
    picture = 0.35 + 0.3 * x + 0.1 * np.sin((12 + 8 * variant) * np.pi * y) * (x > 0.7)
    r2 = (x - cx) ** 2 + (y - 0.5) ** 2
    sphere = r2 < 0.09
    shade = np.sqrt(np.clip(1 - r2 / 0.09, 0, 1)) * (0.6 + 0.4 * (x - y))
    grey = np.where(sphere, 0.2 + 0.7 * shade, picture)
    tint = np.array([1.0, 0.85 + 0.05 * variant, 0.7])
    return np.clip(grey[..., None] * tint * 255, 0, 255).astype(np.uint8)


def run_demo(simulator: str = "verilator", out=sys.stdout, home: Path | None = None) -> int:
    def say(text=""):
        print(text, file=out, flush=True)

    failures = []

    def check(ok: bool, what: str):
        say(f"  [{'ok' if ok else 'FAILED'}] {what}")
        if not ok:
            failures.append(what)

    with tempfile.TemporaryDirectory(prefix="rosvd-demo-") as scratch, \
            Devnet(block_time=DEMO_BLOCK_TIME_S) as net:
        scratch = Path(scratch)
        home = home or scratch / "home"
        say(f"1. enroll a device in {home} (dev mode: simulated entropy)")
        address = initialise(home, ApplianceConfig(dev_mode=True, policy=DEMO_POLICY))
        say(f"   device address {address}")

        say(f"2. consortium chain: Anvil at {net.url} (chain {net.chain_id}), registry deployed")
        registry, operator = _consortium(net, home, scratch / "deployment.json")
        say(f"   registry {registry.address}; a member registered the device (with its proof of"
            f" possession); operator {operator.address} relays its anchors")

        files = []
        for variant in range(3):
            path = scratch / f"picture{variant}.png"
            Image.fromarray(sample_picture(variant)).save(path)
            files.append(path)
        notes = scratch / "notes.txt"
        notes.write_text("certified as exact bytes only\n")
        contents = [ingest.from_path(path) for path in files]
        contents.append(ingest.from_array(sample_picture(3)[..., 1], "accelerator-output"))
        contents.append(ingest.from_path(notes))

        say(f"3. certify {len(contents)} items on the RTL-simulated core ({simulator}: the AXI top through"
            " the host driver; the first run builds the simulator, a minute or two)")
        device = RtlDevice(simulator=simulator, cross_check=True)
        started = time.monotonic()
        with device, Appliance(home, device=device) as appliance:
            issued = appliance.certify(contents)
            cycles = ", ".join(f"{c:,}" for c in sorted(set(device.cycles)))
            say(f"   {len(device.cycles)} decompositions of {cycles} cycles each, in "
                f"{time.monotonic() - started:.1f} s ({device.bridge_requests:,} bus and stream requests)")
            check(device.compared == len(device.cycles) > 0 and device.mismatches == 0,
                  f"RTL results equal the specification model (rosvd.hw.svd.model) word for word:"
                  f" {device.compared - device.mismatches} of {device.compared} compared")
            for item in issued:
                cert = item.certificate
                say(f"   #{cert.sequence} {item.name}: id {cert.id.hex()[:16]}..."
                    f" fingerprint {cert.fingerprint.hex()[:16]}...")

            say("4. seal the epoch: Merkle root, fresh entropy, a recent block, VDF "
                f"({DEMO_POLICY.vdf_iterations} squarings)")
            number = appliance.seal()
            epoch = appliance.store.epoch(number)
            say(f"   epoch {number}: {epoch.count} certificates, root {epoch.merkle_root.hex()[:16]}...,"
                f" names block {epoch.block_number}")
            report = appliance.verify_chain()
            check(report.ok, f"verify-chain from genesis: {report.epochs_checked} epoch(s), "
                              f"{report.certificates_checked} certificates")

            say(f"5. anchor the epoch on the registry ({DEMO_ANCHOR_POLICY.confirmations} confirmations)")
            anchoring = AnchorService(appliance.store, registry.using(operator), appliance.identity,
                                      DEMO_ANCHOR_POLICY)
            with anchoring:
                events = anchoring.run(until_anchored=True, timeout_s=60)
            anchor = appliance.store.anchor(number)
            receipt = registry.w3.eth.get_transaction_receipt(anchor.tx_hash)
            check(anchor.state == "anchored" and events["sent"] == 1,
                  f"epoch {number} anchored in block {anchor.block_number} by one transaction"
                  f" ({receipt['gasUsed']:,} gas, {receipt['gasUsed'] / epoch.count:,.0f} per certificate)")

            say("6. verify as an outsider: a JPEG re-encoding of picture1.png")
            buffer = io.BytesIO()
            Image.open(files[1]).save(buffer, format="JPEG", quality=75)
            probe = ingest.from_bytes(buffer.getvalue(), "picture1.jpg")
            fingerprint = fingerprint_images(ModelDevice().params, [probe.pixels])[0]
            matches = find(appliance.store, probe, fingerprint, DEMO_MATCH_DISTANCE)
            best = matches[0] if matches else None
            check(best is not None and best.certificate_id == issued[1].certificate.id,
                  f"closest certificate is #{best.sequence if best else '-'} ({best.name if best else '-'}),"
                  f" fingerprint distance {best.distance if best else float('nan'):.3f}, exact bytes: "
                  f"{best.exact if best else '-'}")
            exact = find(appliance.store, contents[0], None, 0.0)
            check(len(exact) == 1 and exact[0].exact, "picture0.png found by its exact bytes (BLAKE3)")
        bundle_path = scratch / "bundle.json"
        certificate_id = issued[1].certificate.id.hex()
        code, _ = _rosvd("bundle", certificate_id, "--home", str(home), "-o", str(bundle_path))
        say(f"   $ rosvd bundle {certificate_id[:16]}... --home HOME -o bundle.json")
        check(code == 0 and bundle_path.is_file(), "proof bundle written")
        deployment = Deployment.load(scratch / "deployment.json")
        say(f"   $ rosvd verify --bundle bundle.json --rpc {deployment.rpc_url}"
            f" --registry {deployment.registry}")
        code, printed = _rosvd("verify", "--bundle", str(bundle_path), "--rpc", deployment.rpc_url,
                               "--registry", deployment.registry, "--json")
        verdict = json.loads(printed) if printed.strip() else {"ok": False, "checks": []}
        for item in verdict["checks"]:
            say(f"     {'ok  ' if item['ok'] else 'FAIL' if item['ok'] is False else '--  '} {item['name']}")
        passed = sum(item["ok"] is True for item in verdict["checks"])
        check(code == 0 and verdict["ok"],
              f"rosvd verify: {passed} of {len(verdict['checks'])} checks passed against the chain alone")
    say()
    say("demo passed" if not failures else f"demo FAILED: {failures}")
    return 0 if not failures else 1


def _consortium(net: Devnet, home: Path, deployment_path: Path):
    """Deploy the registry on ``net``: admin, a member who registers this home's device, and
    an operator (a funded dev account) that relays its anchors. Returns the registry client
    and the operator."""
    from eth_account import Account
    from web3 import Web3

    from rosvd.chain.commands import DEVNET_ADMIN, DEVNET_MEMBER, DEVNET_OPERATOR, join
    admin, member, operator = (Account.from_key(net.private_keys[index])
                               for index in (DEVNET_ADMIN, DEVNET_MEMBER, DEVNET_OPERATOR))
    w3 = Web3(Web3.HTTPProvider(net.url, request_kwargs={"timeout": 30}))
    registry, deployed = deploy_registry(w3, admin)
    registry.add_member(member.address)
    Deployment(net.chain_id, net.url, registry.address, deployed.block_number, admin.address,
               registry.artifact.source_hash).save(deployment_path)
    join(home, deployment_path, registry.using(member))
    return registry, operator


def _rosvd(*argv: str) -> tuple[int, str]:
    """Run a ``rosvd`` command in this process; returns its exit code and its stdout."""
    from rosvd.cli import main
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(list(argv))
    return code, printed.getvalue()
