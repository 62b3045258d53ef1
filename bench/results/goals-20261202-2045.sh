#!/usr/bin/env bash
# Goals (b), (c), (d) at HEAD on the thirteenth VM (Intel Xeon), one after the other, nothing else running;
# then the engine with its events published to a private mosquitto (--mqtt), as a node with MQTT does.
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py latency --rates 10 50 --seconds 30 | tail -1
.venv/bin/python bench/load_bench.py concurrency --counts 200 | tail -1
.venv/bin/python bench/load_bench.py soak --calls 10000 --rate 50 | tail -1
.venv/bin/python bench/load_bench.py rate --rates 64 80 --seconds 60 --no-refs --mqtt | tail -1
