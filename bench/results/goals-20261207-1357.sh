#!/usr/bin/env bash
# Twenty-first VM (AMD EPYC), 2026-12-07: the rate with both references, the references alone
# higher up, then the controller alone (its CPU split, its system calls, its profile by origin),
# one after the other at the commit of this script, nothing else running.
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py rate --rates 80 88 96 --seconds 60 | tail -1
.venv/bin/python bench/load_bench.py rate --refs-only --rates 112 128 --seconds 60 | tail -1
.venv/bin/python bench/controller_syscalls.py --rate 100 --seconds 40 --window 15 | tail -1
.venv/bin/python bench/controller_syscalls.py --rate 50 --seconds 40 --window 15 --strace | tail -1
.venv/bin/python bench/controller_profile.py --rate 100 --seconds 30 | tail -1
