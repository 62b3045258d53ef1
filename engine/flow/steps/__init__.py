"""Step types, one a file; adding one means a file, a line in STEP_TYPES and a test file."""

from __future__ import annotations

from engine.flow.steps.base import StepModel
from engine.flow.steps.branch import BranchStep
from engine.flow.steps.dial import DialStep
from engine.flow.steps.gather import GatherStep
from engine.flow.steps.goto import GotoStep
from engine.flow.steps.hangup import HangupStep
from engine.flow.steps.pause import PauseStep
from engine.flow.steps.play import PlayStep
from engine.flow.steps.record import RecordStep
from engine.flow.steps.say import SayStep
from engine.flow.steps.send_digits import SendDigitsStep
from engine.flow.steps.set import SetStep
from engine.flow.steps.subflow import SubflowStep
from engine.flow.steps.transfer import TransferStep
from engine.flow.steps.webhook import WebhookStep

STEP_TYPES: dict[str, type[StepModel]] = {
    "play": PlayStep,
    "say": SayStep,
    "pause": PauseStep,
    "gather": GatherStep,
    "record": RecordStep,
    "set": SetStep,
    "branch": BranchStep,
    "goto": GotoStep,
    "webhook": WebhookStep,
    "transfer": TransferStep,
    "dial": DialStep,
    "send_digits": SendDigitsStep,
    "hangup": HangupStep,
    "subflow": SubflowStep,
}

__all__ = ["STEP_TYPES", "StepModel"]
