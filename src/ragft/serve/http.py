"""HTTP plumbing shared by the endpoints: JSON errors (never a traceback) and bounded body parsing."""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

log = logging.getLogger("ragft.serve")
M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """An error answered as `{"error": message}` with `status` (and optional headers)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Every error becomes JSON `{"error": ...}`; unexpected ones are logged here, not sent."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, describe_errors(exc.errors()))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        return error_response(500, "internal error; the server log has the details")


def describe_errors(errors: Any) -> str:
    """Pydantic errors as one line: `field: problem; field: problem`."""
    parts = []
    for error in list(errors)[:5]:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request body as JSON, refusing more than `max_bytes` before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ApiError(400, "invalid Content-Length header")
        if int(declared) > max_bytes:
            raise ApiError(413, f"request body too large: {declared} bytes, the limit is {max_bytes}")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                raise ApiError(413, f"request body too large: over {max_bytes} bytes")
    except ClientDisconnect:
        # The caller hung up mid-upload: nothing was done, nobody is listening. One line, not a traceback.
        log.info("client disconnected after %d body bytes of %s %s", len(body), request.method, request.url.path)
        raise ApiError(400, "client disconnected before the request body was read") from None
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"request body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {str(exc)[:200]}") from None


def parse_model(model: type[M], data: Any) -> M:
    """Validate a parsed JSON body as `model`, or a 422 naming what is wrong."""
    if not isinstance(data, dict):
        raise ApiError(422, f"request body must be a JSON object, not {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, describe_errors(exc.errors())) from None


def check_text(text: str, field: str) -> str:
    """Refuse strings JSON allows but UTF-8 cannot encode (lone surrogates) or that hold NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(422, f"{field} is not valid Unicode (lone surrogate)") from None
    if "\x00" in text:
        raise ApiError(422, f"{field} must not contain NUL characters")
    return text
