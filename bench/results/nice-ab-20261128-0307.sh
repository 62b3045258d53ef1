#!/bin/bash
# A/B of workers.nice at 176 calls/s, engine alone, alternating 10 and 5
cd /tmp/bt
for n in 10 5 10 5; do
  sed -i "s/^  nice: .*$/  nice: $n/" config/engine.yaml
  echo "=== nice $n $(date +%H:%M:%S)"
  PYTHONPATH=/tmp/bt .venv/bin/python bench/load_bench.py rate --rates 176 --seconds 60 --no-refs 2>>/tmp/ab.err | grep -v "^{\"rate\": 176.0, \"calls" 
  ls -t bench/results | head -1
done
