#!/usr/bin/env bash
# Goals at the commit of this script (committed as goals-20261204-1828.sh, started at 18:15) on the eighteenth VM (AMD EPYC, speed probe 8.07-8.39 ms before it), one after the other, nothing else running:
# (c), (b), (d), then the rate with both references, bare pjsua2 alone higher up, and the engine with MQTT on.
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py latency --rates 10 50 --seconds 30 | tail -1
.venv/bin/python bench/load_bench.py concurrency --counts 200 | tail -1
.venv/bin/python bench/load_bench.py soak --calls 10000 --rate 50 | tail -1
.venv/bin/python bench/load_bench.py rate --rates 88 96 104 112 --seconds 60 | tail -1
.venv/bin/python bench/load_bench.py rate --refs-only --rates 120 128 136 144 --seconds 60 | tail -1
.venv/bin/python bench/load_bench.py rate --no-refs --mqtt --rates 80 96 --seconds 60 | tail -1
