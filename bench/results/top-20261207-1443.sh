#!/usr/bin/env bash
# Twenty-first VM, 2026-12-07: the engine sustained 116/s twice and refused 301 calls at 120/s
# once. The engine alone at 120 and 124/s, twice, alternating, for its ceiling; at the commit of
# this script, nothing else running.
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py rate --no-refs --rates 120 124 --repeat 2 --seconds 60 | tail -1
