#!/bin/sh
# Nineteenth VM (AMD EPYC), 2026-12-07: the rate against bare pjsua2 once more, at the
# revision with UUIDv7 session ids; nothing else running.
set -e
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py rate --rates 96 104 112 --seconds 60
