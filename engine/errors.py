"""The engine's whole error tree, split by whose fault a failure is.

EngineError
├── RequestError           an API client's bad input (names the field); becomes a 4xx
│   ├── ValidationFailed       one or more fields are wrong (engine.sessions)
│   ├── IdempotencyKeyReused   the key made a session for another request (engine.sessions)
│   ├── XmlBodyError           the XML body cannot be read (engine.api.xmlwire)
│   └── ApiError               refused by the HTTP layer, with its own 4xx (engine.api.errors)
├── FlowError              a flow author's mistake (names file:line:column where known)
│   ├── InvalidFlow            a flow file that does not load (engine.flow.loader)
│   └── FlowRuntimeError       found while running (a loop that never waits, a bad value)
├── ConfigError            the operator's configuration is wrong (names the file and field)
├── CallError              the far end, the network or the media failed a call (SIP code)
│   └── CommandError           a worker command cannot be carried out: mostly PJSIP's or the
│                              far end's refusal, also a shutting-down worker or a command
│                              naming what the worker does not have (engine.worker.pjerrors)
├── EngineUnavailable      the engine itself cannot do it now
│   ├── QueueFull              the trunk's queue is full: 503 with Retry-After
│   │   └── Overloaded             the controller is too far behind to take more
│   └── NoWorkerAvailable      no SIP worker could be started
├── InternalError          the engine broke its own rules (a bug): logged, never a client's
│   ├── CallProtocolError      an input that makes no sense in a call's phase
│   │                          (engine.controller.call.phase)
│   └── UndecodableMessage     an IPC line that is no message (engine.ipc.codec)
└── ToolError              a developer tool (SIPp helpers, load test) could not do its job
    ├── SippError              SIPp could not start or run a scenario (engine.tools.sipp.runner)
    ├── ServiceStartError      mosquitto or `voice-engine serve` did not start
    │                          (engine.tools.childproc)
    └── HttpClientError        the load test's request got no complete answer
                               (engine.tools.loadtest.http_client)

Every exception the engine raises on purpose derives from EngineError; the HTTP API maps them to
ServiceStack errors at its boundary (engine/api/errors.py, `answer_for`), the command line prints
them. tests/test_errors.py checks that every exception class under engine/ is in this tree, but
for a short allow-list of private control-flow exceptions.
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


class InternalError(EngineError):
    """The engine broke its own rules, a bug in it or in a process it talks to: logged with
    what it concerns, never shown to a client as anything but an internal error."""


class ToolError(EngineError):
    """A developer tool (SIPp helpers, load test) could not do its job: a program it drives or a
    server it talks to failed. Never raised by the engine a server runs."""
