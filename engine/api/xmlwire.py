"""XML as .NET's DataContractSerializer writes and reads it, for the DTOs in `engine.api.dto`.

Members are PascalCase elements, alphabetical unless the type keeps its declared order; a null is
`<X i:nil="true"/>`; a list is an element holding one element per item, named by the item's type.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import Enum
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from defusedxml import ElementTree as SafeElementTree
from pydantic import BaseModel

from engine.api.dto import Dto
from engine.errors import RequestError
from engine.sessions.model import iso_utc

XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
_XSI_NIL = f"{{{XSI_NAMESPACE}}}nil"
# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class XmlBodyError(RequestError):
    """The XML body is not one we accept; the message says why. Answered 400 InvalidXml."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="InvalidXml")


def pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def to_xml(dto: Dto) -> str:
    name = _element_name(dto)
    body = "".join(_members(dto))
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<{name} xmlns:i="{XSI_NAMESPACE}" xmlns="{dto.xml_namespace}">{body}</{name}>'
    )


def _element_name(dto: BaseModel) -> str:
    return str(getattr(dto, "xml_name", type(dto).__name__))


def _members(dto: BaseModel) -> list[str]:
    names = [(pascal(field), field) for field in type(dto).model_fields]
    if getattr(dto, "xml_sorted", True):
        names.sort()
    return [_element(tag, getattr(dto, field)) for tag, field in names]


def _element(tag: str, value: object) -> str:
    if value is None:
        return f'<{tag} i:nil="true"/>'
    if isinstance(value, BaseModel):
        return f"<{tag}>{''.join(_members(value))}</{tag}>"
    if isinstance(value, list):
        items = "".join(_item(item) for item in value)
        return f"<{tag}>{items}</{tag}>"
    return f"<{tag}>{_text(value)}</{tag}>"


def _item(item: object) -> str:
    if isinstance(item, BaseModel):
        return _element(_element_name(item), item)
    return _element("string", item)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, Enum):
        value = value.value
    return escape(_NOT_XML.sub("", str(value)))


def parse_request(body: bytes, operation: str, namespace: str) -> dict[str, str | None]:
    """The members of an `<operation>` request element; DTDs and entities are refused."""
    try:
        root: Element = SafeElementTree.fromstring(
            body, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except Exception as exc:  # defusedxml's refusals, ParseError and decoding errors alike
        raise XmlBodyError(f"the XML body is not acceptable: {type(exc).__name__}") from exc
    ns, local = _split(root.tag)
    if local != operation:
        raise XmlBodyError(f"expected a <{operation}> element, got <{local}>")
    if ns not in ("", namespace):
        raise XmlBodyError(f"<{operation}> must be in the namespace {namespace}")
    members: dict[str, str | None] = {}
    for child in root:
        _, name = _split(child.tag)
        if len(child):
            raise XmlBodyError(f"<{name}> must hold text, not elements")
        nil = child.get(_XSI_NIL, "").strip() == "true"
        members[name] = None if nil else (child.text or "")
    return members


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag
