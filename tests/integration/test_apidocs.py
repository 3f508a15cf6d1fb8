"""GET /api/docs/: the OpenAPI document rendered for people, every file served by the app itself."""

from __future__ import annotations

import re

import pytest

FILES = {"apidocs.js": "text/javascript", "swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}


def test_the_page_is_served_without_a_token_and_loads_only_files_of_this_server(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "//" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', page))  # relative, so same origin
    assert not re.search(r"https?://", page)
    loaded = re.findall(r'<script src="([^"]+)"|<link rel="stylesheet" href="([^"]+)"', page)
    assert sorted(name for match in loaded for name in match if name) == sorted(FILES)
    assert '"../openapi.json"' in client.get("/api/docs/apidocs.js").get_data(as_text=True)


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_file_of_the_page_is_served_with_its_content_type(client, name):
    with client.get(f"/api/docs/{name}") as response:  # closes the file a package's asset is sent from
        assert response.status_code == 200
        assert response.mimetype == FILES[name]
        assert len(response.data) > 100
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_page_may_load_nothing_from_another_host_nor_be_framed(client):
    policy = client.get("/api/docs/").headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))

    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # no inline script, no eval
    assert directives["style-src"] == "'self'"  # Swagger UI needs no inline style sheet
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert not re.search(r"https?:|\*", policy)


def test_the_script_points_swagger_ui_at_this_document_and_off_the_online_validator(client):
    script = client.get("/api/docs/apidocs.js").get_data(as_text=True)

    assert "validatorUrl: null" in script
    assert not re.search(r"https?://", script)


def test_other_files_and_methods_are_refused(client):
    assert client.get("/api/docs/index.html").status_code == 404
    assert client.get("/api/docs/swagger-ui-standalone-preset.js").status_code == 404
    assert client.post("/api/docs/").status_code == 405
    redirect = client.get("/api/docs")
    assert redirect.status_code == 308 and redirect.headers["Location"].endswith("/api/docs/")
