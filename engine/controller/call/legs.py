"""A call's second legs (the `dial` step): placed on the call's own worker in a slot reserved with
the call, bridged when answered, hung up with the main leg."""

from __future__ import annotations

from dataclasses import dataclass

from engine.controller.call.actions import (
    Action,
    PlaceLeg,
    ReleaseSlots,
    Send,
    StartTimer,
    StopTimer,
    TimerKey,
    TimerKind,
)
from engine.controller.call.spec import CallSpec
from engine.flow import commands as cmd
from engine.flow import events as ev
from engine.ipc import messages as msg


@dataclass
class SecondLeg:
    flow_leg_id: str
    """The flow's name for the leg (DialLeg.leg_id)."""
    answered_at: float | None = None
    """The worker's clock."""


class SecondLegs:
    def __init__(self, spec: CallSpec, spare_slots: int) -> None:
        self._spec = spec
        self._spare_slots = spare_slots
        """Slots reserved with the call and not dialled yet."""
        self._legs: dict[str, SecondLeg] = {}
        """By the leg's call id."""

    def __bool__(self) -> bool:
        return bool(self._legs)

    def __contains__(self, leg_id: str) -> bool:
        return leg_id in self._legs

    def call_id(self, flow_leg_id: str) -> str:
        return f"{self._spec.session_id}.{flow_leg_id}"

    def dial(
        self, command: cmd.DialLeg, media_allowed: bool, now: float, out: list[Action]
    ) -> ev.DialFinished | None:
        """Place the leg; the DialFinished to give the flow when it cannot be placed."""
        target = self._spec.target_uri(command.target)
        if target is None:
            return ev.DialFinished(command.leg_id, False, 0, "not a number or SIP URI")
        if not media_allowed or not self._spare_slots:
            return ev.DialFinished(command.leg_id, False, 0, "no free slot for a second leg")
        self._spare_slots -= 1
        leg_id = self.call_id(command.leg_id)
        self._legs[leg_id] = SecondLeg(command.leg_id)
        caller = command.caller_id or self._spec.caller_id
        out.append(f"dialling second leg {target}")
        out.append(PlaceLeg(self._spec.make_call(leg_id, target, caller, command.trunk)))
        key = TimerKey(TimerKind.LEG_RING, leg_id)
        out.append(StartTimer(key, now + command.ring_timeout_seconds))
        return None

    def answered(
        self, leg_id: str, message: msg.CallAnswered, out: list[Action]
    ) -> ev.DialAnswered:
        leg = self._legs[leg_id]
        out.append(StopTimer(TimerKey(TimerKind.LEG_RING, leg_id)))
        leg.answered_at = message.answered_at
        out.append("second leg answered: bridging")
        out.append(Send(msg.Bridge(call_id=self._spec.main_leg, other_call_id=leg_id)))
        return ev.DialAnswered(leg.flow_leg_id)

    def ended(
        self, leg_id: str, message: msg.CallEnded, now: float, out: list[Action]
    ) -> ev.DialFinished:
        leg = self._legs.pop(leg_id)
        out.append(StopTimer(TimerKey(TimerKind.LEG_RING, leg_id)))
        ended_at = message.ended_at or now
        duration = ended_at - leg.answered_at if leg.answered_at else 0.0
        out.append(f"second leg ended: {message.sip_code} {message.reason}")
        return ev.DialFinished(
            leg.flow_leg_id, message.answered, message.sip_code, message.reason, duration
        )

    def ring_timeout(self, leg_id: str, out: list[Action]) -> None:
        if leg_id in self._legs:
            out.append(Send(msg.Hangup(call_id=leg_id, sip_code=487)))

    def hang_up(self, command: cmd.HangupLeg, out: list[Action]) -> None:
        out.append(Send(msg.Hangup(call_id=self.call_id(command.leg_id))))

    def hang_up_all(self, out: list[Action]) -> None:
        for leg_id in self._legs:
            out.append(Send(msg.Hangup(call_id=leg_id)))

    def lost(self, out: list[Action]) -> None:
        """The worker died with the legs: they are gone without a CallEnded."""
        for leg_id in self._legs:
            out.append(StopTimer(TimerKey(TimerKind.LEG_RING, leg_id)))
        self._legs.clear()

    def release_unused(self, out: list[Action]) -> None:
        if self._spare_slots:
            out.append(ReleaseSlots(self._spare_slots))
            self._spare_slots = 0
