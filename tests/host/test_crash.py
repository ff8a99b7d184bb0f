"""Kill -9 a real certifying process at many points: nothing acknowledged is lost, no epoch half-written."""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from rosvd.certify import Appliance, ApplianceConfig, initialise
from rosvd.epochs import EpochPolicy

# Certifies small arrays forever, printing the ids of each batch once certify() returned
# (the acknowledgement). Small epochs and a VDF of ~0.1 s put kills in every phase.
CHILD = """
import sys
import numpy as np
from rosvd import ingest
from rosvd.certify import Appliance
rng = np.random.default_rng(int(sys.argv[2]))
with Appliance(sys.argv[1]) as appliance:
    appliance.warm_up()
    print("ready", flush=True)
    while True:
        batch = [ingest.from_array(rng.integers(0, 256, (32, 32), dtype=np.uint8)) for _ in range(3)]
        for issued in appliance.certify_all(batch, batch=3):
            print(" ".join(item.certificate.id.hex() for item in issued), flush=True)
"""
#: Seconds after "ready" at which each round kills the child.
KILL_AFTER_S = (0.05, 0.4, 0.9, 1.3, 0.2, 0.7)


def run_and_kill(home, seed: int, delay: float) -> list[bytes]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(home), str(seed)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    acknowledged, ready = [], threading.Event()

    def read():
        for line in child.stdout:
            if not line.endswith("\n"):
                break  # cut by the kill: not an acknowledgement
            if line.strip() == "ready":
                ready.set()
            else:
                acknowledged.extend(bytes.fromhex(word) for word in line.split())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not ready.wait(120):
        child.kill()
        pytest.fail(f"child did not start: {child.stderr.read()}")
    time.sleep(delay)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    reader.join(10)
    return acknowledged


def test_kill_9_loses_nothing_acknowledged(tmp_path):
    home = tmp_path / "home"
    initialise(home, ApplianceConfig(dev_mode=True,
                                     policy=EpochPolicy(max_certificates=4, max_age_s=3600,
                                                        vdf_iterations=15_000)))
    acknowledged, recovered = [], []
    for seed, delay in enumerate(KILL_AFTER_S):
        acknowledged += run_and_kill(home, seed, delay)
        with Appliance(home) as appliance:   # restart: proves any epoch left sealed
            recovered += appliance.recovered_epochs
            stored = {row[0] for row in appliance.store.db.execute("SELECT id FROM certificates")}
            missing = [cid.hex() for cid in acknowledged if cid not in stored]
            assert not missing, f"round {seed}: acknowledged certificates lost: {missing[:3]}"
            report = appliance.verify_chain()
            assert report.ok, report.problems
            states = [epoch.state for epoch in appliance.store.epochs()]
            assert states[-1] == "open" and set(states[:-1]) <= {"closed"}
    assert len(acknowledged) > 20, "the kills landed before any work: the test proves nothing"
    # Most of the child's time is the VDF: some kill must have hit a sealed, unproved epoch.
    assert recovered, "no kill landed between sealing and proving"
