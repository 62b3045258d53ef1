#!/usr/bin/env bash
# The fifteenth VM's share: the engine and bare pjsua2 lower, then bare pjsua2 alone higher; nothing else running.
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py rate --rates 80 88 --seconds 60 | tail -1
.venv/bin/python bench/load_bench.py rate --rates 120 136 --seconds 60 --refs-only | tail -1
