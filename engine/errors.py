"""The engine's whole error tree, split by whose fault a failure is.

EngineError
├── ConfigError        the operator's configuration file is wrong (names file and field)
├── FlowError          a flow author's mistake (names file:line:column where known)
│   └── FlowRuntimeError   found while running (a loop that never waits, a bad template value)
├── RequestError       an API client's bad input (names the field); becomes a 4xx
└── CallError          a peer, media or worker failure during a call (SIP code and reason)
    └── WorkerLost     the worker process holding the call died
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""


class ConfigError(EngineError):
    """The configuration is invalid."""


class FlowError(EngineError):
    """A flow file is invalid. `location` is 'file:line:column' when known."""

    def __init__(self, message: str, location: str | None = None) -> None:
        super().__init__(f"{location}: {message}" if location else message)
        self.message = message
        self.location = location


class FlowRuntimeError(FlowError):
    """A flow failed while running, through the author's fault."""


class RequestError(EngineError):
    """A client's request is invalid; `field` names the offending field."""

    def __init__(self, message: str, field: str | None = None, code: str = "ValidationError"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


class CallError(EngineError):
    """A call failed through a peer, media or worker failure."""

    def __init__(self, reason: str, sip_code: int | None = None) -> None:
        super().__init__(f"{sip_code} {reason}" if sip_code else reason)
        self.reason = reason
        self.sip_code = sip_code


class WorkerLost(CallError):
    """The worker process that held the call is gone."""

    def __init__(self) -> None:
        super().__init__("worker lost")
