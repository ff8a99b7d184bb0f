"""The verification page (`GET /`) and `GET /v1/bundles/{id}/verification`.

The browser tests run one real appliance: a devnet (`rosvd chain up --join`), `rosvd serve`
on it with seven pictures certified (epoch 1 closed and anchored, epoch 2 open), and Debian's
headless Chromium driven by tests/api/page_check.mjs (npm playwright-core, which never
downloads a browser). The script picks each file through the page's file input and reports
what the page showed; the assertions are here. Set ``ROSVD_PAGE_SCREENSHOT=docs/api-page.png``
to regenerate the screenshot in the docs (by default it goes to the test's tmp directory).
The endpoint's own cases (no chain, a node that is down or hangs) run through TestClient.
"""
from __future__ import annotations

import contextlib
import json
import os
import queue
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from rosvd.api import tokens, verification
from rosvd.api.settings import SETTINGS_FILE
from rosvd.certify import ApplianceConfig, initialise, join_chain
from rosvd.chain.deployment import Deployment
from rosvd.cli import main
from rosvd.epochs import EpochPolicy
from rosvd.match import CANDIDATE_DISTANCE, CONFIRM_THRESHOLD
from rosvd.verifier import CHAIN_CHECKS, OFFLINE_CHECKS

from .conftest import bearer, client_of, enrolled, jpeg, png, scene, upload

REPO = Path(__file__).parents[2]
SCRIPT = Path(__file__).with_name("page_check.mjs")
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
#: The registry refuses fewer squarings than this (its minVdfIterations on the devnet).
POLICY = EpochPolicy(max_certificates=6, max_age_s=3600, vdf_iterations=1000)
MAX_FILE_BYTES = 256 * 1024
#: Seconds per devnet block: anchoring waits for its confirmations.
BLOCK_TIME_S = 0.25
THRESHOLD = CANDIDATE_DISTANCE      # the default rule's candidate radius


def browser_or_skip() -> None:
    reasons = []
    if not CHROMIUM.exists():
        reasons.append(f"{CHROMIUM} is missing (apt-get install chromium, or make setup)")
    if shutil.which("node") is None:
        reasons.append("node is not on PATH")
    if not (REPO / "node_modules" / "playwright-core").is_dir():
        reasons.append("node_modules lacks playwright-core (npm ci)")
    if not (REPO / "node_modules" / "@foundry-rs" / "anvil").is_dir():
        reasons.append("node_modules lacks @foundry-rs/anvil (npm ci)")
    if reasons:
        print(f"\ntest_page: skipping the browser tests: {'; '.join(reasons)}", file=sys.stderr)
        pytest.skip("; ".join(reasons))


