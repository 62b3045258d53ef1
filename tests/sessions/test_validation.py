"""validate_outgoing and normalise_e164."""

from __future__ import annotations

import random

import pytest

from engine.config import OwnedNumber
from engine.sessions.validation import (
    OutgoingRequest,
    ValidationFailed,
    normalise_e164,
    validate_outgoing,
)

NUMBERS = [
    OwnedNumber(number="+12025550143", trunk="a"),
    OwnedNumber(number="+12025550144", trunk="a"),
    OwnedNumber(number="+18144043093", trunk="b"),
]


def _validate(
    flow_id: str | None = "hello",
    number: str | None = "+18144043093",
    caller_id: str | None = None,
    *,
    usable: frozenset[str] = frozenset({"a", "b"}),
    rng: random.Random | None = None,
) -> OutgoingRequest:
    return validate_outgoing(
        flow_id,
        number,
        caller_id,
        flow_ids={"hello"},
        numbers=NUMBERS,
        usable_trunks=usable,
        rng=rng,
    )


def _fields(exc: ValidationFailed) -> dict[str, str]:
    return {e.field_name: e.error_code for e in exc.errors}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+12025550143", "+12025550143"),
        ("+18144043093", "+18144043093"),
        ("+1 814 404 3093", "+18144043093"),
        ("+1-814-404-3093", "+18144043093"),
        ("+1 (814) 404.3093", "+18144043093"),
        ("+15551234567", None),
        ("+1555", None),
        ("18144043093", None),
        ("8144043093", None),
        ("", None),
        ("+1814404309a", None),
        ("++18144043093", None),
    ],
)
def test_normalise_e164(raw: str, expected: str | None) -> None:
    assert normalise_e164(raw) == expected


def test_a_valid_request() -> None:
    request = _validate(caller_id="+1 202 555 0144")

    assert request == OutgoingRequest("hello", "+18144043093", "+12025550144", "a")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"flow_id": None}, {"FlowId": "NotEmpty"}),
        ({"flow_id": "  "}, {"FlowId": "NotEmpty"}),
        ({"flow_id": "other"}, {"FlowId": "NotFound"}),
        ({"number": None}, {"NumberToDial": "NotEmpty"}),
        ({"number": "+15551234567"}, {"NumberToDial": "InvalidPhoneNumber"}),
        ({"number": "8144043093"}, {"NumberToDial": "InvalidPhoneNumber"}),
        ({"caller_id": "+12025550199"}, {"CallerId": "NotOwned"}),
        ({"caller_id": "nonsense"}, {"CallerId": "InvalidPhoneNumber"}),
        (
            {"flow_id": "", "number": "", "caller_id": "+1555"},
            {"FlowId": "NotEmpty", "NumberToDial": "NotEmpty", "CallerId": "InvalidPhoneNumber"},
        ),
    ],
)
def test_each_invalid_field_is_named(
    kwargs: dict[str, str | None], expected: dict[str, str]
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        _validate(**kwargs)  # type: ignore[arg-type]

    assert _fields(raised.value) == expected


def test_an_owned_number_on_an_unusable_trunk_is_not_owned() -> None:
    with pytest.raises(ValidationFailed) as raised:
        _validate(caller_id="+18144043093", usable=frozenset({"a"}))

    assert _fields(raised.value) == {"CallerId": "NotOwned"}


def test_no_usable_number_at_all() -> None:
    with pytest.raises(ValidationFailed) as raised:
        _validate(usable=frozenset())

    assert _fields(raised.value) == {"CallerId": "NoCallerId"}


def test_caller_id_is_chosen_at_random_among_usable_numbers() -> None:
    rng = random.Random(1)
    expected = random.Random(1)
    usable = [n for n in NUMBERS if n.trunk == "a"]

    chosen = [_validate(usable=frozenset({"a"}), rng=rng) for _ in range(20)]

    callers = [c.caller_id for c in chosen]
    assert callers == [expected.choice(usable).number for _ in range(20)]
    assert set(callers) == {"+12025550143", "+12025550144"}
