"""One session's call: a sans-IO core (spec.py, phase.py, core.py, actions.py,
answer_prompt.py, legs.py) and the asyncio driver that carries out its actions (driver.py)."""

from engine.controller.call.core import CallCore, CallMessage, FlowRunLike
from engine.controller.call.driver import CallDriver, CallHost
from engine.controller.call.phase import CallPhase, CallProtocolError

__all__ = [
    "CallCore",
    "CallDriver",
    "CallHost",
    "CallMessage",
    "CallPhase",
    "CallProtocolError",
    "FlowRunLike",
]
