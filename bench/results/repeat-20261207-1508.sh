#!/usr/bin/env bash
# Twenty-first VM, 2026-12-07: side by side at 128-152/s the engine sustained 128/s and bare
# pjsua2 136/s, its 144/s row failing on one process's PJSIP abort (it sustained 144/s alone
# earlier). The same comparison twice more at 128, 136 and 144/s, alternating which side goes
# first, at the commit of this script, nothing else running.
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py rate --rates 128 136 144 --repeat 2 --seconds 60 | tail -1
