"""Every refusal the gateway gives is JSON: `{"error": <code>, "reason": <text>}`, plus `fields`
(a list of `{"field", "reason"}`) when the request body or parameters were at fault."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from streams.validation import FieldError


class ApiError(Exception):
    """Raised anywhere in a handler; becomes the JSON error response."""

    def __init__(
        self,
        status: int,
        error: str,
        reason: str,
        fields: Iterable[FieldError] = (),
        headers: dict[str, str] | None = None,
    ):
        super().__init__(reason)
        self.status = status
        self.error = error
        self.reason = reason
        self.fields = list(fields)
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error, "reason": self.reason}
        if self.fields:
            body["fields"] = [{"field": f.path, "reason": f.reason} for f in self.fields]
        return body


def invalid(fields: list[FieldError], reason: str = "the request is not valid") -> ApiError:
    return ApiError(422, "invalid", reason, fields)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} is not known here")


def forbidden(reason: str) -> ApiError:
    return ApiError(403, "forbidden", reason)


def unauthorized(reason: str) -> ApiError:
    return ApiError(401, "unauthorized", reason, headers={"WWW-Authenticate": "Bearer"})


async def on_api_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return JSONResponse(error.body(), error.status, headers=error.headers)


async def on_http_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    names = {404: "not_found", 405: "method_not_allowed"}
    body = {"error": names.get(error.status_code, "http_error"), "reason": error.detail}
    return JSONResponse(body, error.status_code, headers=error.headers)


async def on_unexpected(_request: Request, _error: Exception) -> Response:
    # The details go to the log (Starlette logs the traceback); the client gets no internals.
    return JSONResponse({"error": "internal", "reason": "the gateway failed; try again"}, 500)
