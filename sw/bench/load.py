"""``rosvd bench load``: many concurrent clients against a real ``rosvd serve``, then the store.

A fresh dev-mode home (model device, the default epoch policy, the per-address rate limit
lifted: every client here is 127.0.0.1), a ``rosvd serve --port 0`` child process, and
``clients`` concurrent clients (asyncio, one httpx connection each) for ``seconds``, each
picking its next request at random from :data:`MIX`:

* ``certify``: one small PNG of unique content (``POST /v1/certificates``, 201 expected);
* ``query_blake3`` / ``query_fingerprint``: a JSON query for the BLAKE3 or the fingerprint
  of content certified earlier in the run (its certificate must be among the matches) or of
  unrelated content (random values: no match may come back);
* ``get``: ``GET /v1/certificates/{id}`` of a certificate acknowledged earlier (200, that id).

A request counts as an error when it fails in transport, answers another status or gives
a wrong answer. Latency runs from the start of the request to the full response body.
When the time is up, requests in flight finish, the server is stopped (SIGTERM), and the
store is opened again: ``acknowledged_missing`` counts the certificates the API answered
201 for that are not in it, and ``rosvd store check`` runs on it. ``ok`` (exit 0) needs no
error and nothing missing.
"""
from __future__ import annotations

import asyncio
import collections
import io
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: Share of each kind of request.
MIX = {"certify": 0.3, "query_blake3": 0.25, "query_fingerprint": 0.25, "get": 0.2}
#: Queries about certified content, the rest about unrelated content.
CERTIFIED_SHARE = 0.5
SIDE = 48
REQUEST_TIMEOUT_S = 120.0


def picture(seed: int, index: int) -> bytes:
    """A small PNG, smooth (so fingerprints differ by content) with a little noise; unique
    per (seed, index)."""
    from PIL import Image
    rng = np.random.default_rng((seed, index))
    grid = np.linspace(0.0, 1.0, SIDE)
    fx, fy, phase = rng.uniform(0.5, 4, 2).tolist() + [rng.uniform(0, 6.3)]
    plane = np.sin(2 * np.pi * fx * grid[None, :] + phase) * np.cos(2 * np.pi * fy * grid[:, None])
    colours = rng.uniform(-1, 1, 3)
    image = plane[..., None] * colours * 100 + 128 + rng.normal(0, 6, (SIDE, SIDE, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


class Load:
    """What the clients saw: latencies per kind, errors by reason, acknowledged certificates."""

    def __init__(self):
        self.latencies: dict[str, list[float]] = collections.defaultdict(list)
        self.errors: collections.Counter = collections.Counter()
        self.error_examples: list[str] = []
        self.certified: list[dict] = []   # {"id", "blake3", "fingerprint"} per 201
        self.elapsed = 0.0

    def error(self, kind: str, reason: str, detail: str) -> None:
        self.errors[f"{kind}: {reason}"] += 1
        if len(self.error_examples) < 10:
            self.error_examples.append(f"{kind}: {reason}: {detail[:300]}")

    @property
    def requests(self) -> int:
        return sum(len(values) for values in self.latencies.values())


async def _client(http, token: str, deadline: float, rng: random.Random, seed: int, counter, load: Load):
    import blake3
    kinds, weights = zip(*MIX.items(), strict=True)
    auth = {"Authorization": f"Bearer {token}"}
    while time.perf_counter() < deadline:
        kind = rng.choices(kinds, weights)[0]
        known = load.certified[rng.randrange(len(load.certified))] if load.certified else None
        if kind == "get" and known is None:
            kind = "certify"
        related = known is not None and rng.random() < CERTIFIED_SHARE
        if kind == "certify":
            data = picture(seed, next(counter))
            request = http.build_request("POST", "/v1/certificates", headers=auth,
                                         files=[("files", ("load.png", data, "image/png"))])
        elif kind == "get":
            request = http.build_request("GET", f"/v1/certificates/{known['id']}")
        else:
            field = "blake3" if kind == "query_blake3" else "fingerprint"
            value = known[field] if related else rng.randbytes(32).hex()
            request = http.build_request("POST", "/v1/query", json={"queries": [{field: value}]})
        start = time.perf_counter()
        try:
            response = await http.send(request)
        except Exception as error:  # transport: refused, reset, timed out
            load.latencies[kind].append(time.perf_counter() - start)
            load.error(kind, "transport", f"{type(error).__name__}: {error}")
            continue
        load.latencies[kind].append(time.perf_counter() - start)
        expected = 201 if kind == "certify" else 200
        if response.status_code != expected:
            load.error(kind, f"status {response.status_code}", response.text)
            continue
        body = response.json()
        if kind == "certify":
            record = body["issued"][0]["certificate"]
            fields = record["certificate"]
            load.certified.append({"id": fields["id"], "blake3": blake3.blake3(data).hexdigest(),
                                   "fingerprint": fields["fingerprint"]})
        elif kind == "get":
            if body["certificate"]["id"] != known["id"]:
                load.error(kind, "wrong answer", f"asked for {known['id']}, got {body['certificate']['id']}")
        else:
            found = [match["certificate_id"] for match in body["results"][0]["matches"]]
            if related and known["id"] not in found:
                load.error(kind, "wrong answer", f"certificate {known['id']} not among the matches {found}")
            elif not related and found:
                load.error(kind, "wrong answer", f"unrelated content matched {found}")


async def drive(url: str, token: str, clients: int, seconds: float, seed: int = 0) -> Load:
    """``clients`` concurrent clients against the server at ``url`` for ``seconds``."""
    import itertools

    import httpx
    load = Load()
    counter = itertools.count()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S, limits=limits) as http:
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(_client(http, token, deadline, random.Random(seed * 100_003 + index), seed,
                                       counter, load) for index in range(clients)))
        load.elapsed = time.perf_counter() - start
    return load


