"""Tests use the engine's own local broker runner."""

from engine.events.local_broker import MosquittoBroker

__all__ = ["MosquittoBroker"]
