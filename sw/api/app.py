"""The FastAPI application: ``create_app(home)`` serves one appliance home.

Reads (certificates, bundles, devices, epochs, queries) are public. Look-ups by key (a
certificate by id or BLAKE3, a page of epochs) take tens of microseconds in SQLite and run
on the event loop itself, which saves a thread hand-off per request (with PostgreSQL, a
network round trip, they run on worker threads); health and devices (which count every
certificate), bundles and queries (an epoch tree, a fingerprint search) run on worker
threads. Each thread has its own read connection to the store (SQLite WAL: readers never
wait for the writer). Certifying needs the bearer token and goes through the one
:class:`~.writer.Writer`. Every error is a problem document (:mod:`.problems`); sizes and
rates are limited by :mod:`.limits` with the values of :mod:`.settings`.
"""

import asyncio
import contextlib
import gc
import io
import math
import sqlite3
import threading
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import certificate, ingest, match
from ..certify import load_config, store_location
from ..fingerprint_index import FingerprintIndex
from ..search import FingerprintSearch
from ..store import Store, StoreError
from . import models, page, problems, records
from .limits import BodyLimit, RateLimit
from .metrics import Metrics
from .problems import Problem, log
from .settings import Settings
from .tokens import check_token
from .verification import ServerVerifier
from .writer import Writer

API_VERSION = "1"
MAX_NAME = 255
#: The largest integer SQLite stores: larger epoch numbers cannot exist (and cannot be bound).
MAX_INT64 = 2**63 - 1
ERRORS = {status: {"model": models.ProblemDetail, "description": problems.TITLES[status]}
          for status in (413, 422, 429, 500)}


def _errors(*statuses: int) -> dict:
    return {**ERRORS, **{status: {"model": models.ProblemDetail, "description": problems.TITLES[status]}
                         for status in statuses}}


def parse_hex32(text: str, what: str) -> bytes:
    value = certificate.parse_hex32(text)
    if value is None:
        raise Problem(422, f"{what} must be 32 bytes of hex (64 digits), not {text[:80]!r}")
    return value


class Readers:
    """One read connection to the store per worker thread (an SQLite connection belongs to
    the thread that opened it), and the service's two fingerprint indexes
    (:class:`~rosvd.fingerprint_index.FingerprintIndex`, of the certificates' fingerprints
    and of their regions': opened at start-up, caught up from the store before every
    search, saved at shutdown)."""

    def __init__(self, path: Path, url: str | None = None):
        self.path, self.url = path, url
        self._local = threading.local()
        self.index: FingerprintIndex | None = None
        self.region_index: FingerprintIndex | None = None

    def open_index(self) -> None:
        self.index = FingerprintIndex(self.path, store_url=self.url)
        self.region_index = FingerprintIndex(self.path, store_url=self.url, table="region_fingerprints")

    def close_index(self) -> None:
        """Close (and so save) both indexes, the second even when closing the first fails."""
        indexes = (self.index, self.region_index)
        self.index = self.region_index = None
        with contextlib.ExitStack() as closing:
            for index in indexes:
                if index is not None:
                    closing.callback(index.close)

    def store(self) -> Store:
        store = getattr(self._local, "store", None)
        if store is not None and store.lost():
            # The server ended this session (restart, failover, idle timeout): the failed
            # request answered 503; this one opens a new session instead of failing forever.
            with contextlib.suppress(Exception):
                store.close()
            store = None
        if store is None:
            store = self._local.store = Store(self.path, url=self.url)
        return store

    def search(self) -> FingerprintSearch:
        if self.index is None:
            raise RuntimeError("the fingerprint index is not open (the service has not started)")
        return self.index

    def region_search(self) -> FingerprintSearch:
        if self.region_index is None:
            raise RuntimeError("the region index is not open (the service has not started)")
        return self.region_index


def _name(upload: UploadFile, index: int) -> str:
    fallback = f"upload-{index}"
    return (Path(upload.filename).name if upload.filename else fallback)[:MAX_NAME] or fallback


def _check_image_header(data: bytes, name: str, max_pixels: int) -> None:
    """Refuse an image with more than ``max_pixels`` from its header, before decoding it."""
    if not data.startswith(ingest.IMAGE_MAGIC) and data[:4] != b"RIFF":
        return
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Image.DecompressionBombError:
        width, height = max_pixels + 1, 1
    except Exception:  # not decodable: ingest says why, with its own error type
        return
    if width * height > max_pixels:
        raise Problem(413, f"{name}: {width}x{height} = {width * height} pixels, over this service's limit of"
                      f" {max_pixels}", slug="too-many-pixels")


