#!/bin/bash
# Niceness 10 (by) vs 5 (bx) on every worker thread, engine only.
for rate in 120 128; do
  for tree in by bx; do
    echo "=== $(date +%T) rate $rate tree $tree"
    cd /tmp/$tree && PYTHONPATH=/tmp/$tree .venv/bin/python bench/load_bench.py rate --rates $rate --seconds 60 --no-refs > /tmp/nice2-$rate-$tree.out 2> /tmp/nice2-$rate-$tree.err
    ls -t /tmp/$tree/bench/results/rate-*.json | head -1
    grep -o '"verdict": {[^}]*}' /tmp/nice2-$rate-$tree.out
  done
done
echo DONE $(date +%T)
