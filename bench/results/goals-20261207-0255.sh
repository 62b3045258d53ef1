#!/usr/bin/env bash
# Twentieth VM (AMD EPYC), 2026-12-07: the goals at the commit of this script (engine code as at
# 27c5996), one after the other, nothing else running: (c), (b), (d), then the rate with both
# references, and the references alone higher up.
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py latency --rates 10 50 --seconds 30 | tail -1
.venv/bin/python bench/load_bench.py concurrency --counts 200 | tail -1
.venv/bin/python bench/load_bench.py soak --calls 10000 --rate 50 | tail -1
.venv/bin/python bench/load_bench.py rate --rates 88 96 104 --seconds 60 | tail -1
.venv/bin/python bench/load_bench.py rate --refs-only --rates 112 120 128 136 --seconds 60 | tail -1
