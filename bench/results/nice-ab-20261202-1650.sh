#!/usr/bin/env bash
# Niceness A/B at 60/s on the twelfth VM: engine alone at workers.nice 10 (default) and 0, then the references alone.
set -u
cd /work/main
run() { .venv/bin/python bench/load_bench.py rate --rates 60 --seconds 40 "$@" 2>&1 | tail -2; ls -t bench/results/rate-*.json | head -1; }
echo "== nice 10"; run --no-refs
sed -i 's/^  clock_rate: 8000$/  clock_rate: 8000\n  nice: 0/' config/engine.yaml; grep -n nice: config/engine.yaml
echo "== nice 0"; run --no-refs
git checkout config/engine.yaml
echo "== refs"; run --refs-only
