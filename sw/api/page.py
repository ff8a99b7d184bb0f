"""The verification web page: ``GET /`` and its assets under ``/page/`` (files in ``page/``).

Plain HTML, CSS and JavaScript, no build step and no external URL: the page works on a
network with no internet, and its Content-Security-Policy lets it load and call nothing but
this server. It is a client of the public API (``POST /v1/query``, then
``GET /v1/bundles/{id}/verification`` for each match) and is not part of the API's
contract, so its routes are left out of the OpenAPI document (docs/api.md says so).
"""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

PAGE_DIR = Path(__file__).with_name("page")
#: Nothing but this server: no CDN, no inline script, no framing by another site.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
       " base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}


class _Assets(StaticFiles):
    async def get_response(self, path, scope):
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        return response


def install(app: FastAPI) -> None:
    index = (PAGE_DIR / "index.html").read_text()

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def home_page():
        return HTMLResponse(index, headers=HEADERS)

    app.mount("/page", _Assets(directory=PAGE_DIR), name="page")
