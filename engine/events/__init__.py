"""Events: what happened to each session, stored in an outbox and published to MQTT.

`EventBus` is the entry point; see docs/events.md for topics, payloads and guarantees.
"""

from engine.events.bus import EventBus
from engine.events.model import Event, EventKind

__all__ = ["Event", "EventBus", "EventKind"]
