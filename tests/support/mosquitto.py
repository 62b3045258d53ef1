"""Tests use the engine's own local broker runner."""

from engine.events.local_broker import MosquittoBroker, free_port

__all__ = ["MosquittoBroker", "free_port"]
