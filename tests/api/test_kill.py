"""kill -9 of `rosvd serve` during certify uploads loses no acknowledged certificate.

A real server, several clients uploading at once (one to three files per upload, small
epochs so that seals and VDF proofs run too); after some 201 answers the server gets
SIGKILL with uploads still in flight. Every certificate it acknowledged must then be in
the store (opened with :class:`~rosvd.store.Store`), `rosvd store check` must pass, and
the server must start again on the same home and serve them. Three kill points, each on
the home the previous one left.
"""
import itertools
import json
import threading

import httpx

from rosvd import cli
from rosvd.api.process import ServerProcess, local_home
from rosvd.bench.load import acknowledged_missing, picture
from rosvd.certify import STORE_FILE

from .conftest import POLICY, bearer

CLIENTS = 4
#: Acknowledged certificates (since the server started) at which it is killed.
KILL_POINTS = (3, 10, 25)


def start_uploading(url: str, token: str, kill_at: int, counter, acknowledged: list, lock, refused: list):
    """Clients that upload until the server is gone; ``enough`` is set once ``kill_at``
    certificates are acknowledged (each 201's ids go to ``acknowledged``, any other status
    to ``refused``). Returns (threads, enough, cut off: clients whose upload was on the wire
    when the kill came, not those that found the server gone when they next connected)."""
    enough, failed = threading.Event(), []
    start_count = len(acknowledged)

    def client(index: int):
        with httpx.Client(base_url=url, timeout=60, headers=bearer(token)) as http:
            while True:
                files = [("files", (f"c{index}.png", picture(7, next(counter)), "image/png"))
                         for _ in range(1 + next(counter) % 3)]
                try:
                    response = http.post("/v1/certificates", files=files)
                except httpx.ConnectError:
                    return  # the server was already gone: nothing was in flight
                except httpx.HTTPError:
                    failed.append(index)
                    return  # the kill broke this upload mid-request
                if response.status_code != 201:
                    refused.append(response.text)
                    return
                with lock:
                    acknowledged.extend(item["certificate"]["certificate"]["id"]
                                        for item in response.json()["issued"])
                    if len(acknowledged) - start_count >= kill_at:
                        enough.set()

    threads = [threading.Thread(target=client, args=(index,), daemon=True) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    return threads, enough, failed


def test_kill_9_during_uploads_loses_no_acknowledged_certificate(tmp_path, capfd):
    home = tmp_path / "home"
    token = local_home(home, POLICY)
    acknowledged, lock, counter, refused = [], threading.Lock(), itertools.count(), []
    cut_off = []
    for kill_at in KILL_POINTS:
        server = ServerProcess(home, tmp_path / "serve.log").start()
        before = len(acknowledged)
        try:
            threads, enough, failed = start_uploading(server.url, token, kill_at, counter, acknowledged, lock,
                                                      refused)
            assert enough.wait(timeout=120), "too few uploads were acknowledged"
        finally:
            server.kill()  # uploads still running: some in the writer, some answered but not yet read
        for thread in threads:
            thread.join(timeout=60)
        cut_off.append(len(failed))
        # Every 201 any client received, before or during the kill, names a stored certificate.
        assert not refused and len(acknowledged) - before >= kill_at
        assert acknowledged_missing(home / STORE_FILE, acknowledged) == []
        assert cli.main(["store", "check", "--home", str(home), "--json"]) == 0
        assert json.loads(capfd.readouterr().out)["ok"]
    assert sum(cut_off) > 0, "the kills never caught an upload in flight"
    with ServerProcess(home, tmp_path / "serve.log") as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/healthz").json()["certificates"] >= len(acknowledged)
        for value in acknowledged:
            answer = http.get(f"/v1/certificates/{value}")
            assert answer.status_code == 200 and answer.json()["certificate"]["id"] == value
        after = [("files", ("after.png", picture(7, next(counter)), "image/png"))]
        assert http.post("/v1/certificates", headers=bearer(token), files=after).status_code == 201
    assert cli.main(["store", "check", "--home", str(home)]) == 0
