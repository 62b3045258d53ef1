#!/usr/bin/env bash
# Goals (b), (c), (d) at 011e35d on the twelfth VM (Intel Xeon), one after the other, nothing else running.
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py latency --rates 10 50 --seconds 30 | tail -1
.venv/bin/python bench/load_bench.py concurrency --counts 200 | tail -1
.venv/bin/python bench/load_bench.py soak --calls 10000 --rate 50 | tail -1
