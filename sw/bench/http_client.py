"""A lean HTTP/1.1 keep-alive client on asyncio streams, for timing a server under load.

Why not httpx (which the service's own client, ``rosvd query``, uses): on this machine an
httpx request costs the client 1 to 3 ms of CPU, more than the server spends answering a
look-up, and the load generator shares the server's two cores. This client does only what
a timed request needs: write one request, read the status line, the headers and the whole
body (``Content-Length`` or chunked), on one connection kept open. Responses are checked
(status code, complete body); nothing is parsed beyond that.
"""
from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import urlsplit

MAX_HEADER_BYTES = 64 * 1024


class HttpError(RuntimeError):
    pass


class Connection:
    """One keep-alive connection to ``url``'s host (http only)."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"an http:// URL, not {url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port,
                                                                   limit=MAX_HEADER_BYTES)

    async def request(self, method: str, path: str, body: bytes = b"", content_type: str | None = None
                      ) -> tuple[int, bytes]:
        """Send one request; returns (status, body) once the whole body has arrived."""
        if self._writer is None:
            await self._connect()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        if content_type is not None:
            head.append(f"Content-Type: {content_type}")
        try:
            self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            await self._writer.drain()
            status, headers = await self._read_head()
            payload = await self._read_body(headers)
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            self.close()
            raise HttpError(f"connection lost: {error}") from None
        except (HttpError, asyncio.LimitOverrunError, ValueError) as error:
            self.close()   # whatever is left on this connection cannot be trusted to frame an answer
            raise HttpError(f"not an HTTP/1.1 answer this client reads: {error}") from None
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, payload

    async def _read_head(self) -> tuple[int, dict[str, str]]:
        raw = await self._reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        if not version.startswith("HTTP/1."):
            raise HttpError(f"not an HTTP/1.x answer: {lines[0][:80]!r}")
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return int(rest.split(" ", 1)[0]), headers

    async def _read_body(self, headers: dict[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self._reader.readexactly(size + 2)
                if size == 0:
                    return b"".join(chunks)
                chunks.append(chunk[:-2])
        length = headers.get("content-length")
        if length is None:
            raise HttpError("an answer with neither Content-Length nor chunked encoding")
        return await self._reader.readexactly(int(length))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def json_body(record) -> tuple[bytes, str]:
    return json.dumps(record).encode(), "application/json"


def multipart_body(field: str, filename: str, data: bytes, kind: str = "application/octet-stream"
                   ) -> tuple[bytes, str]:
    """One file as multipart/form-data."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {kind}\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
