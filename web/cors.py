"""CORS for web tills served from another origin than the API (SALESYNC_CORS_ORIGINS).

A browser lets a page of one origin read the API's answers only if the API says so. Before a
request with a token (Authorization) or a JSON body it asks first: a preflight, OPTIONS with
`Origin` and `Access-Control-Request-Method`. Only the origins listed are ever named back, and
only on the paths a till uses; a preflight from any other origin is answered with no CORS headers
at all, so the browser sends nothing. CORS grants no access of its own: every request still
needs its token.

Our own few lines rather than flask-cors: the rules are one exact allowlist, one fixed set of
headers and a handful of paths. flask-cors matches resources and origins by regular expression,
more than this needs, and its path matching is where its recent security fixes were.
"""

from __future__ import annotations

import re

from flask import Flask, Response, request

# The paths a web till calls (salesync-client.js and the catalogue pull), with the methods it uses.
TILL_PATHS = (
    (re.compile(r"/api/sales/(batch/|status/)?"), "POST"),
    (re.compile(r"/api/sales/[^/]+/"), "GET, HEAD"),
    (re.compile(r"/api/sync/products/"), "GET, HEAD"),
    (re.compile(r"/api/products/(\d+/)?"), "GET, HEAD"),
)
ALLOW_HEADERS = "Authorization, Content-Type, If-None-Match"
EXPOSE_HEADERS = "ETag, Retry-After, Location"
MAX_AGE = "600"  # seconds a browser may reuse a preflight's answer


def allowed_origins(text: str) -> frozenset[str]:
    """The origins of SALESYNC_CORS_ORIGINS (checked by config/settings.py), as browsers spell them."""
    return frozenset(entry.strip().lower() for entry in text.split(",") if entry.strip())


def till_methods(path: str) -> str | None:
    """The methods a till uses on `path`, or None if a till has no business there."""
    return next((methods for pattern, methods in TILL_PATHS if pattern.fullmatch(path)), None)


def install(app: Flask, origins: str) -> None:
    allowed = allowed_origins(origins)

    @app.before_request
    def preflight() -> Response | None:
        """Answer a till path's preflight here, before routing and authentication (it carries no token)."""
        asked = request.headers.get("Access-Control-Request-Method")
        if request.method != "OPTIONS" or asked is None:
            return None  # every request but a preflight: no path matching on the intake path
        methods = till_methods(request.path)
        if methods is None:
            return None
        response = app.response_class(status=204)
        if request.headers.get("Origin") in allowed and asked in methods.split(", "):
            response.headers["Access-Control-Allow-Origin"] = request.headers["Origin"]
            response.headers["Access-Control-Allow-Methods"] = methods
            response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
            response.headers["Access-Control-Max-Age"] = MAX_AGE
        return response

    if not allowed:
        return  # no origin may read an answer: answers do not vary by origin, nothing to add to them

    @app.after_request
    def headers(response: Response) -> Response:
        """An allowed origin may read a till path's answer (errors included) and the headers a till needs."""
        if till_methods(request.path) is None:
            return response
        response.vary.add("Origin")  # the answer depends on it: a cache must not hand it to another origin
        origin = request.headers.get("Origin")
        if origin in allowed and request.method != "OPTIONS":
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        return response
