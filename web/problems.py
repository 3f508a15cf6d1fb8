"""RFC 9457 problem details: every error leaves as application/problem+json."""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response, json
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

log = logging.getLogger(__name__)


class ProblemError(Exception):
    """An answer as an RFC 9457 problem document, raised anywhere in a request and rendered by
    `respond` (web/responses.py's Problem describes the document for OpenAPI)."""

    def __init__(
        self, status: int, title: str, detail: str, errors: list[dict] | None = None, headers: dict | None = None
    ):
        super().__init__(detail)
        self.status, self.title, self.detail, self.errors, self.headers = status, title, detail, errors, headers or {}

    def body(self) -> dict:
        body = {"type": "about:blank", "title": self.title, "status": self.status, "detail": self.detail}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def invalid(errors: list[dict]) -> ProblemError:
    return ProblemError(400, "Invalid request", "One or more fields are invalid; see errors.", errors)


def http_problem(error: HTTPException) -> ProblemError:
    """A werkzeug HTTP error (404, 405, 413...) as the problem it is answered with."""
    return ProblemError(error.code or 500, error.name, error.description or error.name)


def respond(problem: ProblemError) -> Response:
    response = respond_problem(problem.body())
    response.headers.update(problem.headers)
    return response


def respond_problem(body: dict) -> Response:
    return Response(json.dumps(body), body["status"], mimetype="application/problem+json")


def register(app: Flask, retry_after: int) -> None:
    app.register_error_handler(ProblemError, respond)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        response = respond(http_problem(error))
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(redis.RedisError)
    def redis_down(error: redis.RedisError) -> Response:
        log.warning("redis unavailable: %s", error)
        return respond(
            ProblemError(
                503,
                "Service Unavailable",
                "The sales queue is unreachable; retry later.",
                headers={"Retry-After": str(retry_after)},
            )
        )

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_down(error: Exception) -> Response:
        log.warning("postgresql unavailable: %s", error)
        return respond(
            ProblemError(
                503,
                "Service Unavailable",
                "The database is unreachable; retry later.",
                headers={"Retry-After": str(retry_after)},
            )
        )

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return respond(ProblemError(500, "Internal Server Error", "An unexpected error occurred."))
