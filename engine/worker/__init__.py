"""The SIP worker process: the only package that imports pjsua2.

Run as `python -m engine.worker ...` (see `engine.ipc.worker_options`); it speaks the JSON-lines
protocol of `engine.ipc.messages` over an inherited Unix socket and holds at most a few calls
(pjsua2-python is compiled with PJSUA_MAX_CALLS = 4). Importing this package does not import
pjsua2; `engine.worker.loop` (the process's loop, `WorkerLoop`) does. The decisions it carries
out need no pjsua2: `capacity` (may a MakeCall start, wait or fail) and `media_table` (which
players and recorders run, which hang-ups are due).
"""
