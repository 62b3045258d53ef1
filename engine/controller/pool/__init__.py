"""The SIP worker pool: policy.py decides (placement, growing, shrinking, the watchdog) from the
workers' state and `now`; process.py does one worker process's I/O; pool.py carries out the one
with the other; handle.py is the pool's record of a worker."""

from engine.controller.pool.handle import WorkerHandle
from engine.controller.pool.policy import WorkerState
from engine.controller.pool.pool import WorkerPool

__all__ = ["WorkerHandle", "WorkerPool", "WorkerState"]
