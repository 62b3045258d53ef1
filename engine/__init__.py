"""voice-engine: a self-hosted, SIP-level telephony engine."""

__version__ = "0.1.0"
