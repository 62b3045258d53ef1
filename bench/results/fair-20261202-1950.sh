#!/usr/bin/env bash
# Thirteenth VM (Intel Xeon; speed probes 9-22 ms, drifting within minutes), 15e9a99: the engine's edge twice,
# engine and bare pjsua2 alternating, then bare pjsua2 higher alone.
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py rate --rates 80 88 96 --repeat 2 --seconds 60 | tail -1
.venv/bin/python bench/load_bench.py rate --rates 136 152 --refs-only --seconds 60 | tail -1
# then (20:14), after both sides sustained 88 and 96/s twice: higher, engine and bare pjsua2 again
.venv/bin/python bench/load_bench.py rate --rates 104 112 120 --seconds 60 | tail -1
