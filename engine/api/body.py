"""Reading a request DTO from the query string and the body (JSON, XML or a form).

As in ServiceStack, property names match case-insensitively (flowId, FlowId, flowid), the query
string fills the DTO first and the body overrides it, and unknown properties are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeVar
from urllib.parse import parse_qsl

from starlette.requests import Request

from engine.api.dto import Dto
from engine.api.errors import ApiError
from engine.api.formats import FORMAT_STATE_KEY, Format, media_type_format
from engine.api.xmlwire import parse_request, pascal
from engine.sessions.validation import FieldError, ValidationFailed

MAX_BODY_BYTES = 64 * 1024
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
_NOT_MEMBERS = frozenset({"format"})

D = TypeVar("D", bound=Dto)


async def read_dto(request: Request, dto_type: type[D]) -> D:
    values: dict[str, object] = {
        k: v for k, v in request.query_params.items() if k.lower() not in _NOT_MEMBERS
    }
    body = await read_limited(request)
    if body.strip():
        values.update(_parse(request, body, dto_type))
    return bind(dto_type, values)


async def read_limited(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body; 413 when Content-Length or the bytes actually sent exceed `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ApiError(400, "InvalidContentLength", "Content-Length is not a number")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", f"the request body exceeds {limit} bytes")


def _parse(request: Request, body: bytes, dto_type: type[Dto]) -> Mapping[str, object]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == FORM_MEDIA_TYPE:
        return _parse_form(body)
    fmt = media_type_format(content_type) if content_type else _route_format(request)
    if fmt is Format.XML:
        return parse_request(body, dto_type.__name__, dto_type.xml_namespace)
    if fmt is Format.JSON:
        return _parse_json(body)
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"unsupported Content-Type {content_type!r}: use JSON, XML or {FORM_MEDIA_TYPE}",
    )


def _route_format(request: Request) -> Format:
    """A body sent without a Content-Type is read in the format the route names, else JSON."""
    fixed = request.scope.get("state", {}).get(FORMAT_STATE_KEY)
    return fixed if isinstance(fixed, Format) else Format.JSON


def _parse_json(body: bytes) -> Mapping[str, object]:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as exc:  # bad syntax, bad encoding, absurd nesting
        raise ApiError(400, "InvalidJson", "the body is not valid JSON") from exc
    if not isinstance(parsed, dict):
        raise ApiError(400, "InvalidJson", "the JSON body must be an object")
    return parsed


def _parse_form(body: bytes) -> Mapping[str, object]:
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "InvalidForm", "the form body is not valid UTF-8") from exc


def bind(dto_type: type[D], values: Mapping[str, object]) -> D:
    """Fill `dto_type`'s string members from `values`, matching names case-insensitively."""
    by_key = {name.replace("_", ""): name for name in dto_type.model_fields}
    members: dict[str, str | None] = {}
    errors: list[FieldError] = []
    for key, value in values.items():
        name = by_key.get(key.replace("_", "").lower())
        if name is None:
            continue
        if value is None or isinstance(value, str):
            members[name] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            members[name] = str(value)
        else:
            errors.append(FieldError(pascal(name), "must be a string", "Invalid"))
    if errors:
        raise ValidationFailed(errors)
    return dto_type.model_validate(members)
