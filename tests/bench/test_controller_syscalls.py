from __future__ import annotations

from bench.controller_syscalls import parse_strace_summary

SUMMARY = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ------------------
 64.86    2.786973       17528       159        37 futex
  5.94    0.255161          12     20562           pwrite64
  4.04    0.173623          14     11797       431 newfstatat
  0.00    0.000000           0         1           exit_group
------ ----------- ----------- --------- --------- ------------------
100.00    4.296963           8    535081      4420 total
"""


def test_the_table_gives_calls_and_errors_by_system_call_without_the_total() -> None:
    table = parse_strace_summary(SUMMARY)

    assert table == {
        "futex": {"calls": 159, "errors": 37},
        "pwrite64": {"calls": 20562, "errors": 0},
        "newfstatat": {"calls": 11797, "errors": 431},
        "exit_group": {"calls": 1, "errors": 0},
    }


def test_lines_that_are_no_rows_are_left_out() -> None:
    assert parse_strace_summary("strace: Process 8378 attached with 2 threads\n\n") == {}
