from __future__ import annotations

import os
import subprocess
import sys
import time

from engine.tools.loadtest.procstat import cpu_seconds, cpu_ticks


def test_a_process_that_works_gains_user_ticks_and_its_seconds_are_their_sum() -> None:
    before = cpu_ticks(os.getpid())
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    after = cpu_ticks(os.getpid())

    assert before is not None and after is not None
    assert after[0] > before[0]
    seconds = cpu_seconds(os.getpid())
    assert seconds is not None and seconds >= sum(after) / os.sysconf("SC_CLK_TCK")


def test_a_process_that_is_gone_has_no_ticks() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()

    assert cpu_ticks(child.pid) is None
    assert cpu_seconds(child.pid) is None
