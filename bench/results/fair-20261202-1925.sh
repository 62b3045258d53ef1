#!/usr/bin/env bash
# Thirteenth VM (Intel Xeon, speed probes ~17 ms), d229f5b: the engine near its edge with both references, then the references higher alone.
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py rate --rates 88 96 104 --seconds 60 | tail -1
.venv/bin/python bench/load_bench.py rate --rates 112 120 128 136 144 --refs-only --seconds 60 | tail -1
