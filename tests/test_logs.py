from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from engine.config import LoggingConfig
from engine.logs import Redactor, bind_session, setup_logging


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    yield io.StringIO()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "voice-engine"]:
        root.removeHandler(handler)


def test_text_lines_carry_the_session_id(output: io.StringIO) -> None:
    setup_logging(LoggingConfig(format="text", level="INFO"), stream=output)
    log = logging.getLogger("engine.x")
    log.info("no session yet")
    with bind_session("abc"):
        log.info("INVITE sent to %s", "+15550100")
    log.info("explicit", extra={"session_id": "def"})
    log.debug("below the level")
    lines = output.getvalue().splitlines()
    assert len(lines) == 3
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO engine\.x no session yet",
                        lines[0])  # fmt: skip
    assert lines[1].endswith("INFO engine.x [session=abc] INVITE sent to +15550100")
    assert "[session=def] explicit" in lines[2]


def test_secrets_are_masked(output: io.StringIO) -> None:
    setup_logging(LoggingConfig(), secrets=["s3cr3t-trunk-pw"], stream=output)
    log = logging.getLogger("engine.y")
    log.info("registering with password %s", "s3cr3t-trunk-pw")
    log.info("key ve_AbCdEf123456_xyz used")
    log.info('REGISTER\r\nAuthorization: Digest username="u", response="abc"\r\nVia: x')
    log.info("config {'password': 'hunter22'}")
    try:
        raise RuntimeError("failed with s3cr3t-trunk-pw")
    except RuntimeError:
        log.exception("boom")
    text = output.getvalue()
    for secret in ["s3cr3t-trunk-pw", "ve_AbCdEf123456_xyz", "response=", "hunter22"]:
        assert secret not in text
    assert "Authorization: ***" in text
    assert "ve_***" in text
    assert "Via: x" in text


def test_json_format_is_one_object_per_line(output: io.StringIO) -> None:
    setup_logging(LoggingConfig(format="json", level="DEBUG"), secrets=["pw1234"], stream=output)
    log = logging.getLogger("engine.z")
    with bind_session("s-9"):
        log.debug("line one\nline two pw1234")
        try:
            raise ValueError("bad")
        except ValueError:
            log.exception("failed")
    lines = output.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["session_id"] == "s-9"
    assert first["level"] == "DEBUG"
    assert first["logger"] == "engine.z"
    assert first["message"] == "line one\nline two ***"
    assert first["timestamp"].endswith("Z")
    assert "ValueError: bad" in second["exception"]


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        (
            "call.answered post_dial_delay_seconds=0.01",
            "call.answered post_dial_delay_seconds=0.01",
        ),
        ("PASSWD=abc123 next", "PASSWD=*** next"),
        ("Proxy-AUTHORIZATION: Digest x\r\nVia: y", "Proxy-AUTHORIZATION: ***\r\nVia: y"),
        ('{"Secret": "t0ps"}', '{"Secret": "***"}'),
        ("key ve_AbCdEf123456 used", "key ve_*** used"),
        ("trunk pw is tr-unk-pw", "trunk pw is ***"),
        # IGNORECASE matches these four non-ASCII letters too: the patterns still run on them.
        ("pa\u017f\u017fword=hunter2", "pa\u017f\u017fword=***"),
        ("author\u0131zation: Basic x", "author\u0131zation: ***"),
        ("caf\u00e9 opened", "caf\u00e9 opened"),
    ],
)
def test_a_line_is_masked_exactly_where_a_pattern_matches(line: str, masked: str) -> None:
    assert Redactor(["tr-unk-pw"])(line) == masked
