#!/usr/bin/env bash
# Twenty-first VM, 2026-12-07: the engine sustained 120/s twice and 124/s once; bare pjsua2
# sustained 144/s and failed 152/s on the far end's drops. The two side by side in one run, with
# SIPp as the caller, from 128/s up, at the commit of this script, nothing else running.
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py rate --rates 128 136 144 152 --seconds 60 | tail -1
