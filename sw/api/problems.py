"""RFC 9457 problem details: every error the service returns, in one shape.

``{"type", "title", "status", "detail", "instance"}`` as ``application/problem+json``;
``type`` is ``urn:rosvd:problem:<slug>`` (the slugs are listed in docs/api.md), ``instance``
the request path. Validation errors add ``errors`` (where and what, never the input).
An unhandled exception becomes a 500 with a fixed detail: the traceback goes to the
server's log, never to the client.
"""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ..store import StoreUnavailable

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:rosvd:problem:"

#: Plain HTTP errors (from routing or Starlette) and the slug each is reported under.
STATUS_SLUGS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
                405: "method-not-allowed", 409: "conflict", 413: "too-large", 415: "unsupported-media-type",
                422: "invalid-request", 429: "rate-limited", 500: "internal-error", 503: "unavailable"}
TITLES = {400: "Bad request", 401: "Authentication required", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 413: "Content too large", 415: "Unsupported media type",
          422: "Invalid request", 429: "Too many requests", 500: "Internal error", 503: "Unavailable"}

log = logging.getLogger("rosvd.api")


class Problem(Exception):
    """Raise in a route to answer with a problem; ``slug`` names its type."""

    def __init__(self, status: int, detail: str, slug: str | None = None, title: str | None = None,
                 headers: dict[str, str] | None = None, **extensions):
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.slug = slug or STATUS_SLUGS.get(status, "error")
        self.title = title or TITLES.get(status, "Error")
        self.headers = headers or {}
        self.extensions = extensions


def problem_body(status: int, slug: str, title: str, detail: str, instance: str, **extensions) -> dict:
    return {"type": TYPE_PREFIX + slug, "title": title, "status": status, "detail": detail,
            "instance": instance, **extensions}


def problem_response(problem: Problem, instance: str) -> JSONResponse:
    body = problem_body(problem.status, problem.slug, problem.title, problem.detail, instance,
                        **problem.extensions)
    return JSONResponse(body, status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON)


def _validation_errors(error: RequestValidationError) -> list[dict]:
    return [{"loc": [str(part) for part in item.get("loc", ())], "msg": str(item.get("msg", "")),
             "type": str(item.get("type", ""))} for item in error.errors()]


def document_problems(spec: dict) -> None:
    """Document every error response of an OpenAPI document ``spec`` (status 400 and up) as
    ``application/problem+json``, the media type the service sends them with, in place."""
    for operation in (op for path in spec.get("paths", {}).values() for op in path.values()):
        for status, response in operation.get("responses", {}).items():
            content = response.get("content", {})
            if status >= "400" and "application/json" in content:
                content[PROBLEM_JSON] = content.pop("application/json")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path: Starlette's own 405 names only the
    first route that matched the path (``GET`` for ``/v1/certificates``, which takes
    ``POST`` too)."""
    methods = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE and getattr(route, "methods", None):
            methods |= route.methods
    return sorted(methods)


def install(app: FastAPI) -> None:
    """Route every error through :func:`problem_response`."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, problem: Problem):
        return problem_response(problem, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException):
        detail = error.detail if isinstance(error.detail, str) else TITLES.get(error.status_code, "Error")
        if error.status_code == 404 and detail == "Not Found":
            detail = f"no resource at {request.url.path}"
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
            if detail == "Method Not Allowed":
                detail = f"{request.method} is not allowed on {request.url.path}"
        return problem_response(Problem(error.status_code, detail, headers=headers), request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError):
        errors = _validation_errors(error)
        where = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        return problem_response(Problem(422, f"the request is not valid: {where}", errors=errors),
                                request.url.path)

    @app.exception_handler(StoreUnavailable)
    async def _store_unavailable(request: Request, error: StoreUnavailable):
        # PostgreSQL went away (restart, failover): a 503 to retry, not a 500. The detail is
        # public, so where the store is stays in the log.
        log.error("the store is unavailable on %s %s: %s", request.method, request.url.path, error)
        return problem_response(Problem(503, "the store cannot be reached just now; retry (the service's"
                                        " log says why)", slug="store-unavailable"), request.url.path)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, error: Exception):
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
        return problem_response(Problem(500, "the server failed to answer this request; its log says why"),
                                request.url.path)
