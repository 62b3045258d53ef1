#!/usr/bin/env bash
# Goals (b), (c), (d) at HEAD on the fifteenth VM (AMD EPYC), one after the other, nothing else running;
# then one rate row with both references, for this VM's share.
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py latency --rates 10 50 --seconds 30 | tail -1
.venv/bin/python bench/load_bench.py concurrency --counts 200 | tail -1
.venv/bin/python bench/load_bench.py soak --calls 10000 --rate 50 | tail -1
.venv/bin/python bench/load_bench.py rate --rates 96 104 --seconds 60 | tail -1
