"""``rosvd chain`` as a user runs it: devnet up and joined, certify, anchor, status, restart."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rosvd.chain.deployment import Deployment, DeploymentError
from rosvd.store import Store

from .conftest import require_node_modules

ROSVD = [sys.executable, "-m", "rosvd.cli"]
#: Seconds `rosvd chain up` gets to start Anvil, deploy and print its JSON document.
READY_TIMEOUT_S = 120


@pytest.fixture(scope="module", autouse=True)
def _needs_node_modules():
    require_node_modules()


def rosvd(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*ROSVD, *args], capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"rosvd {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


class ChainUp:
    """``rosvd chain up`` in the background; its first JSON document once it is ready."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen([*ROSVD, "chain", "up", "--json", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        # A devnet that never says it is ready is killed, so the read below ends and the
        # test fails with what was printed, instead of waiting for ever.
        watchdog = threading.Timer(READY_TIMEOUT_S, self.process.kill)
        watchdog.start()
        lines = []
        try:
            for line in self.process.stdout:
                lines.append(line)
                if line.rstrip() == "}":
                    break
        finally:
            watchdog.cancel()
        try:
            self.info = json.loads("".join(lines))
        except json.JSONDecodeError:
            self.process.kill()
            raise AssertionError(f"chain up printed no JSON document in {READY_TIMEOUT_S} s:"
                                 f" {''.join(lines)!r}; stderr: {self.process.stderr.read()}") from None

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


def test_devnet_join_certify_anchor_status_restart(tmp_path):
    home = tmp_path / "home"
    env_home = ["--home", str(home)]
    rosvd("enroll", *env_home, "--dev", "--epoch-size", "8", "--vdf-iterations", "1000")
    pictures = []
    for index in range(3):
        path = tmp_path / f"p{index}.png"
        rng = np.random.default_rng(index)
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
        pictures.append(path)

    up = ChainUp(*env_home, "--block-time", "0.2", "--join")
    try:
        info = up.info
        assert info["joined"]["registry"] == info["registry"] and not info["resumed"]
        deployment = Deployment.load(Path(info["deployment"]))
        assert deployment.registry == info["registry"] and deployment.rpc_url == info["rpc_url"]
        assert os.stat(info["operator_key"]).st_mode & 0o077 == 0

        certified = json.loads(rosvd("certify", *env_home, "--seal", "--json", "--quiet",
                                     *map(str, pictures)).stdout)
        assert len(certified["certificates"]) == 3 and certified["sealed_epochs"] == [1]
        result = json.loads(rosvd("chain", "anchor", *env_home, "--confirmations", "2",
                                  "--timeout", "60", "--json").stdout)
        assert result["anchors"] == {"anchored": 1} and result["last_anchored"] == 1
        assert json.loads(rosvd("chain", "status", *env_home, "--json").stdout)["anchors"] == {"anchored": 1}

        store = Store(home / "rosvd.sqlite")
        epoch = store.epoch(1)
        store.close()
        assert epoch.block_number > 0 and epoch.block_hash != bytes(32), "the epoch names a real block"
        certificate_id = certified["certificates"][1]["id"]
        bundle_path = tmp_path / "bundle.json"
        bundle_path.write_text(rosvd("bundle", certificate_id, *env_home).stdout)
        bundle = json.loads(bundle_path.read_text())
        assert bundle["anchor"]["registry"] == info["registry"].lower()
        assert bundle["anchor"]["chain_id"] == info["chain_id"]
        trusted = ["--rpc", info["rpc_url"], "--registry", info["registry"]]
        verified = rosvd("verify", "--bundle", str(bundle_path), *trusted, "--json")
        report = json.loads(verified.stdout)
        assert report["ok"] is True and all(check["ok"] is True for check in report["checks"])
        window = report["time_window"]
        assert window["epoch_sealed_not_before"] <= window["not_after"]
        # The text form: one line per check, then the verdict.
        text = rosvd("verify", "--bundle", str(bundle_path), *trusted).stdout.splitlines()
        assert text[-1] == "VERIFIED"
        assert sum(line.startswith("  ok") for line in text) == len(report["checks"])
        # The same through the content itself, from the appliance's own store.
        by_content = json.loads(rosvd("verify", str(pictures[1]), *env_home, "--json").stdout)
        assert [record["ok"] for record in by_content] == [True]
        # Without a node: never verified, and it says what it could not check.
        offline = rosvd("verify", "--bundle", str(bundle_path), "--json", check=False)
        assert offline.returncode == 1 and json.loads(offline.stdout)["ok"] is False
        assert "not checked" in rosvd("verify", "--bundle", str(bundle_path), check=False).stdout
        tampered = json.loads(json.dumps(bundle))
        tampered["merkle_proof"][0] = "00" * 32
        bundle_path.with_name("tampered.json").write_text(json.dumps(tampered))
        refused = rosvd("verify", "--bundle", str(bundle_path.with_name("tampered.json")), *trusted, "--json",
                        check=False)
        assert refused.returncode == 1
        failed = {c["name"] for c in json.loads(refused.stdout)["checks"] if c["ok"] is False}
        assert "merkle_path" in failed
        # A registry the verifier does not trust (the host's word) is refused as such.
        other = rosvd("verify", "--bundle", str(bundle_path), "--rpc", info["rpc_url"], "--registry",
                      "0x" + "22" * 20, "--json", check=False)
        failed = {c["name"] for c in json.loads(other.stdout)["checks"] if c["ok"] is False}
        assert failed == {"chain_identity"}
    finally:
        assert up.stop() == 0

    # Stopped: anchoring cannot reach the chain and says so; nothing is lost.
    down = rosvd("chain", "anchor", *env_home, "--timeout", "1", check=False)
    assert down.returncode == 2 and "cannot reach the chain" in down.stderr

    again = ChainUp(*env_home, "--block-time", "0.2")
    try:
        assert again.info["resumed"] and again.info["registry"] == info["registry"]
        again_trusted = ["--rpc", again.info["rpc_url"], "--registry", again.info["registry"]]
        report = json.loads(rosvd("verify", "--bundle", str(bundle_path), *again_trusted, "--json").stdout)
        assert report["ok"] is True, "anchors survive a devnet restart"
    finally:
        assert again.stop() == 0


def test_anchor_refuses_a_deployment_for_another_chain(tmp_path):
    home = tmp_path / "home"
    rosvd("enroll", "--home", str(home), "--dev")
    up = ChainUp("--home", str(home), "--block-time", "0.5")
    try:
        path = Path(up.info["deployment"])
        record = json.loads(path.read_text())
        record["chain_id"] = 1
        wrong = tmp_path / "wrong.json"
        wrong.write_text(json.dumps(record))
        with pytest.raises(DeploymentError, match="is chain 31337"):
            Deployment.load(wrong).connect()
        result = rosvd("chain", "anchor", "--home", str(home), "--deployment", str(wrong), check=False)
        assert result.returncode == 2 and "no key file" in result.stderr
        result = rosvd("chain", "anchor", "--home", str(home), "--deployment", str(wrong),
                       "--key-file", up.info["operator_key"], check=False)
        assert result.returncode == 2 and "is chain 31337" in result.stderr
        record["chain_id"], record["registry"] = 31337, "0x" + "11" * 20
        wrong.write_text(json.dumps(record))
        with pytest.raises(DeploymentError, match="no contract"):
            Deployment.load(wrong).connect()
    finally:
        up.stop()
    with pytest.raises(DeploymentError, match="rosvd chain up"):
        Deployment.load(tmp_path / "missing.json")
