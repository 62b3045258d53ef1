#!/bin/bash
# A/B: old (2a8e83a, /tmp/bt) vs new (answer prompt, /tmp/bn), engine only, alternating.
for rep in 1 2; do
  for rate in 96 104; do
    for tree in bt bn; do
      echo "=== $(date +%T) rep $rep rate $rate tree $tree"
      cd /tmp/$tree && PYTHONPATH=/tmp/$tree .venv/bin/python bench/load_bench.py rate --rates $rate --seconds 60 --no-refs 2>&1 | tail -3
      ls -t /tmp/$tree/bench/results/rate-*.json | head -1
    done
  done
done
echo DONE
