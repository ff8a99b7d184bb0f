"""Request size and rate limits, as ASGI middleware in front of every route.

:class:`BodyLimit` refuses a body over ``max_request_bytes`` with 413: at once when its
Content-Length says so, else as soon as the bytes received pass the limit (a chunked
upload without a length is counted as it streams, never buffered whole first).
:class:`RateLimit` keeps a token bucket per client address (``rate_per_s``, saving up to
``rate_burst``) and answers 429 with ``Retry-After`` when it is empty; ``/healthz`` and
``/metrics`` are not limited, so probes and scrapers always get through.
"""
from __future__ import annotations

import json
import math
import threading
import time

from .problems import PROBLEM_JSON, TITLES, problem_body

UNLIMITED_PATHS = frozenset({"/healthz", "/metrics"})


async def send_problem(send, status: int, slug: str, detail: str, instance: str,
                       headers: dict[str, str] | None = None) -> None:
    body = json.dumps(problem_body(status, slug, TITLES[status], detail, instance)).encode()
    raw = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(key.lower().encode(), value.encode()) for key, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        detail = f"the request body is larger than the {self.max_bytes} bytes this service accepts"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await send_problem(send, 413, "too-large", detail, scope["path"])
        state = {"received": 0, "exceeded": False, "started": False}

        async def counted_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.max_bytes:
                    state["exceeded"] = True
                    raise _TooLarge
            return message

        async def guarded_send(message):
            if state["exceeded"] and not state["started"]:
                return  # whatever the app made of the broken body: the 413 goes out instead
            state["started"] |= message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not state["exceeded"] or state["started"]:
                raise
        if state["exceeded"] and not state["started"]:
            await send_problem(send, 413, "too-large", detail, scope["path"], {"connection": "close"})


class RateLimit:
    def __init__(self, app, rate_per_s: float, burst: int, clock=time.monotonic):
        self.app, self.rate, self.burst, self.clock = app, rate_per_s, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Take one token for ``client``; returns 0 if granted, else seconds until one is."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            if len(self._buckets) > 100_000:  # forget idle clients rather than grow without bound
                self._buckets = {key: value for key, value in self._buckets.items() if now - value[1] < 60}
            return (1.0 - tokens) / self.rate

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.take(client)
        if wait > 0:
            return await send_problem(send, 429, "rate-limited",
                                      f"more than {self.rate:g} requests per second from {client};"
                                      " retry later",
                                      scope["path"], {"retry-after": str(max(1, math.ceil(wait)))})
        await self.app(scope, receive, send)
