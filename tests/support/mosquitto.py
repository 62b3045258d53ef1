"""Tests use the engine's own local broker runner."""

from engine.tools.broker import MosquittoBroker

__all__ = ["MosquittoBroker"]
