"""The flow language: loader, validator and a sans-IO interpreter.

Nothing in this package imports asyncio, pjsua2, aiomqtt, prometheus_client or does I/O on a
call: `FlowRun.handle(event, now)` takes an event and returns commands.
"""