def start(command: list[str], log: Path, timeout_s: float = 60) -> tuple[subprocess.Popen, dict]:
    """Run ``command`` (a `rosvd ... --json` printing one record once ready): the process and the record."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
                               env={**os.environ, "PYTHONWARNINGS": "ignore"})
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    record, deadline = [], time.monotonic() + timeout_s
    while not record or not record[-1].startswith("}"):
        try:
            record.append(lines.get(timeout=max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            stop(process)
            what = " ".join(command[3:5])
            raise AssertionError(f"{what} did not start: {log.read_text()[-2000:]}") from None
    return process, json.loads("".join(record))


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def appliance(tmp_path_factory):
    """A served home on a devnet: epoch 1 (scenes 0-5) closed and anchored, epoch 2 (scene 6) open."""
    browser_or_skip()
    root = tmp_path_factory.mktemp("page")
    home = root / "home"
    initialise(home, ApplianceConfig(dev_mode=True, policy=POLICY))
    token = tokens.rotate(home)
    (home / SETTINGS_FILE).write_text(json.dumps({"max_file_bytes": MAX_FILE_BYTES}))
    rosvd = [sys.executable, "-m", "rosvd.cli"]
    began = time.monotonic()
    chain, devnet = start(rosvd + ["chain", "up", "--home", str(home), "--join", "--json",
                                   "--block-time", str(BLOCK_TIME_S)], root / "chain.log")
    phases = {"chain up": time.monotonic() - began}
    try:
        server, served = start(rosvd + ["serve", "--home", str(home), "--port", "0", "--json"],
                               root / "serve.log")
        phases["serve"] = time.monotonic() - began - sum(phases.values())
        try:
            url = served["url"]
            response = httpx.post(url + "/v1/certificates", headers=bearer(token), timeout=60,
                                  files=[upload(f"scene{seed}.png", png(scene(seed))) for seed in range(7)])
            assert response.status_code == 201, response.text
            issued = [item["certificate"] for item in response.json()["issued"]]
            phases["certify"] = time.monotonic() - began - sum(phases.values())
            with contextlib.redirect_stdout(None):
                assert main(["chain", "anchor", "--home", str(home), "--timeout", "60", "--json"]) == 0
            phases["anchor"] = time.monotonic() - began - sum(phases.values())
            print("\ntest_page: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()))
            first = issued[1]["certificate"]["id"]
            assert httpx.get(f"{url}/v1/certificates/{first}").json()["status"] == "anchored"
            yield {"url": url, "rpc": devnet["rpc_url"], "registry": devnet["registry"].lower(), "root": root,
                   "issued": issued, "address": served["address"], "chain_id": devnet["chain_id"]}
        finally:
            stop(server)
    finally:
        stop(chain)


@pytest.fixture(scope="module")
def report(appliance):
    """What the page showed for each case, from one browser run (page_check.mjs)."""
    root = appliance["root"]
    files = {"copy": root / "copy.jpg", "other": root / "other.png", "big": root / "big.bin",
             "open": root / "scene6.png"}
    files["copy"].write_bytes(jpeg(scene(1), quality=50))
    files["other"].write_bytes(png(scene(99)))
    files["big"].write_bytes(os.urandom(MAX_FILE_BYTES + 1000))
    files["open"].write_bytes(png(scene(6)))
    screenshot = Path(os.environ.get("ROSVD_PAGE_SCREENSHOT") or root / "api-page.png").resolve()
    config = {"url": appliance["url"], "files": {key: str(path) for key, path in files.items()},
              "screenshot": str(screenshot)}
    started = time.monotonic()
    run = subprocess.run(["node", str(SCRIPT), json.dumps(config)], cwd=REPO, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
                                           "CHROMIUM": str(CHROMIUM)})
    assert run.returncode == 0, f"page_check.mjs failed:\n{run.stderr[-4000:]}"
    result = json.loads(run.stdout)
    cases = ", ".join(f"{key} {value['elapsed_ms']} ms" for key, value in result.items()
                      if isinstance(value, dict) and "elapsed_ms" in value)
    print(f"\ntest_page: browser {time.monotonic() - started:.1f} s (launch {result['launch_ms']} ms,"
          f" {cases});"
          f" screenshot {screenshot}")
    assert screenshot.stat().st_size > 10_000
    return {**result, "screenshot": screenshot}


def test_a_reencoded_copy_matches_and_every_check_is_shown(appliance, report):
    seen = report["copy"]
    target = appliance["issued"][1]["certificate"]
    assert seen["verdict"]["state"] == "verified", seen["verdict"]
    assert "1 certificate matched copy.jpg" in seen["verdict"]["text"]
    assert f"against node {appliance['rpc']}" in seen["verdict"]["text"]
    (match,) = seen["matches"]
    assert match["certificate_id"] == target["id"] and not match["exact"]
    assert 0 < match["distance"] < THRESHOLD
    assert match["verdict"] == "verified"
    facts = match["facts"]
    assert facts["device"] == appliance["address"] == target["device"]
    assert facts["epoch"] == "1" and facts["status"] == "anchored"
    assert facts["chain id"] == str(appliance["chain_id"]) and facts["registry"] == appliance["registry"]
    assert int(facts["block"]) > 0 and len(facts["tx hash"]) == 66
    assert facts["distance"].startswith(f"{match['distance']:.4f}")
    confirmation = facts["confirmation"]
    assert confirmation.startswith("score ") and f" >= {CONFIRM_THRESHOLD} on the " in confirmation
    # The plot: one point for the match, left of the threshold line, on an axis from 0 to 0.5.
    plot = seen["plot"]
    assert plot["shown"] and plot["threshold"] == THRESHOLD
    assert plot["axis"] == ["0.0", "0.1", "0.2", "0.3", "0.4", "0.5"]
    (point,) = plot["points"]
    assert point["certificate_id"] == target["id"] and point["distance"] == match["distance"]
    assert plot["ticks_x"][0] < point["cx"] < plot["threshold_x"]
    assert point["cx"] == pytest.approx(on_axis(plot, match["distance"]), abs=0.5)
    assert plot["threshold_x"] == pytest.approx(on_axis(plot, THRESHOLD), abs=0.5)
    # Every check of the verifier, in its order, each with its status and detail, labelled as the server's.
    assert [check["name"] for check in match["checks"]] == list(OFFLINE_CHECKS + CHAIN_CHECKS)
    assert {check["mark"] for check in match["checks"]} == {"passed"}
    assert all(check["ok"] == "true" and check["detail"] for check in match["checks"])
    assert match["caption"] == f"Verification checks (checked by this server against node {appliance['rpc']})"
    assert match["check_verdict"].startswith("Verified: every check passed")
    assert seen["command"] == (f"rosvd query copy.jpg --url {appliance['url']} --rpc {appliance['rpc']}"
                               f" --registry {appliance['registry']}")
    assert "A server can lie" in seen["trust_note"]
    assert seen["verification_requests"] == 1


def test_the_command_the_page_shows_re_checks_the_match_independently(appliance, report, monkeypatch, capsys):
    monkeypatch.chdir(appliance["root"])  # where copy.jpg is: the command names the file the user picked
    program, *argv = shlex.split(report["copy"]["command"])
    assert program == "rosvd"
    assert main(argv + ["--json"]) == 0, capsys.readouterr().err
    (match,) = json.loads(capsys.readouterr().out)["matches"]
    assert match["verified"] and match["certificate_id"] == appliance["issued"][1]["certificate"]["id"]


def on_axis(plot: dict, distance: float) -> float:
    """Where ``distance`` lies on the plot's labelled axis (its tick labels 0.0 .. 0.5 and their x)."""
    (left, right), (low, high) = (plot["ticks_x"][0], plot["ticks_x"][-1]), (float(plot["axis"][0]),
                                                                            float(plot["axis"][-1]))
    return left + (distance - low) / (high - low) * (right - left)


