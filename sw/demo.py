"""``make demo``: certify sample content through the host API and verify it as an outsider.

1. Enroll a device in a fresh home directory: dev mode (simulated entropy), the
   RTL-simulated device, and a write token for the API.
2. Start a local consortium chain (Anvil from npm) and deploy the registry; a member
   registers the device, which signs its proof of possession.
3. Start the API (``rosvd serve``): its one writer owns the device, the whole top's Verilog
   (RosvdCore) in Verilator, driven by the host driver over AXI4-Lite and AXI4-Stream; every
   decomposition is compared word for word with the specification model, and
   ``GET /v1/devices`` reports the counts.
4. Certify sample content over HTTP (``POST /v1/certificates``, one upload per file, with a
   progress bar): three synthetic pictures, a picture of the accelerator's raw output and a
   text file. The last one fills the epoch: the service seals it (Merkle root, fresh entropy
   from the simulated top, a recent block, Wesolowski VDF) and proves it.
5. Anchor the epoch's root on the registry (signed by the device, relayed by an operator
   account that pays the gas) and wait for confirmations.
6. Ask as an outsider would: ``rosvd query`` sends the BLAKE3, and the fingerprints and
   match descriptors of the views, of a JPEG re-encoding of one picture, gets the matching
   certificate (a fingerprint candidate its descriptor confirms) with its proof bundle, and
   verifies the bundle against the chain node and the registry address alone; then the
   same for a picture nobody certified, which must match nothing.

Everything the demo started (the server, the chain) is stopped when it ends.
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

from rosvd.api import tokens
from rosvd.api.process import ServerProcess
from rosvd.certify import STORE_FILE, ApplianceConfig, device_identity, initialise, load_config
from rosvd.chain.anchor import AnchorPolicy, AnchorService
from rosvd.chain.contracts import deploy_registry
from rosvd.chain.deployment import Deployment
from rosvd.chain.devnet import Devnet
from rosvd.epochs import EpochPolicy, verify_chain
from rosvd.store import Store

#: The demo's content: three pictures, the accelerator's output, a text file. The epoch
#: holds exactly these, so the last upload seals it.
DEMO_ITEMS = 5
DEMO_POLICY = EpochPolicy(max_certificates=DEMO_ITEMS, max_age_s=3600.0, vdf_iterations=50_000)
#: The devnet mines a block this often (s), so confirmations accrue as on a real chain.
DEMO_BLOCK_TIME_S = 0.5
DEMO_ANCHOR_POLICY = AnchorPolicy(confirmations=2, poll_s=0.2)
#: How long ``rosvd serve`` may take to answer: its device's simulator builds on first use.
SERVER_START_TIMEOUT_S = 600.0
#: How long the service may take to prove the epoch's VDF after the last upload.
PROOF_TIMEOUT_S = 120.0


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
    import httpx
    from tqdm import tqdm

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
        say(f"1. enroll a device in {home} (dev mode: simulated entropy; device: the RTL top on {simulator})")
        address = initialise(home, ApplianceConfig(device="rtl", dev_mode=True, policy=DEMO_POLICY))
        token = tokens.rotate(home)
        say(f"   device address {address}; API write token made (stored as a hash only)")

        say(f"2. consortium chain: Anvil at {net.url} (chain {net.chain_id}), registry deployed")
        registry, operator = _consortium(net, home, scratch / "deployment.json")
        say(f"   registry {registry.address}; a member registered the device (with its proof of"
            f" possession); operator {operator.address} relays its anchors")

        files = _sample_files(scratch)
        say("3. start the API: rosvd serve (the first run builds the simulator, a minute or two)")
        with ServerProcess(home, scratch / "serve.log", start_timeout_s=SERVER_START_TIMEOUT_S) as server, \
                httpx.Client(base_url=server.url, timeout=120) as api:
            say(f"   serving on {server.url} after {server.start_s:.1f} s")

            say(f"4. certify {len(files)} files over HTTP (POST /v1/certificates)")
            issued, started = {}, time.monotonic()
            for path in tqdm(files, desc="   certify", unit="file", file=sys.stderr, leave=False):
                answer = api.post("/v1/certificates", headers={"Authorization": f"Bearer {token}"},
                                  files={"files": (path.name, path.read_bytes(), "application/octet-stream")})
                if answer.status_code != 201:
                    check(False, f"{path.name}: the API answered {answer.status_code}: {answer.text[:200]}")
                    continue
                record = answer.json()["issued"][0]["certificate"]["certificate"]
                issued[path.name] = record
                say(f"   #{record['sequence']} {path.name}: id {record['id'][:16]}..."
                    f" fingerprint {record['fingerprint'][:16]}...")
            check(len(issued) == len(files), f"{len(issued)} of {len(files)} certified in"
                  f" {time.monotonic() - started:.1f} s, each acknowledged after its commit")
            (device,) = api.get("/v1/devices").json()["devices"]
            counts = device.get("cross_check") or {"decompositions": 0, "compared": 0, "mismatches": -1}
            check(counts["compared"] == counts["decompositions"] > 0 and counts["mismatches"] == 0,
                  f"RTL results equal the specification model (rosvd.hw.svd.model) word for word:"
                  f" {counts['compared'] - max(counts['mismatches'], 0)} of {counts['compared']} compared"
                  f" (GET /v1/devices)")

            epoch = _wait_for_proof(api, 1)
            check(epoch is not None and epoch["status"] == "closed",
                  f"epoch 1 sealed by the service when its {DEMO_ITEMS}th certificate arrived and its VDF"
                  f" ({DEMO_POLICY.vdf_iterations} squarings) proved: root"
                  f" {(epoch or {}).get('merkle_root', '-')[:16]}...")
            with contextlib.closing(Store(home / STORE_FILE)) as store:
                report = verify_chain(store, address)
            check(report.ok, f"verify-chain from genesis: {report.epochs_checked} epoch(s),"
                             f" {report.certificates_checked} certificates")

            say(f"5. anchor the epoch on the registry ({DEMO_ANCHOR_POLICY.confirmations} confirmations)")
            anchored = _anchor(home, registry, operator)
            epoch = next(e for e in api.get("/v1/epochs").json()["epochs"] if e["number"] == 1)
            check(anchored["sent"] == 1 and epoch["status"] == "anchored",
                  f"epoch 1 anchored in block {(epoch['anchor'] or {}).get('block_number')} by one tx"
                  f" ({anchored['gas']:,} gas, {anchored['gas'] / DEMO_ITEMS:,.0f} per certificate);"
                  f" the API says {epoch['status']}")

            deployment = Deployment.load(scratch / "deployment.json")
            chain = ["--rpc", deployment.rpc_url, "--registry", deployment.registry]
            say("6. ask as an outsider: a JPEG re-encoding of picture1.png")
            copy = scratch / "picture1-copy.jpg"
            Image.open(files[1]).convert("RGB").save(copy, format="JPEG", quality=75)
            say(f"   $ rosvd query picture1-copy.jpg --url {server.url} --rpc {deployment.rpc_url}"
                f" --registry {deployment.registry}")
            code, printed = _rosvd("query", str(copy), "--url", server.url, *chain, "--json")
            answer = json.loads(printed) if printed.strip() else {"matches": [], "verified": False}
            best = answer["matches"][0] if answer["matches"] else None
            wanted = issued.get(files[1].name, {}).get("id")
            check(best is not None and best["certificate_id"] == wanted and not best["exact"]
                  and best["server_confirmed"] is True,
                  f"nearest certificate is #{best['sequence'] if best else '-'} ({files[1].name}),"
                  f" fingerprint distance {best['distance'] if best else float('nan'):.3f} (candidate radius"
                  f" {answer.get('max_distance', float('nan')):.3f}), confirmed by its match descriptor"
                  f" (score {(best or {}).get('server_confirmation') or float('nan'):.3f}, the server's"
                  " word); not the same bytes")
            checks = ((best or {}).get("checks") or {}).get("checks", [])
            for item in checks:
                mark = "ok  " if item["ok"] else "FAIL" if item["ok"] is False else "--  "
                say(f"     {mark} {item['name']}")
            passed = sum(item["ok"] is True for item in checks)
            check(code == 0 and best is not None and best["verified"],
                  f"its bundle verified here: {passed} of {len(checks)} checks passed against the chain")

            say("   and a picture nobody certified")
            stranger = scratch / "stranger.png"
            Image.fromarray(_stranger_picture()).save(stranger)
            code, printed = _rosvd("query", str(stranger), "--url", server.url, *chain, "--json")
            answer = json.loads(printed) if printed.strip() else {"matches": [None]}
            check(code == 1 and answer["matches"] == [], "no certificate matches it (rosvd query exits 1)")
        check(not server.running, "server stopped")
    say()
    say("demo passed" if not failures else f"demo FAILED: {failures}")
    return 0 if not failures else 1


def _sample_files(scratch: Path) -> list[Path]:
    files = []
    for variant in range(3):
        path = scratch / f"picture{variant}.png"
        Image.fromarray(sample_picture(variant)).save(path)
        files.append(path)
    raw = scratch / "accelerator-output.png"
    Image.fromarray(sample_picture(3)[..., 1]).save(raw)
    notes = scratch / "notes.txt"
    notes.write_text("certified as exact bytes only\n")
    return files + [raw, notes]


def _stranger_picture() -> np.ndarray:
    """A picture unlike the samples: checkerboard and rings."""
    y, x = np.mgrid[0:256, 0:256] / 256
    rings = np.sin(40 * np.hypot(x - 0.2, y - 0.8)) * ((x * 8).astype(int) % 2 * 2 - 1)
    return np.clip((rings[..., None] * [0.4, 0.2, 0.45] + 0.5) * 255, 0, 255).astype(np.uint8)


def _wait_for_proof(api, number: int) -> dict | None:
    deadline = time.monotonic() + PROOF_TIMEOUT_S
    while time.monotonic() < deadline:
        for epoch in api.get("/v1/epochs").json()["epochs"]:
            if epoch["number"] == number and epoch["status"] in ("closed", "anchored"):
                return epoch
        time.sleep(0.2)
    return None


def _anchor(home: Path, registry, operator) -> dict:
    """Run the anchoring service on the home's store until every closed epoch is anchored."""
    store = Store(home / STORE_FILE)
    try:
        identity = device_identity(home, load_config(home))
        with AnchorService(store, registry.using(operator), identity, DEMO_ANCHOR_POLICY) as anchoring:
            events = anchoring.run(until_anchored=True, timeout_s=60)
        anchor = store.anchor(1)
        gas = registry.w3.eth.get_transaction_receipt(anchor.tx_hash)["gasUsed"]
        return {"sent": events["sent"], "gas": gas}
    finally:
        store.close()


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
