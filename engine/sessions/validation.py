"""Validation of a NewOutgoingSession request (pure: no I/O)."""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Container, Sequence
from dataclasses import dataclass

import phonenumbers

from engine.config import OwnedNumber
from engine.errors import RequestError

_SEPARATORS = re.compile(r"[\s\-().]")
_E164_SHAPE = re.compile(r"\+[1-9]\d{1,14}")
_SYSTEM_RANDOM = random.SystemRandom()


@dataclass(frozen=True)
class FieldError:
    """One field a request got wrong: data (an entry of ValidationFailed and of the answer's
    ResponseStatus.Errors), not an exception."""

    field_name: str
    """PascalCase, as in the ServiceStack DTO: FlowId, NumberToDial, CallerId."""
    message: str
    """What is wrong with the field, for a person."""
    error_code: str = "Invalid"
    """ServiceStack's ErrorCode for the field: NotEmpty, NotFound, InvalidPhoneNumber..."""


class ValidationFailed(RequestError):
    """A request names one or more fields wrongly; the first one is the error's message, field
    and code (as ServiceStack answers), `errors` holds them all."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        if not errors:
            raise ValueError("ValidationFailed needs at least one FieldError")
        first = errors[0]
        super().__init__(first.message, field=first.field_name, code=first.error_code)
        self.errors = list(errors)

    def __str__(self) -> str:
        return "; ".join(f"{e.field_name}: {e.message}" for e in self.errors)


@dataclass(frozen=True)
class OutgoingRequest:
    flow_id: str
    number_to_dial: str
    """Normalised E.164."""
    caller_id: str
    """An owned number, E.164."""
    trunk: str


def normalise_e164(raw: str) -> str | None:
    """E.164 form of `raw`, or None. Spaces, dashes, dots and brackets may be dropped;
    the leading + and country code may not."""
    compact = _SEPARATORS.sub("", raw)
    if not _E164_SHAPE.fullmatch(compact):
        return None
    try:
        parsed = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def validate_outgoing(
    flow_id: str | None,
    number_to_dial: str | None,
    caller_id: str | None,
    *,
    flow_ids: Container[str],
    numbers: Sequence[OwnedNumber],
    usable_trunks: Collection[str],
    rng: random.Random | None = None,
) -> OutgoingRequest:
    errors: list[FieldError] = []

    if not flow_id or not flow_id.strip():
        errors.append(FieldError("FlowId", "FlowId is required", "NotEmpty"))
    elif flow_id not in flow_ids:
        errors.append(FieldError("FlowId", f"no valid flow with id {flow_id!r}", "NotFound"))

    destination: str | None = None
    if not number_to_dial or not number_to_dial.strip():
        errors.append(FieldError("NumberToDial", "NumberToDial is required", "NotEmpty"))
    else:
        destination = normalise_e164(number_to_dial)
        if destination is None:
            errors.append(
                FieldError(
                    "NumberToDial",
                    f"{number_to_dial!r} is not a valid E.164 number (e.g. +18144043093)",
                    "InvalidPhoneNumber",
                )
            )

    usable = [n for n in numbers if n.trunk in usable_trunks]
    chosen: OwnedNumber | None = None
    if caller_id is not None and caller_id.strip():
        normalised = normalise_e164(caller_id)
        chosen = next((n for n in usable if n.number == normalised), None)
        if normalised is None:
            errors.append(
                FieldError(
                    "CallerId",
                    f"{caller_id!r} is not a valid E.164 number",
                    "InvalidPhoneNumber",
                )
            )
        elif chosen is None:
            errors.append(
                FieldError("CallerId", f"{normalised} is not an owned phone number", "NotOwned")
            )
    elif not usable:
        errors.append(
            FieldError("CallerId", "no owned phone number is usable on a trunk", "NoCallerId")
        )
    else:
        chosen = (rng or _SYSTEM_RANDOM).choice(usable)

    if errors:
        raise ValidationFailed(errors)
    assert flow_id is not None and destination is not None and chosen is not None
    return OutgoingRequest(flow_id, destination, chosen.number, chosen.trunk)