def acknowledged_missing(store_path: Path, ids: list[str]) -> list[str]:
    """The ids among ``ids`` (acknowledged with a 201) that the store at ``store_path`` lacks."""
    from ..store import Store
    store = Store(store_path)
    try:
        return [value for value in ids if store.certificate_by_id(bytes.fromhex(value)) is None]
    finally:
        store.close()


def _percentiles_ms(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p99": None, "max": None}
    p50, p99 = np.percentile(values, [50, 99])
    return {"p50": round(1000 * p50, 2), "p99": round(1000 * p99, 2), "max": round(1000 * max(values), 2)}


def summarise(load: Load, missing: list[str], store_check: dict, clients: int, seconds: float) -> dict:
    """The report of a run (``ok``: no error, nothing acknowledged missing, the store checks)."""
    elapsed = load.elapsed or seconds
    errors = sum(load.errors.values())
    return {"clients": clients, "seconds": seconds, "elapsed_s": round(elapsed, 2), "mix": MIX,
            "requests": load.requests, "errors": errors, "error_kinds": dict(load.errors),
            "error_examples": load.error_examples,
            "throughput_per_s": {"total": round(load.requests / elapsed, 1),
                                 **{kind: round(len(load.latencies[kind]) / elapsed, 1) for kind in MIX}},
            "requests_by_kind": {kind: len(load.latencies[kind]) for kind in MIX},
            "latency_ms": {kind: _percentiles_ms(load.latencies[kind]) for kind in MIX},
            "certified": len(load.certified), "store_certificates": store_check.get("certificates"),
            "acknowledged_missing": len(missing), "missing_examples": missing[:10],
            "store_ok": store_check.get("ok", False),
            "ok": errors == 0 and not missing and bool(store_check.get("ok"))}


def run(clients: int = 100, seconds: float = 60.0, seed: int = 0, work: Path | None = None,
        progress: Callable[[str], None] | None = None) -> dict:
    """The figures of the module docstring, on a fresh home in a scratch directory (or in
    ``work``, a new directory kept afterwards with the home and the server's log)."""
    from ..api.process import ServerProcess, local_home
    from ..certify import STORE_FILE
    from ..store_maintenance import check
    if clients < 1 or not seconds > 0:
        raise ValueError("--clients and --seconds must be positive")
    if work is not None and Path(work).exists():
        raise ValueError(f"--work {work} exists; name a new directory")
    say = progress or (lambda text: None)
    with tempfile.TemporaryDirectory(prefix="rosvd-load-") as scratch:
        root = Path(work or scratch)
        root.mkdir(parents=True, exist_ok=True)
        home = root / "home"
        token = local_home(home)
        server = ServerProcess(home, root / "serve.log")
        say("starting rosvd serve")
        with server:
            say(f"{clients} clients for {seconds:g} s against {server.url}")
            load = asyncio.run(drive(server.url, token, clients, seconds, seed))
            say(f"{load.requests} requests, {sum(load.errors.values())} errors; stopping the server")
        missing = acknowledged_missing(home / STORE_FILE, [item["id"] for item in load.certified])
        report = summarise(load, missing, check(home / STORE_FILE), clients, seconds)
        report["server_exit"] = server.process.returncode
    return report
