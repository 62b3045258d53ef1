#!/bin/bash
# Engine alone at 184/s, four times, with core dumps on: to catch a worker hung in Call.hangup()
ulimit -c unlimited
cd /tmp/bi
for i in 1 2 3 4; do
  echo "=== run $i $(date +%H:%M:%S)"
  PYTHONPATH=/tmp/bi .venv/bin/python bench/load_bench.py rate --rates 184 --seconds 60 --no-refs 2>>/tmp/hang3.err | grep -v '^{"rate": 184.0, "calls'
  ls /tmp/cores
done
