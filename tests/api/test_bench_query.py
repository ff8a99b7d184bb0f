"""`rosvd bench query` on a small store: every figure present, no request failed, every
planted near-duplicate found (recall against the exact scan), and its HTTP client."""
import asyncio
import json

import numpy as np
import pytest

from rosvd.bench.http_client import Connection, HttpError, multipart_body
from rosvd.bench.query import exact_answer, warm_page_cache
from rosvd.cli import main

KEYS = ("content_p50_ms", "content_p99_ms", "upload_query_p99_ms", "by_id_p99_ms", "queries_per_s",
        "recall_at_threshold", "index_build_s", "rss_mb", "stored")


@pytest.mark.heavy
def test_small_run_reports_every_figure(tmp_path, capfd):
    code = main(["bench", "query", "--stored", "3000", "--seconds", "0.5", "--clients", "4",
                 "--work", str(tmp_path), "--json"])
    result = json.loads(capfd.readouterr().out)
    assert code == 0 and result["errors"] == 0, result
    assert all(result[key] is not None for key in KEYS), result
    assert result["stored"] == 3000 and result["recall_at_threshold"] == 1.0
    assert result["recall_expected_matches"] >= 48  # every planted query has its target within reach
    # the confirmed rule, with look-alikes it must turn down: none returned, none missed
    assert result["match_rule"] == "confirmed" and result["lookalikes_per_query"] >= 1
    assert result["recall_unexpected_matches"] == 0 and result["recall_answers_differing"] == 0
    import sqlite3
    db = sqlite3.connect(tmp_path / "home" / "rosvd.sqlite")     # every certificate keeps all of it
    counts = [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
              for t in ("certificates", "match_descriptors", "region_fingerprints")]
    db.close()
    assert counts[0] == counts[1] == counts[2] == 3000 + result["lookalikes"], counts
    for kind in ("content", "by_id", "upload"):
        for loop in ("loaded", "saturated"):
            assert result["phases"][loop][kind]["requests"] > 0, (loop, kind)
    assert result["phases"]["loaded"]["by_id"]["offered_per_s"] > 0
    # The store it built is marked complete, so a second run of the same size and seed reuses it.
    from rosvd.bench.query import DEFAULT_SEED
    from rosvd.bench.query_store import reuse
    assert reuse(tmp_path / "home", 3000, DEFAULT_SEED) is not None
    assert reuse(tmp_path / "home", 3001, DEFAULT_SEED) is None


def test_a_work_directory_it_did_not_make_is_refused_and_left_alone(tmp_path, capfd):
    precious = tmp_path / "home" / "rosvd.sqlite"
    precious.parent.mkdir()
    precious.write_bytes(b"someone's store")
    assert main(["bench", "query", "--stored", "100", "--work", str(tmp_path)]) == 2
    assert "was not made by rosvd bench query" in capfd.readouterr().err
    assert precious.read_bytes() == b"someone's store"


def test_the_page_cache_warm_up_reads_the_store_and_its_wal_whole(tmp_path):
    store = tmp_path / "rosvd.sqlite"
    store.write_bytes(b"s" * 40_000)
    assert warm_page_cache(store, chunk=4096) == 40_000
    (tmp_path / "rosvd.sqlite-wal").write_bytes(b"w" * 5_000)
    assert warm_page_cache(store, chunk=4096) == 45_000


def test_exact_answer_is_a_brute_force_scan():
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 2**63, (500, 4), dtype=np.uint64)
    probe = codes[17].copy()
    probe[0] ^= np.uint64(0b1011)            # 3 bits from code 17
    codes[300] = probe                       # and an exact copy at 300
    bits = [sum(bin(int(a) ^ int(b)).count("1") for a, b in zip(row, probe, strict=True)) for row in codes]
    expected = sorted((d, s + 1) for s, d in enumerate(bits) if d <= 20)
    assert exact_answer(codes, probe.tobytes(), 20 / 256, 10) == [s for _, s in expected][:10]
    assert exact_answer(codes, probe.tobytes(), 20 / 256, 10)[:2] == [301, 18]


def test_client_reads_chunked_and_sized_answers_and_reports_a_lost_connection():
    async def serve(reader, writer):
        request = await reader.readuntil(b"\r\n\r\n")
        if b"/chunked" in request:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        elif b"/garbage" in request:
            writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        elif b"/sized" in request:
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
            writer.close()
            return
        await writer.drain()
        writer.close()

    async def run():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            assert await Connection(url).request("GET", "/chunked") == (200, b"hello world")
            assert await Connection(url).request("GET", "/sized") == (404, b"nope")
            with pytest.raises(HttpError, match="connection lost"):
                await Connection(url).request("GET", "/truncated")
            garbled = Connection(url)
            with pytest.raises(HttpError, match="not an HTTP"):
                await garbled.request("GET", "/garbage")
            assert garbled._writer is None, "a connection that answered garbage is closed"
        finally:
            server.close()
    asyncio.run(run())
    with pytest.raises(ValueError, match="http://"):
        Connection("https://example.org")
    body, kind = multipart_body("file", "a.png", b"\x89PNG")
    assert kind.startswith("multipart/form-data; boundary=") and kind.split("=")[1].encode() in body