def test_b_an_unrelated_picture_matches_nothing(report):
    seen = report["other"]
    assert seen["verdict"]["state"] == "none"
    assert seen["verdict"]["text"].startswith("No certificate matched other.png")
    assert seen["matches"] == [] and seen["plot"]["points"] == []
    assert seen["plot"]["empty"] == "no fingerprint within the threshold"
    assert seen["error"] is None and seen["verification_requests"] == 0
    dropped = report["dropped"]  # the same file dropped on the page instead of picked
    assert dropped["verdict"] == seen["verdict"] and dropped["plot"] == seen["plot"]


def test_c_too_large_and_failing_server_show_the_problem_detail(report):
    big = report["big"]
    assert big["verdict"]["state"] == "error" and big["matches"] == []
    assert big["error"].startswith("Content too large (413): big.bin:")
    assert f"over this service's limit of {MAX_FILE_BYTES} per file" in big["error"]
    assert "urn:rosvd:problem:file-too-large" in big["error"]
    failed = report["server_error"]
    assert failed["verdict"]["state"] == "error"
    assert failed["error"].startswith("Internal error (500): injected: the server failed to answer")
    gateway = report["bad_gateway"]
    assert gateway["verdict"]["state"] == "error"
    assert "HTTP 502 without a problem document" in gateway["error"]
    # The query answered but the verification was refused: the match stays, with the refusal.
    refused = report["verification_refused"]
    (match,) = refused["matches"]
    assert match["problem"] == "Not verified: Too many requests (429): injected: slow down"
    assert match["checks"] == [] and refused["verdict"]["state"] == "unchecked"


def test_an_open_epoch_shows_why_there_is_nothing_to_verify(appliance, report):
    seen = report["open"]
    (match,) = seen["matches"]
    assert match["exact"] and match["distance"] == 0 and match["facts"]["status"] == "open"
    assert match["unchecked"].startswith("No proof bundle yet: certificate 7 is in epoch 2, which is open")
    assert seen["verification_requests"] == 0 and seen["verdict"]["state"] == "unchecked"
    (point,) = seen["plot"]["points"]
    assert point["exact"] and point["cx"] == seen["plot"]["ticks_x"][0]


def test_the_page_loads_nothing_from_elsewhere(appliance, report):
    outside = [url for url in report["requests"] if not url.startswith(appliance["url"] + "/")]
    assert outside == []
    assert report["page_errors"] == []
    assert not [line for line in report["console"] if "Content Security Policy" in line]


# The endpoint and the page's routes, through TestClient (no browser, no chain).

def test_verification_without_a_chain_reports_the_chain_checks_not_made(served):
    client, _, issued = served
    certificate_id = issued[1]["certificate"]["id"]
    response = client.get(f"/v1/bundles/{certificate_id}/verification")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["certificate_id"] == certificate_id and body["checked_by"] == "this server"
    assert body["ok"] is False and body["node"] is None and body["registry"] is None
    assert "joined no chain" in body["chain_unchecked"]
    checks = {check["name"]: check for check in body["checks"]}
    assert all(checks[name]["ok"] is True for name in OFFLINE_CHECKS if name != "anchor_signature")
    assert all(checks[name]["ok"] is None and "joined no chain" in checks[name]["detail"]
               for name in CHAIN_CHECKS)


def test_verification_problems(served):
    client, _, issued = served
    missing = client.get(f"/v1/bundles/{'ab' * 32}/verification")
    assert missing.status_code == 404 and missing.json()["type"] == "urn:rosvd:problem:no-certificate"
    assert missing.headers["content-type"] == "application/problem+json"
    open_epoch = client.get(f"/v1/bundles/{issued[6]['certificate']['id']}/verification")
    assert open_epoch.status_code == 409 and "open" in open_epoch.json()["detail"]
    bad = client.get("/v1/bundles/nothex/verification")
    assert bad.status_code == 422 and "64 digits" in bad.json()["detail"]