async def _read_upload(upload: UploadFile, index: int, settings: Settings) -> ingest.Content:
    name = _name(upload, index)
    # The parser spooled the part to a temporary file and knows its size: refuse before reading it.
    data = None if upload.size is not None else await upload.read()
    size = upload.size if data is None else len(data)
    if size > settings.max_file_bytes:
        raise Problem(413, f"{name}: {size} bytes, over this service's limit of {settings.max_file_bytes}"
                      " per file", slug="file-too-large")
    data = data if data is not None else await upload.read()
    _check_image_header(data, name, settings.max_pixels)
    try:
        return await run_in_threadpool(ingest.from_bytes, data, name)
    except ingest.ContentTooLarge as error:
        raise Problem(413, str(error), slug="file-too-large") from None
    except ingest.ContentError as error:
        raise Problem(422, str(error), slug="refused-content", error=type(error).__name__) from None


def _views(content: ingest.Content) -> match.QueryViews | None:
    """The query views of uploaded content (rosvd.match: the bit-exact model, the same bits
    the device computes), None for content that has none."""
    if content.pixels is None:
        return None
    from ..hw.svd.params import SVDParams
    return match.query_views(SVDParams(), content.pixels)


def _warm_up_fingerprint() -> None:
    """Load the compiled fingerprint path now, so the first upload query is not slow."""
    import numpy as np
    _views(ingest.from_array(np.full((32, 32), 128, np.uint8), "warm-up"))


CERTIFY_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["files"], "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                  "description": "one certificate per file"}}}}}}}
QUERY_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/QueryRequest"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "array", "items": {"type": "string", "format": "binary"},
                 "description": "content to look up, one query per file"},
        "max_distance": {"type": "number", "minimum": 0, "maximum": 1},
        "limit": {"type": "integer", "minimum": 1}}}}}}}


def _complete_openapi(app: FastAPI) -> None:
    """Complete the OpenAPI document FastAPI derives: error responses are problem documents
    (``application/problem+json``, :func:`.problems.document_problems`), and the JSON query
    body, which the route parses itself, gets its schema in the components."""
    derive = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = derive()
            problems.document_problems(spec)
            query = models.QueryRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(query.pop("$defs", {}))
            schemas["QueryRequest"] = query
        return app.openapi_schema
    app.openapi = openapi


#: An id in a path, documented with the pattern the route checks itself (its 422 says what is wrong).
CertificateId = Annotated[str, PathParam(description="the certificate id: 64 hex digits, `0x` optional",
                                         json_schema_extra={"pattern": models.HEX32})]


