"""Reading a JSON body exactly: numbers keep their text (Decimal), NaN and Infinity are refused."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TypeVar

from flask import request
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from web.problems import ProblemError, invalid

Model = TypeVar("Model", bound=BaseModel)


def _no_constants(name: str):
    raise ValueError(f"{name} is not a number salesync accepts")


def read_json():
    if not request.is_json:
        raise ProblemError(415, "Unsupported Media Type", "Send the body as JSON with Content-Type: application/json.")
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: werkzeug raises 413 here
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_no_constants)
    except (ValueError, RecursionError) as error:
        detail = str(error) if isinstance(error, ValueError) else "nested too deeply"
        raise ProblemError(400, "Malformed JSON", f"The body is not valid JSON: {detail}"[:300]) from None


def parse(model: type[Model], data: object) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid([field_error(e) for e in error.errors(include_url=False, include_input=False)]) from None


def field_error(error: ErrorDetails) -> dict:
    field = ".".join(str(part) for part in error["loc"]) or "body"
    message = error["msg"].removeprefix("Value error, ")
    return {"field": field, "message": message}
