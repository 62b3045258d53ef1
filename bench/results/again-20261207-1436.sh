#!/usr/bin/env bash
# Twenty-first VM, 2026-12-07: the engine sustained 112/s once and refused at 120/s. The engine
# alone at 112 and 116/s, twice each, alternating, to see whether 112 holds and where between
# 112 and 120 it stops; at the commit of this script, nothing else running.
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py rate --no-refs --rates 112 116 --repeat 2 --seconds 60 | tail -1
