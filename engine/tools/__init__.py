"""Tools around the engine, not the engine a server runs: the demo, the load-test harness, SIPp
helpers, a private mosquitto, and process wrappers for tests and benchmarks.

`voice-engine serve` never imports this package (an import contract checks it); its extra
dependencies (rich, matplotlib) come with `pip install 'voice-engine[tools]'`.
"""
