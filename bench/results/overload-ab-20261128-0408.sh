#!/bin/bash
# A/B of http.overload_lag_seconds at 184 calls/s, engine alone, alternating 1.0 (the default) and 5.0
cd /tmp/bh
for lag in 1.0 5.0 1.0 5.0; do
  git checkout -q config/engine.yaml
  if grep -q "^http:" config/engine.yaml; then
    sed -i "s/^http:$/http:\n  overload_lag_seconds: $lag/" config/engine.yaml
  else
    printf "http:\n  overload_lag_seconds: $lag\n" >> config/engine.yaml
  fi
  echo "=== overload_lag_seconds $lag $(date +%H:%M:%S)"
  PYTHONPATH=/tmp/bh .venv/bin/python bench/load_bench.py rate --rates 184 --seconds 60 --no-refs 2>>/tmp/ab2.err | grep -v "^{\"rate\": 184.0, \"calls"
done
git checkout -q config/engine.yaml
