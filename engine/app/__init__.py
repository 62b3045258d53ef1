"""Wiring: what `voice-engine serve` puts together (the only package that imports every layer)."""
