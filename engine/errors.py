"""The engine's whole error tree, split by whose fault a failure is.

EngineError
├── RequestError           an API client's bad input (names the field); becomes a 4xx
├── FlowError              a flow author's mistake (names file:line:column where known)
│   └── FlowRuntimeError       found while running (a loop that never waits, a bad value)
├── ConfigError            the operator's configuration is wrong (names the file and field)
├── CallError              the far end, the network or the media failed a call (SIP code)
└── EngineUnavailable      the engine itself cannot do it now
    ├── QueueFull              the trunk's queue is full: 503 with Retry-After
    │   └── Overloaded             the controller is too far behind to take more
    └── NoWorkerAvailable      no SIP worker could be started

Every exception the engine raises on purpose derives from EngineError; the HTTP API maps them to
ServiceStack errors at its boundary (engine/api/errors.py), the command line prints them.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""


class RequestError(EngineError):
    """A client's request is invalid; `field` names the offending field."""

    def __init__(self, message: str, field: str | None = None, code: str = "ValidationError"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


class FlowError(EngineError):
    """A flow file is invalid. `location` is 'file:line:column' when known."""

    def __init__(self, message: str, location: str | None = None) -> None:
        super().__init__(f"{location}: {message}" if location else message)
        self.message = message
        self.location = location


class FlowRuntimeError(FlowError):
    """A flow failed while running, through the author's fault."""


class ConfigError(EngineError):
    """The configuration is invalid."""


class CallError(EngineError):
    """A call failed through the far end, the network or the media."""

    def __init__(self, reason: str, sip_code: int | None = None) -> None:
        super().__init__(f"{sip_code} {reason}" if sip_code else reason)
        self.reason = reason
        self.sip_code = sip_code


class EngineUnavailable(EngineError):
    """The engine cannot do what was asked now (capacity, shutting down, a worker missing)."""


class QueueFull(EngineUnavailable):
    """The trunk's queue of waiting calls is full, or the engine is shutting down."""

    error_code = "QueueFull"

    def __init__(self, retry_after_seconds: int, message: str = "the call queue is full") -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class Overloaded(QueueFull):
    """The controller is too far behind to take another call now."""

    error_code = "Overloaded"


class NoWorkerAvailable(EngineUnavailable):
    """A SIP worker could not be started or reserved (the message says why)."""
