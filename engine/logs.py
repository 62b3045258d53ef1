"""Logging: one line per record, the session id on every line that has one, secrets masked.

Text format:  2026-11-26T22:00:00.123Z INFO engine.dialer [session=abc] INVITE sent
JSON format:  {"timestamp": "...", "level": "INFO", "logger": "engine.dialer",
               "session_id": "abc", "message": "INVITE sent"}

The session id comes from the `session_id` context variable (set it with `bind_session` around
the code that works for one session; asyncio tasks inherit it) or from `extra={"session_id": …}`.
Redaction runs on the handler, so it covers every logger, including libraries', and tracebacks.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

from engine.config import EngineConfig, LoggingConfig

session_id: ContextVar[str | None] = ContextVar("session_id", default=None)
"""The session the current code works for, added to every log line."""

MASK = "***"

_API_KEY = re.compile(r"\bve_[A-Za-z0-9_\-]{6,}")
_AUTHORIZATION = re.compile(r"((?:Proxy-)?Authorization\s*:\s*)[^\r\n]*", re.IGNORECASE)
_PASSWORD_FIELD = re.compile(
    r"""(["']?(?:password|passwd|secret)["']?\s*[:=]\s*["']?)[^\s"',;&}]+""", re.IGNORECASE
)


@contextmanager
def bind_session(value: str | None) -> Iterator[None]:
    """Tag every log line written inside the block with this session id."""
    token = session_id.set(value)
    try:
        yield
    finally:
        session_id.reset(token)


class SessionFilter(logging.Filter):
    """Gives every record a `session_id` attribute (None when unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "session_id", None) is None:
            record.session_id = session_id.get()
        return True


_MARKERS = ("authorization", "passw", "secret")
"""What `_AUTHORIZATION` and `_PASSWORD_FIELD` cannot match without, in lower case (`_API_KEY`
needs "ve_")."""


class Redactor:
    """Masks configured secrets, API keys, Authorization header values and password fields."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._literal = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._secrets = (
            re.compile("|".join(map(re.escape, self._literal))) if self._literal else None
        )

    def __call__(self, text: str) -> str:
        # Most lines hold nothing to mask: the four patterns only run on those that might.
        if not self._may_hold_a_secret(text):
            return text
        if self._secrets is not None:
            text = self._secrets.sub(MASK, text)
        text = _AUTHORIZATION.sub(rf"\g<1>{MASK}", text)
        text = _PASSWORD_FIELD.sub(rf"\g<1>{MASK}", text)
        return _API_KEY.sub(f"ve_{MASK}", text)

    def _may_hold_a_secret(self, text: str) -> bool:
        # Not ASCII: with IGNORECASE the patterns also match four other letters (U+017F long s,
        # U+212A Kelvin sign, U+0131 dotless i, U+0130 dotted capital I).
        if not text.isascii() or "ve_" in text:
            return True
        if any(secret in text for secret in self._literal):
            return True
        lowered = text.lower()
        return any(marker in lowered for marker in _MARKERS)


class RedactionFilter(logging.Filter):
    """Rewrites each record's message (and traceback text) with secrets masked."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        session = getattr(record, "session_id", None)
        tag = f" [session={session}]" if session else ""
        line = f"{_timestamp(record)} {record.levelname} {record.name}{tag} {record.getMessage()}"
        extra = self._exception_text(record)
        return f"{line}\n{extra}" if extra else line

    def _exception_text(self, record: logging.LogRecord) -> str:
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        parts = [p for p in (record.exc_text, record.stack_info) if p]
        return "\n".join(parts)


class JsonFormatter(TextFormatter):
    """One JSON object per line; a traceback goes into "exception", newlines escaped."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "timestamp": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        session = getattr(record, "session_id", None)
        if session:
            entry["session_id"] = session
        extra = self._exception_text(record)
        if extra:
            entry["exception"] = extra
        return json.dumps(entry, ensure_ascii=False)


def secrets_of(config: EngineConfig) -> list[str]:
    """The configured secrets to mask wherever they appear: trunk and MQTT passwords."""
    found = [t.password.get_secret_value() for t in config.trunks if t.password]
    if config.mqtt.password:
        found.append(config.mqtt.password.get_secret_value())
    return found


_HANDLER_NAME = "voice-engine"


def setup_logging(
    config: LoggingConfig, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> logging.Handler:
    """Install the engine's handler on the root logger (replacing one installed before)."""
    # Neither format shows the caller's file and line, the thread or the process: the logging
    # HOWTO's "Optimization" switches stop each record from looking them up.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if config.format == "json" else TextFormatter())
    handler.addFilter(SessionFilter())
    handler.addFilter(RedactionFilter(Redactor(secrets)))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.level.upper())
    return handler
