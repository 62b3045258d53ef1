"""Helpers shared by the tests: brokers and other real peers started on loopback."""