@pytest.fixture(scope="module")
def joined(tmp_path_factory):
    """A home with one closed epoch, then joined to a registry whose node is given per test."""
    home, token = enrolled(tmp_path_factory.mktemp("joined") / "home")
    with client_of(home) as client:
        response = client.post("/v1/certificates", headers=bearer(token),
                               files=[upload(f"s{seed}.png", png(scene(seed))) for seed in range(6)])
        assert response.status_code == 201
    certificate_id = response.json()["issued"][0]["certificate"]["certificate"]["id"]

    def at(rpc_url: str):
        path = home / "deployment.json"
        Deployment(chain_id=31337, rpc_url=rpc_url, registry="0x" + "5f" * 20, block_number=1,
                   deployer="0x" + "00" * 20, source_hash="00" * 32).save(path)
        join_chain(home, path)
        return home
    return at, certificate_id


def test_verification_against_a_node_that_is_down_is_an_answer_not_an_error(joined):
    at, certificate_id = joined
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = at(f"http://user:secret@127.0.0.1:{port}/key/s3cr3t?token=hidden")
    with client_of(home) as client:
        response = client.get(f"/v1/bundles/{certificate_id}/verification")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["node"] == f"http://127.0.0.1:{port}" and body["node_redacted"] is True
    assert body["chain_unchecked"].startswith(f"the node at http://127.0.0.1:{port} failed: ConnectionError")
    assert all(check["ok"] is None for check in body["checks"] if check["name"] in CHAIN_CHECKS)
    assert body["checks"][0] == {"name": "bundle_format", "ok": True,
                                 "detail": "version 3, every field well formed"}
    assert not [word for word in ("secret", "s3cr3t", "hidden") if word in json.dumps(body)]


def test_verification_against_a_node_that_hangs_answers_by_the_deadline(joined, monkeypatch):
    at, certificate_id = joined
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections (the kernel does), never answers
    port = listener.getsockname()[1]
    monkeypatch.setattr(verification, "DEADLINE_S", 0.5)
    monkeypatch.setattr(verification, "RPC_TIMEOUT_S", 2.0)
    monkeypatch.setattr(verification, "MAX_CONCURRENT", 1)
    home = at(f"http://127.0.0.1:{port}")
    try:
        with client_of(home) as client:
            started = time.monotonic()
            response = client.get(f"/v1/bundles/{certificate_id}/verification")
            elapsed = time.monotonic() - started
            # The abandoned check still holds the one slot: the next is answered at once, without the chain.
            busy = client.get(f"/v1/bundles/{certificate_id}/verification").json()
    finally:
        listener.close()
    assert response.status_code == 200 and elapsed < 3
    body = response.json()
    assert body["chain_unchecked"] == (f"the node at http://127.0.0.1:{port} did not finish the chain checks"
                                       " within 0.5 s")
    chain = [check["ok"] for check in body["checks"] if check["name"] in CHAIN_CHECKS]
    assert chain == [None] * len(CHAIN_CHECKS)
    assert busy["chain_unchecked"].startswith("this server is verifying as many bundles at once as it allows"
                                              " (1)")
    assert busy["elapsed_ms"] < 1000 and busy["checks"][0]["ok"] is True
    # The abandoned thread ends by its own request timeout.
    deadline = time.monotonic() + 6
    while any(thread.name == "rosvd-verify" for thread in threading.enumerate()):
        assert time.monotonic() < deadline, "the abandoned verification thread never ended"
        time.sleep(0.05)


def test_public_node_cuts_what_may_hold_a_secret():
    assert verification.public_node("http://127.0.0.1:8545") == ("http://127.0.0.1:8545", False)
    assert verification.public_node("https://node.example/") == ("https://node.example", False)
    assert verification.public_node("https://u:p@rpc.example:443/v3/KEY") == ("https://rpc.example:443", True)
    assert verification.public_node("http://[::1]:8545?x=1") == ("http://[::1]:8545", True)


def test_the_page_is_served_offline_and_outside_the_api_contract(served):
    client, _, _ = served
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "script-src 'self'" in csp
    assert 'src="/page/page.js"' in page.text and "http" not in page.text.replace('href="/openapi.json"', "")
    for name, kind in (("page.js", "javascript"), ("page.css", "text/css")):
        asset = client.get(f"/page/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
        assert "https://" not in asset.text and "//cdn" not in asset.text
    missing = client.get("/page/nothing.js")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not [path for path in paths if path.startswith("/page")]
    assert "/v1/bundles/{certificate_id}/verification" in paths
