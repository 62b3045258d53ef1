from __future__ import annotations

from bench.perf_summary import Tally

LINES = [
    "           media 20471/20657      7f0cb1417946 worker_proc (/venv/site-packages/pjsua2/"
    "_pjsua2.cpython-311-x86_64-linux-gnu.so)",
    "          python 20401/20401      7fe8210aee03 sem_trywait@@GLIBC_2.34 "
    "(/usr/lib/x86_64-linux-gnu/libc.so.6)",
    "          python 20401/20401      7fe8210aee03 _PyEval_EvalFrameDefault "
    "(/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0)",
    "         swapper     0/0      ffffffff821f4dab pv_native_safe_halt ([kernel.kallsyms])",
    "",
    "perf: a line that is no sample",
]


def test_samples_are_counted_by_thread_process_library_and_function() -> None:
    tally = Tally(["20401"])
    for line in LINES:
        tally.add(line)

    assert tally.total == 4
    assert tally.by_comm == {"media": 1, "python": 2, "swapper": 1}
    assert tally.by_process["20401 (python)"] == 2
    assert tally.by_library == {"libc.so.6": 1, "libpython3.11.so.1.0": 1}
    assert tally.by_function["libpython3.11.so.1.0: _PyEval_EvalFrameDefault"] == 1
