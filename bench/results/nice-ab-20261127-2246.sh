#!/bin/bash
# Niceness A/B: bn (ccbc414, workers at nice 0) vs bx (ccbc414 + every worker thread at nice 5), engine only.
for rep in 1 2; do
  for rate in 112 120; do
    for tree in bx bn; do
      echo "=== $(date +%T) rep $rep rate $rate tree $tree"
      cd /tmp/$tree && PYTHONPATH=/tmp/$tree .venv/bin/python bench/load_bench.py rate --rates $rate --seconds 60 --no-refs > /tmp/nice-$rep-$rate-$tree.out 2> /tmp/nice-$rep-$rate-$tree.err
      ls -t /tmp/$tree/bench/results/rate-*.json | head -1
      grep -o '"verdict": {[^}]*}' /tmp/nice-$rep-$rate-$tree.out
    done
  done
done
echo DONE $(date +%T)
