"""API docs for people at /api/docs/: Swagger UI rendering GET /api/openapi.json.

Swagger UI's script and style sheet come from the flask-openapi-swagger wheel and are served by
this app, like the page itself: nothing is loaded from another host. No token: the page carries
no data (it reads the public OpenAPI document); "Try it out" sends requests with the token a
person enters under "Authorize", to this server only.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Response, send_from_directory

from web.ops import PAGE_HEADERS

SWAGGER_UI = Path(str(files("flask_openapi_swagger") / "templates" / "swagger"))
ASSETS = {"swagger-ui-bundle.js": SWAGGER_UI / "js", "swagger-ui.css": SWAGGER_UI / "css"}  # file: its folder

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>salesync API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="swagger-ui-bundle.js"></script>
<script src="apidocs.js"></script>
</body>
</html>
"""

# validatorUrl: null: Swagger UI would otherwise send the document to an online validator.
SCRIPT = """"use strict";
window.ui = SwaggerUIBundle({
  url: new URL("../openapi.json", window.location.href).href,
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"""

blueprint = Blueprint("apidocs", __name__)


@blueprint.get("/api/docs/")
def page():
    return _headers(Response(PAGE, mimetype="text/html"))


@blueprint.get("/api/docs/<any('apidocs.js', 'swagger-ui-bundle.js', 'swagger-ui.css'):name>")
def asset(name: str):
    if name == "apidocs.js":
        return _headers(Response(SCRIPT, mimetype="text/javascript"))
    media = "text/css" if name.endswith(".css") else "text/javascript"
    return _headers(send_from_directory(ASSETS[name], name, mimetype=media, max_age=0))


def _headers(response: Response) -> Response:
    # The dashboard's: everything comes from this server (no inline script or style: Swagger UI needs
    # none; its style sheet draws icons as data: images), and the page may not be framed.
    response.headers.update(PAGE_HEADERS)
    return response
