"""The demo till at /till/: a static page over the JavaScript client, served next to the API."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

FILES = Path(__file__).parent / "static" / "till"
# Everything the page loads comes from this server (no CDN); it may not be framed.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "worker-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # the service worker keeps the offline copy, and it must be the latest
}

# /till/<file> serves the page's files (the client module included); /till redirects to /till/.
blueprint = Blueprint("till", __name__, static_folder=FILES, static_url_path="/till")


@blueprint.get("/till/")
def page():
    return send_from_directory(FILES, "index.html")


@blueprint.after_request
def headers(response: Response) -> Response:
    response.headers.update(HEADERS)
    return response
