#!/usr/bin/env bash
# Goals at the commit of this script on the seventeenth VM (AMD EPYC), one after the other, nothing else running:
# (c), (b), (d), then the rate with both references up to where the engine fails, then bare pjsua2 alone higher up.
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py latency --rates 10 50 --seconds 30 | tail -1
.venv/bin/python bench/load_bench.py concurrency --counts 200 | tail -1
.venv/bin/python bench/load_bench.py soak --calls 10000 --rate 50 | tail -1
.venv/bin/python bench/load_bench.py rate --rates 96 104 112 --seconds 60 | tail -1
.venv/bin/python bench/load_bench.py rate --refs-only --rates 128 136 --seconds 60 | tail -1
