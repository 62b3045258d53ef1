"""The worker's failures: pj.Error and CommandError become the same Failure."""

from __future__ import annotations

import pjsua2 as pj

from engine.errors import CallError, EngineError
from engine.worker.pjerrors import PJ_ETOOMANY, CommandError, Failure, failure_of


def test_a_refused_command_is_a_call_error_of_the_engine_tree() -> None:
    refused = CommandError("no call c1")
    assert isinstance(refused, CallError) and isinstance(refused, EngineError)
    assert (refused.reason, refused.sip_code) == ("no call c1", 500)
    assert failure_of(refused) == Failure("no call c1", 500)
    assert failure_of(CommandError("worker is shutting down", 503)).sip_code == 503


def test_pjsip_out_of_objects_is_503_and_names_the_call_that_failed() -> None:
    failure = failure_of(pj.Error(PJ_ETOOMANY, "makeCall", " Too many objects ", "", 0))
    assert failure == Failure("makeCall: Too many objects (status 70010)", 503)


def test_any_other_pjsip_error_is_500() -> None:
    failure = failure_of(pj.Error(171039, "", "Invalid URI", "", 0))
    assert failure == Failure("pjsua2: Invalid URI (status 171039)", 500)
