"""LoopLag: how far behind the event loop is, read even in the middle of a long pass."""

from __future__ import annotations

import asyncio
import time

from engine.clock import SystemClock
from engine.controller.lag import TICK_SECONDS, WINDOW_SECONDS, LoopLag
from tests.support.engine import wait_until


async def test_a_loop_held_up_reads_as_behind_for_a_while_after() -> None:
    lag = LoopLag(SystemClock())
    lag.start()
    try:
        await asyncio.sleep(TICK_SECONDS * 2)
        assert lag.behind_seconds() < 0.05

        time.sleep(0.4)  # the loop's pass takes 0.4 s: nothing else runs meanwhile

        assert lag.behind_seconds() >= 0.25  # read in that very pass
        await asyncio.sleep(TICK_SECONDS * 2)  # the tick has run since
        assert lag.behind_seconds() >= 0.25
        await wait_until(
            lambda: lag.behind_seconds() < 0.05, WINDOW_SECONDS + 2, "the stall to age out"
        )
    finally:
        await lag.stop()
