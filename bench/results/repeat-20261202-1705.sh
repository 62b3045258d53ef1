#!/usr/bin/env bash
# Twelfth VM, eb1ae5c: the engine's edge twice (engine and bare pjsua2 alternating), then bare pjsua2 higher alone.
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py rate --rates 120 128 --repeat 2 --seconds 60 | tail -1
.venv/bin/python bench/load_bench.py rate --rates 168 184 --refs-only --seconds 60 | tail -1
