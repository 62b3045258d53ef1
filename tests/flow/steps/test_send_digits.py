from pathlib import Path

import pytest

from engine.flow import commands as c
from engine.flow.events import DigitsSent
from engine.flow.loader import InvalidFlow
from tests.flow.helpers import first, one_step, results, start


def test_send_digits(tmp_path: Path) -> None:
    run, out = start(one_step(tmp_path, type="send_digits", digits="12{{ '#' }}"))
    sent = first(out, c.SendDigits)
    assert sent.digits == "12#"
    assert results(run.handle(DigitsSent(sent.request_id, ok=True), 1.0)) == [("only", "ok")]


def test_digits_that_could_not_be_sent_fail_the_step(tmp_path: Path) -> None:
    run, out = start(one_step(tmp_path, type="send_digits", digits="5"))
    sent = first(out, c.SendDigits)
    assert results(run.handle(DigitsSent(sent.request_id, ok=False), 1.0)) == [("only", "failed")]


def test_an_answer_to_another_request_is_not_this_steps(tmp_path: Path) -> None:
    run, out = start(one_step(tmp_path, type="send_digits", digits="5"))
    sent = first(out, c.SendDigits)
    assert run.handle(DigitsSent(sent.request_id + "-other"), 1.0) == []


def test_send_digits_rejects_other_characters(tmp_path: Path) -> None:
    with pytest.raises(InvalidFlow, match="only 0-9"):
        one_step(tmp_path, type="send_digits", digits="12x")


def test_rendered_bad_digits_are_a_runtime_error(tmp_path: Path) -> None:
    _, out = start(one_step(tmp_path, type="send_digits", digits="{{ 'x' }}"))
    assert first(out, c.FlowFinished).result == "error"
