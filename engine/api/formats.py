"""Which format a response is written in, and writing it.

As in ServiceStack, the first of these that names a format wins: the route (`/xml/reply/...`) or
a `.json`/`.xml` suffix on the path (both noted by `FormatMiddleware`), `?format=json|xml`, the
`Accept` header, the request's own `Content-Type` (so an XML request gets an XML answer unless
it asks otherwise); otherwise JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from starlette.requests import HTTPConnection
from starlette.responses import Response

from engine.api.dto import Dto
from engine.api.xmlwire import to_xml

FORMAT_STATE_KEY = "api_format"


class Format(StrEnum):
    JSON = "json"
    XML = "xml"

    @property
    def media_type(self) -> str:
        return "application/json" if self is Format.JSON else "application/xml"


_MEDIA_TYPES = {
    "application/json": Format.JSON,
    "text/json": Format.JSON,
    "application/xml": Format.XML,
    "text/xml": Format.XML,
}


def negotiate(connection: HTTPConnection) -> Format:
    fixed = connection.scope.get("state", {}).get(FORMAT_STATE_KEY)
    if isinstance(fixed, Format):
        return fixed
    requested = connection.query_params.get("format", "").strip().lower()
    if requested in (Format.JSON, Format.XML):
        return Format(requested)
    accepted = from_accept(connection.headers.get("accept", ""))
    if accepted is not None:
        return accepted
    content_type = connection.headers.get("content-type", "").split(";")[0]
    return media_type_format(content_type) or Format.JSON


def from_accept(accept: str) -> Format | None:
    """The supported format the Accept header prefers most; None when it names neither."""
    best: tuple[float, int, Format] | None = None
    for position, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        fmt = media_type_format(media)
        if fmt is None:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        # Higher quality first, then the earlier entry.
        candidate = (quality, -position, fmt)
        if quality > 0 and (best is None or candidate[:2] > best[:2]):
            best = candidate
    return best[2] if best else None


def media_type_format(media_type: str) -> Format | None:
    media_type = media_type.strip().lower()
    if media_type in _MEDIA_TYPES:
        return _MEDIA_TYPES[media_type]
    if media_type.endswith("+json"):
        return Format.JSON
    if media_type.endswith("+xml"):
        return Format.XML
    return None


def render(
    dto: Dto, fmt: Format, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    content = to_xml(dto) if fmt is Format.XML else dto.model_dump_json(by_alias=True)
    return Response(
        content.encode("utf-8"),
        status_code=status_code,
        headers=dict(headers or {}),
        media_type=f"{fmt.media_type}; charset=utf-8",
    )
