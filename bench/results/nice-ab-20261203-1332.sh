#!/usr/bin/env bash
# A/B: the engine's (c) at 50/s with workers at nice 10 (the default) and at nice 0, alternating.
# Each row runs with config/engine.yaml given "nice: N"; the file is put back after each row,
# and on exit.
set -u
cd "$(dirname "$0")/../.."
saved=$(mktemp)
cp config/engine.yaml "$saved"
trap 'cp "$saved" config/engine.yaml; rm -f "$saved"' EXIT
for round in 1 2; do
  for nice in 10 0; do
    sed -i "s/^  clock_rate: 8000$/  clock_rate: 8000\n  nice: $nice/" config/engine.yaml
    out=$(.venv/bin/python bench/load_bench.py latency --rates 50 --seconds 30 --no-refs | tail -1)
    cp "$saved" config/engine.yaml
    echo "round $round nice $nice $out"
  done
done
