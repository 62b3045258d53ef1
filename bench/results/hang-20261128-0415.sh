#!/bin/bash
# Engine alone at 184/s, three times, with core dumps on: to catch a worker hung in Call.hangup()
ulimit -c unlimited
cd /tmp/bh
for i in 1 2 3; do
  echo "=== run $i $(date +%H:%M:%S)"
  PYTHONPATH=/tmp/bh .venv/bin/python bench/load_bench.py rate --rates 184 --seconds 60 --no-refs 2>>/tmp/hang2.err | grep -v '^{"rate": 184.0, "calls'
  ls /tmp/cores
done
