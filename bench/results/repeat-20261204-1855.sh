#!/usr/bin/env bash
# (Committed as repeat-20261204-1907.sh, started at 18:55.) The rate on the eighteenth VM once more, engine and bare pjsua2 alternating first, twice, near both ceilings found by goals-20261204-1815.sh.
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py rate --rates 104 112 120 128 --seconds 60 --repeat 2 | tail -1
