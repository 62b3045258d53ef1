#!/bin/sh
# Nineteenth VM, 2026-12-07: the engine failed 96-112/s in rate-20261207-004105.json (bare
# pjsua2 sustained all three); the engine alone lower down; nothing else running.
set -e
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py rate --rates 80 88 --seconds 60 --no-refs
