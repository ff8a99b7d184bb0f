"""`rosvd serve` as a real process on a free port, `rosvd query` against it over HTTP."""
import json
import signal
import time

import httpx
import pytest

from rosvd.api.process import ServerProcess
from rosvd.cli import main

from .conftest import bearer, enrolled, jpeg, png, scene


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home, token = enrolled(tmp_path_factory.mktemp("serve") / "home")
    log = home.parent / "serve.log"
    served = ServerProcess(home, log, start_timeout_s=30).start()
    try:
        yield served.url, token, home
        served.process.send_signal(signal.SIGTERM)
        assert served.process.stdout.read() == "", \
            "stdout carries only the start-up record (access log: stderr)"
    finally:
        # uvicorn shuts down gracefully (lifespan: the writer closed), then re-raises the signal.
        assert served.stop() in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in log.read_text()


def test_serve_certifies_and_query_verifies_locally(server, tmp_path, capsys):
    url, token, _ = server
    files = [("files", (f"scene{seed}.png", png(scene(seed)))) for seed in range(6)]  # one closed epoch
    response = httpx.post(url + "/v1/certificates", files=files, headers=bearer(token), timeout=30)
    assert response.status_code == 201
    target = response.json()["issued"][1]["certificate"]["certificate"]["id"]
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(jpeg(scene(1)))
    assert main(["query", str(copy), "--url", url, "--json"]) == 1  # no chain: never "verified"
    report = json.loads(capsys.readouterr().out)
    (match,) = report["matches"]
    assert match["certificate_id"] == target and match["exact"] is False and match["distance"] <= 39 / 256
    assert not match["verified"] and not match["problems"]
    checks = {check["name"]: check["ok"] for check in match["checks"]["checks"]}
    assert checks["device_signature"] and checks["merkle_path"] and checks["vdf_proof"]
    assert checks["anchor_on_chain"] is None
    original = tmp_path / "scene1.png"
    original.write_bytes(png(scene(1)))
    assert main(["query", str(original), "--url", url, "--upload"]) == 1
    summary = capsys.readouterr().out
    assert f"exact     0x{target}" in summary and "not checked" in summary and "no --rpc" in summary


def test_query_bad_input_and_unreachable_server_exit_2(server, tmp_path, capsys):
    url, _, _ = server
    picture = tmp_path / "p.png"
    picture.write_bytes(png(scene(9)))
    with socket_free_port() as port:
        assert main(["query", str(picture), "--url", f"http://127.0.0.1:{port}"]) == 2
    assert "cannot reach the server" in capsys.readouterr().err
    assert main(["query", str(tmp_path / "missing.png"), "--url", url]) == 2
    assert main(["query", str(picture), "--url", "ftp://x"]) == 2
    assert main(["query", str(picture), "--url", url, "--rpc", "http://127.0.0.1:1"]) == 2
    assert "--registry" in capsys.readouterr().err
    assert main(["query", str(picture), "--url", url + "/nothing/"]) == 2
    assert "Traceback" not in capsys.readouterr().err


class socket_free_port:
    """A port nothing listens on (bound, then released, for the duration of the block)."""

    def __enter__(self):
        import socket
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def __exit__(self, *exc):
        return False


def test_listening_socket_is_tcp_with_nodelay():
    """asyncio sets TCP_NODELAY only on sockets whose proto says TCP: the socket rosvd serve
    makes must say so, or keep-alive answers wait for the client's delayed ACK."""
    import socket

    from rosvd.api.cli import _listen
    sock = _listen("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        sock.close()


def test_keep_alive_answers_do_not_wait_for_delayed_acks(server):
    """Sequential requests on one connection: without TCP_NODELAY each took ~40 ms (the
    delayed-ACK timer); the median here must stay well under it."""
    url, _, _ = server
    with httpx.Client(base_url=url) as client:
        client.get("/healthz")
        took = []
        for _ in range(15):
            started = time.perf_counter()
            client.get("/healthz").raise_for_status()
            took.append(time.perf_counter() - started)
    assert sorted(took)[len(took) // 2] < 0.025, took


def test_a_server_that_never_listens_meets_the_start_deadline(tmp_path):
    """ServerProcess waits for the start-up record with a deadline, not forever: here the
    'server' is a process that prints nothing and sleeps."""
    import sys

    from rosvd.api.process import ServerError

    class Silent(ServerProcess):
        def command(self):
            return [sys.executable, "-c", "import time; time.sleep(60)"]
    home, _ = enrolled(tmp_path / "home")
    served = Silent(home, tmp_path / "serve.log", start_timeout_s=1.5)
    started = time.monotonic()
    with pytest.raises(ServerError, match="did not listen within 1.5 s"):
        served.start()
    assert time.monotonic() - started < 10 and not served.running


def test_a_start_up_failing_half_way_still_closes_the_writer_and_saves_the_index(tmp_path, monkeypatch):
    """The lifespan's cleanup: the index was opened, then warming up fails; the writer and
    the index are closed (closing saves the index), and the failure reaches the caller."""
    import warnings

    from rosvd.api import app as app_module
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # starlette's note on httpx, as in conftest.client_of
        from fastapi.testclient import TestClient

    class FakeWriter:
        closed = False

        def close(self):
            FakeWriter.closed = True

    def broken_warm_up():
        raise RuntimeError("warm-up failed")

    home, _ = enrolled(tmp_path / "home")
    monkeypatch.setattr(app_module, "_warm_up_fingerprint", broken_warm_up)
    service = app_module.create_app(home, writer=FakeWriter())
    with pytest.raises(RuntimeError, match="warm-up failed"):
        with TestClient(service):
            pass
    assert FakeWriter.closed and service.state.readers.index is None


def test_the_objects_loaded_at_start_up_are_frozen_out_of_full_collections(tmp_path):
    import gc
    home, _ = enrolled(tmp_path / "home")
    gc.unfreeze()
    from .conftest import client_of
    with client_of(home):
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0          # and let go at shutdown
