"""What a call core knows of its session and trunk, fixed when the session is created."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.config import TrunkConfig
from engine.ipc import messages as msg
from engine.sessions.validation import normalise_e164


@dataclass(frozen=True)
class CallSpec:
    session_id: str
    flow_id: str
    destination: str
    """The E.164 number dialled."""
    caller_id: str
    """The E.164 caller ID (the session's from address)."""
    trunk: TrunkConfig
    legs_needed: int
    """Worker slots reserved for the call: 1, or 2 when the flow may dial a second leg."""
    recordings_dir: Path
    created_at: float
    """When the session was created, on the clock of `now`."""
    requested_at: float
    """When its HTTP request arrived, on the clock of `now`."""

    main_leg: str = field(init=False)
    """The main leg's call id."""
    request_uri: str = field(init=False)
    """The main leg's Request-URI."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "main_leg", f"{self.session_id}.a")
        object.__setattr__(self, "request_uri", self.trunk.request_uri(self.destination))

    def target_uri(self, target: str) -> str | None:
        """A flow's transfer or dial target as a Request-URI: a SIP URI as it is, an E.164
        number through the call's trunk; None when it is neither."""
        if target.startswith(("sip:", "sips:")):
            return target
        number = normalise_e164(target)
        return self.trunk.request_uri(number) if number else None

    def make_call(
        self,
        leg_id: str,
        request_uri: str,
        caller: str,
        trunk_name: str | None = None,
        answer_prompt: msg.AnswerPrompt | None = None,
    ) -> msg.MakeCall:
        # The From host is the trunk's host: providers that check it stay happy.
        return msg.MakeCall(
            call_id=leg_id,
            session_id=self.session_id,
            request_uri=request_uri,
            from_uri=f"sip:{caller}@{self.trunk.host}",
            headers=self.trunk.headers,
            trunk=trunk_name or self.trunk.name,
            answer_prompt=answer_prompt,
        )

    def recording_path(self, name: str) -> Path:
        """Where a flow's recording `name` is written: the session's own folder."""
        base = Path(name).name
        return (
            self.recordings_dir
            / self.session_id
            / (base if base.endswith(".wav") else f"{base}.wav")
        )
