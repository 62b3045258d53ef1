#!/usr/bin/env bash
# Seventeenth VM: the engine failed at 96-112/s (rate-20261203-131653.json), so the engine alone lower down,
# then the latency goal (c) once more (its first run, latency-20261203-125917.json, read probes of 10.9-19.7 ms).
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py rate --rates 72 80 88 --no-refs --seconds 60 | tail -1
.venv/bin/python bench/load_bench.py latency --rates 10 50 --seconds 30 | tail -1