def create_app(home: Path, settings: Settings | None = None, writer: Writer | None = None) -> FastAPI:
    """The service for ``home``; ``writer`` (default: opened at start-up) is closed at shutdown."""
    home = Path(home)
    config = load_config(home)
    settings = settings or Settings.load(home)
    readers = Readers(*store_location(home, config))
    metrics = Metrics(readers.store)
    state = {"writer": writer}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if state["writer"] is None:
            state["writer"] = await run_in_threadpool(Writer, home)
        sealer = None
        try:   # the writer is closed and the index saved even when start-up fails half-way
            await run_in_threadpool(readers.open_index)
            await run_in_threadpool(_warm_up_fingerprint)
            # Everything loaded so far (about 200,000 objects: the libraries, the compiled
            # kernels) lives as long as the service: out of the collector's full passes,
            # which otherwise stop every request for ~70 ms each.
            gc.freeze()
            sealer = asyncio.create_task(_seal_when_due())
            yield
        finally:
            if sealer is not None:
                sealer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sealer
            gc.unfreeze()   # the service's objects may go now (a process serving several apps: tests)
            try:
                await run_in_threadpool(state["writer"].close)
            finally:
                await run_in_threadpool(readers.close_index)

    async def _seal_when_due():
        while True:
            await asyncio.sleep(settings.seal_check_s)
            try:
                await state["writer"].maybe_seal()
            except Exception as error:  # keep serving; the next check tries again
                log.error("sealing the open epoch failed: %s", error)

    app = FastAPI(title="RO-SVD appliance API", version=API_VERSION, lifespan=lifespan,
                  description="Who certified this content, and the proof: see docs/api.md.")
    problems.install(app)
    _complete_openapi(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RateLimit, rate_per_s=settings.rate_per_s, burst=settings.rate_burst)
    app.state.settings, app.state.metrics, app.state.readers = settings, metrics, readers
    verifier = ServerVerifier(config.deployment)
    page.install(app)
    bearer = HTTPBearer(auto_error=False, description="the appliance's API token (`rosvd token rotate`)")

    def require_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        check_token(home, credentials.credentials if credentials else None)

    async def on_store(look_up):
        """A look-up by key: on the loop with SQLite (tens of microseconds, no thread hand-off),
        on a worker thread with PostgreSQL (a network round trip)."""
        return look_up() if readers.url is None else await run_in_threadpool(look_up)

    # A worker thread, not the loop: counting the certificates scans an index (~65 ms at 10 M).
    @app.get("/healthz", response_model=models.Health, tags=["service"], responses=_errors(503))
    def healthz():
        try:
            store = readers.store()
            return {"status": "ok", "certificates": store.certificate_count(),
                    "open_epoch": store.open_epoch().number}
        except (StoreError, sqlite3.Error) as error:  # StoreUnavailable: PostgreSQL
            # The detail is public: where the store is (a PostgreSQL URL) stays in the log.
            log.error("healthz: the store cannot be read: %s", error)
            raise Problem(503, "the store cannot be read (the service's log says why)",
                          slug="store-unavailable") from None

    @app.get("/metrics", tags=["service"], response_class=Response,
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
    def prometheus():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/certificates/{certificate_id}", response_model=models.CertificateRecord,
             tags=["certificates"], responses=_errors(404))
    async def get_certificate(certificate_id: CertificateId):
        def look_up():
            store = readers.store()
            stored = store.certificate_by_id(parse_hex32(certificate_id, "the certificate id"))
            if stored is None:
                raise Problem(404, f"no certificate {certificate_id} in this store", slug="no-certificate")
            return records.certificate_record(store, stored)
        with metrics.latency.labels("certificate").time():
            return await on_store(look_up)

    @app.get("/v1/certificates", response_model=models.CertificateList, tags=["certificates"],
             responses=_errors())
    async def find_certificates(
            blake3: Annotated[str, Query(description="BLAKE3-256 of the exact bytes (hex)",
                                         json_schema_extra={"pattern": models.HEX32})]):
        def look_up():
            store = readers.store()
            rows = store.find_by_content(parse_hex32(blake3, "blake3"))
            return {"certificates": [records.certificate_record(store, row) for row in rows]}
        with metrics.latency.labels("certificate").time():
            return await on_store(look_up)

    # The token is checked before the body is read: the route declares no body parameter
    # (FastAPI would parse one before any dependency runs), its schema is given here instead.
    @app.post("/v1/certificates", response_model=models.IssuedList, status_code=201, tags=["certificates"],
              dependencies=[Depends(require_token)], responses=_errors(400, 401, 403, 415),
              openapi_extra=CERTIFY_BODY)
    async def certify(request: Request):
        """Certify uploaded files; answers once every certificate is committed (durable). A
        file refused (undecodable, too large, ...) refuses the whole upload: nothing is written."""
        form = await _form(request, settings.max_files, "too-many-files", "in one upload")
        files = [item for item in form.getlist("files") if not isinstance(item, str)]
        if not files:
            raise Problem(422, "upload the content to certify as multipart fields named `files`")
        contents = [await _read_upload(upload, index, settings) for index, upload in enumerate(files)]
        issued = await state["writer"].certify(contents)
        metrics.certified.inc(sum(not item.existing for item in issued))

        def view():
            store = readers.store()
            return {"issued": [{"name": item.name, "existing": item.existing, "certificate": records.
                                certificate_record(store, store.certificate_by_id(item.certificate.id))}
                               for item in issued]}
        return await run_in_threadpool(view)

    def bundle_of(certificate_id: str) -> dict:
        store = readers.store()
        wanted = parse_hex32(certificate_id, "the certificate id")
        if store.certificate_by_id(wanted) is None:
            raise Problem(404, f"no certificate {certificate_id} in this store", slug="no-certificate")
        bundle, reason = records.bundle_or_reason(store, wanted)
        if bundle is None:
            raise Problem(409, reason, slug="no-bundle-yet")
        return bundle

    @app.get("/v1/bundles/{certificate_id}", tags=["certificates"], responses=_errors(404, 409),
             response_model=dict, response_description="the proof bundle (sw/bundle.py format)")
    def get_bundle(certificate_id: CertificateId):
        with metrics.latency.labels("bundle").time():
            return bundle_of(certificate_id)

    @app.get("/v1/bundles/{certificate_id}/verification", tags=["certificates"], responses=_errors(404, 409),
             response_model=models.ServerVerification)
    async def verify_here(certificate_id: CertificateId):
        """The bundle's checks as this server makes them, against the chain node of the deployment
        its home joined (none: the chain checks are not made). The server's word, not a proof:
        re-check with `rosvd query` and a node you choose. Bounded: the chain checks are
        abandoned (reported as not made) after a deadline, never a server error."""
        with metrics.latency.labels("verification").time():
            bundle = await run_in_threadpool(bundle_of, certificate_id)
            return {"certificate_id": parse_hex32(certificate_id, "the certificate id").hex(),
                    **await verifier.verify(bundle)}

    @app.get("/v1/devices", response_model=models.DeviceList, tags=["devices"], responses=_errors())
    def devices():   # a worker thread: the device record counts the certificates
        writer = state["writer"]
        checked = writer.cross_check() if writer is not None else None
        return {"devices": [records.device_record(config, readers.store(), checked)]}

    @app.get("/v1/epochs", response_model=models.EpochPage, tags=["epochs"], responses=_errors())
    async def epochs(after: Annotated[int, Query(ge=0, le=MAX_INT64,
                                                 description="list epochs numbered above this")] = 0,
               limit: Annotated[int | None, Query(ge=1, description="epochs per page (default 100)")] = None):
        limit = min(limit or settings.page_size, settings.max_page_size)

        def look_up():
            store = readers.store()
            page = store.epochs_page(after, limit)
            more = len(page) == limit and store.epochs_page(page[-1].number, 1)
            return {"epochs": [records.epoch_record(store, epoch) for epoch in page],
                    "next_after": page[-1].number if more else None}
        return await on_store(look_up)

    @app.post("/v1/query", response_model=models.QueryResponse, tags=["query"], openapi_extra=QUERY_BODY,
              responses=_errors(400, 415))
    async def query(request: Request):
        """Who certified this: exact BLAKE3 matches first, then the nearest fingerprints within
        ``max_distance``, each with its certificate and its proof bundle (or why none exists yet)."""
        with metrics.latency.labels("query").time():
            queries, rule, max_distance, limit = await _parse_query(request)
            if max_distance is None:
                max_distance = match.CANDIDATE_DISTANCE if rule == "confirmed" else settings.match_distance
            if max_distance > settings.max_distance:
                raise Problem(422, f"max_distance {max_distance} is over this service's limit of"
                              f" {settings.max_distance}")
            limit = min(limit or settings.default_matches, settings.max_matches)

            def answer():
                store, search, regions = readers.store(), readers.search(), readers.region_search()
                return [{"name": name, "blake3": None if blake3 is None else blake3.hex(),
                         "fingerprint": None if views is None else views.fingerprints[0].hex(),
                         "views": None if views is None else list(views.names),
                         "windows": None if views is None or views.windows is None
                         else list(views.windows.names),
                         "matches": records.lookup(store, search, blake3, views, rule, max_distance,
                                                  limit, regions)}
                        for name, blake3, views in queries]
            return {"match_rule": rule, "max_distance": max_distance,
                    "confirm_threshold": match.CONFIRM_THRESHOLD if rule == "confirmed" else None,
                    "limit": limit, "results": await run_in_threadpool(answer)}

    async def _parse_query(request: Request):
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/json":
            try:
                body = models.QueryRequest.model_validate_json(await request.body())
            except ValidationError as error:
                from fastapi.exceptions import RequestValidationError
                raise RequestValidationError(error.errors(include_input=False)) from None
            if len(body.queries) > settings.max_query_batch:
                raise Problem(413, f"{len(body.queries)} queries in one request, over this service's limit of"
                              f" {settings.max_query_batch}", slug="batch-too-large")
            queries = [(None, *_query_item(item)) for item in body.queries]
            return queries, body.match_rule, body.max_distance, body.limit
        if kind == "multipart/form-data":
            form = await _form(request, settings.max_query_batch, "batch-too-large", "in one query")
            uploads = [item for item in form.getlist("file") if not isinstance(item, str)]
            if not uploads:
                raise Problem(422, "upload the content to look up as the multipart field `file`")
            queries = []
            for index, upload in enumerate(uploads):
                content = await _read_upload(upload, index, settings)
                views = await run_in_threadpool(_views, content)
                queries.append((content.name, content.blake3(), views))
            rule = form.get("match_rule", "confirmed")
            if rule not in match.RULES:
                raise Problem(422, f"match_rule must be one of {', '.join(match.RULES)},"
                              f" not {str(rule)[:40]!r}")
            return (queries, rule, _form_number(form, "max_distance", float),
                    _form_number(form, "limit", int))
        raise Problem(415, "send the query as application/json or multipart/form-data,"
                      f" not {kind or 'nothing'}")

    def _query_item(item: models.QueryItem):
        """(blake3, views) of one JSON query."""
        if item.fingerprint is not None and item.fingerprints is not None:
            raise Problem(422, "send fingerprint or fingerprints, not both")
        sent = [item.fingerprint] if item.fingerprint is not None else item.fingerprints or []
        if item.blake3 is None and not sent:
            raise Problem(422, "each query needs blake3, a fingerprint or both")
        if not sent and item.window_fingerprints is not None:
            raise Problem(422, "window_fingerprints need the content's fingerprints too")
        if item.descriptors is not None and len(item.descriptors) != len(sent):
            raise Problem(422, f"{len(item.descriptors)} descriptors for {len(sent)} fingerprints:"
                          " send one per fingerprint")
        blake3 = None if item.blake3 is None else parse_hex32(item.blake3, "blake3")
        if not sent:
            return blake3, None
        fingerprints = tuple(parse_hex32(value, "fingerprints") for value in sent)
        names = ("identity",) + tuple(f"view{index}" for index in range(1, len(fingerprints)))
        return blake3, match.QueryViews(names, fingerprints, _descriptors(item.descriptors, "descriptors"),
                                        _query_windows(item))

    def _descriptors(values: list[str] | None, field: str) -> tuple[bytes, ...] | None:
        """Sent descriptors (hex, the pattern checked), each one this version scores."""
        if values is None:
            return None
        descriptors = tuple(bytes.fromhex(value.removeprefix("0x")) for value in values)
        for index, descriptor in enumerate(descriptors):
            if (problem := match.descriptor_problem(descriptor)) is not None:
                raise Problem(422, f"{field}[{index}]: {problem}")
        return descriptors

    def _query_windows(item: models.QueryItem) -> match.QueryViews | None:
        if item.window_fingerprints is None:
            if item.window_descriptors is not None:
                raise Problem(422, "window_descriptors without window_fingerprints")
            return None
        sent = item.window_fingerprints
        if item.window_descriptors is not None and len(item.window_descriptors) != len(sent):
            raise Problem(422, f"{len(item.window_descriptors)} window descriptors for {len(sent)} window"
                          " fingerprints: send one per window")
        fingerprints = tuple(parse_hex32(value, "window_fingerprints") for value in sent)
        return match.QueryViews(tuple(f"window{index}" for index in range(1, len(sent) + 1)), fingerprints,
                                _descriptors(item.window_descriptors, "window_descriptors"))

    async def _form(request: Request, max_files: int, slug: str, where: str):
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "multipart/form-data":
            raise Problem(415, "send the files as multipart/form-data")
        try:
            return await request.form(max_files=max_files, max_fields=8)
        except StarletteHTTPException as error:
            if "Too many files" in str(error.detail):
                raise Problem(413, f"more than {max_files} files {where}, over this service's limit",
                              slug=slug) from None
            raise

    def _form_number(form, key: str, kind):
        value = form.get(key)
        if value is None:
            return None
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise Problem(422, f"{key} must be a number, not {str(value)[:40]!r}") from None
        if not math.isfinite(number) or number < 0 or (kind is int and number < 1) or (
                kind is float and number > 1):
            raise Problem(422, f"{key} {number} is out of range")
        return number

    return app
