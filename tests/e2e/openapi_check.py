"""Every answer the end-to-end suite receives is held against the OpenAPI document.

`Contract.violations` says how an answer breaks the document: a status code the operation does not
document, a media type it does not document, a body its schema refuses, a documented header
missing, or, on a documented path, a method the document does not list answered with anything
but a 405 problem. The autouse fixture below applies it to every HTTP answer a test receives
through `requests` (the `Api` client, the fault tests' sessions, anything in-process). Paths the
document does not know (Flower, say) are left alone.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import jsonschema_rs
import pytest
import requests

from web.openapi import document


class Contract:
    def __init__(self, spec: dict):
        self.spec = spec
        # Literal paths first: /api/sales/analytics/ before /api/sales/{external_id}/.
        templates = sorted(spec["paths"], key=lambda path: path.count("{"))
        self.routes = [
            (re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"), path) for path in templates
        ]
        self.validators: dict[tuple, jsonschema_rs.Validator] = {}

    def template(self, path: str) -> str | None:
        return next((template for pattern, template in self.routes if pattern.match(path)), None)

    def validator(self, key: tuple, schema: dict):
        if key not in self.validators:
            self.validators[key] = jsonschema_rs.validator_for(
                {**schema, "components": self.spec["components"]}, validate_formats=True
            )
        return self.validators[key]

    def violations(self, method: str, path: str, status: int, headers, body: bytes) -> list[str]:
        method = method.lower()
        headers = {name.lower(): value[0] if isinstance(value, list) else value for name, value in headers.items()}
        template = self.template(path)
        if template is None or method in ("head", "options"):
            return []
        where = f"{method.upper()} {path} -> {status}"
        operation = self.spec["paths"][template].get(method)
        if operation is None:
            if status != 405:
                return [f"{where}: the document has no {method.upper()} {template}, yet the answer is not 405"]
            responses = {
                "405": {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            }
        else:
            responses = operation["responses"]
        documented = responses.get(str(status))
        if documented is None:
            return [
                f"{where}: status {status} is not documented for {method.upper()} {template} "
                f"(documented: {', '.join(responses)})"
            ]
        found = []
        for name, header in documented.get("headers", {}).items():
            if header.get("required") and name.lower() not in headers:
                found.append(f"{where}: documented header {name} is missing")
        content = documented.get("content")
        if not content:
            return found
        media = (headers.get("content-type") or "").split(";")[0].strip()
        if media not in content:
            return [*found, f"{where}: Content-Type {media!r} is not documented (documented: {', '.join(content)})"]
        if not media.endswith("json"):
            return found
        try:
            instance = json.loads(body)
        except ValueError as error:
            return [*found, f"{where}: the body is not JSON: {error}"]
        validator = self.validator((template, method, str(status), media), content[media]["schema"])
        errors = [
            f"{where}: {error.message} at {'/'.join(map(str, error.instance_path)) or 'the body'}"
            for error in validator.iter_errors(instance)
        ]
        return [*found, *errors[:5]]

    def hold(self, method: str, path: str, status: int, headers, body: bytes) -> None:
        found = self.violations(method, path, status, headers, body)
        assert not found, "answer does not match the OpenAPI document:\n" + "\n".join(found)


_contract: Contract | None = None


def contract() -> Contract:
    global _contract
    if _contract is None:
        _contract = Contract(document())
    return _contract


@pytest.fixture(autouse=True)
def answers_match_the_openapi_document(monkeypatch):
    """Every answer received through `requests` during a test must match the OpenAPI document."""
    send = requests.Session.send

    def checked_send(session, request, **kwargs):
        response = send(session, request, **kwargs)
        if not kwargs.get("stream"):
            contract().hold(
                request.method, urlsplit(request.url).path, response.status_code, response.headers, response.content
            )
        return response

    monkeypatch.setattr(requests.Session, "send", checked_send)
