"""The baseline for intake: a bare Flask app with one route that parses JSON and answers 202."""

from __future__ import annotations

from flask import Flask, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/api/sales/")
    def post_sale():
        body = request.get_json()
        return {"external_id": body.get("external_id"), "status": "queued"}, 202

    @app.post("/api/sales/batch/")
    def post_batch():
        body = request.get_json()
        return {"results": [{"status": 202, "body": {"status": "queued"}} for _ in body["sales"]]}, 200

    return app
