"""`voice-engine loadtest`: drive the HTTP API at a target rate against a SIPp callee and report."""
