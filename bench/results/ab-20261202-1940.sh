#!/bin/bash
# A/B: base (d229f5b) vs new (working tree), engine alone at $1/s for $2 s, alternating $3 times
# base: `git worktree add /tmp/base d229f5b` (its results land in /tmp/base/bench/results; the three were copied here)
cd /work/main
for i in $(seq $3); do
  for side in base new; do
    if [ $side = base ]; then script=/tmp/base/bench/load_bench.py; else script=/work/main/bench/load_bench.py; fi
    out=$(/work/main/.venv/bin/python $script rate --rates $1 --seconds $2 --no-refs 2>/dev/null | tail -1)
    python3 - "$side" "$out" <<'PY'
import json,sys
side, path = sys.argv[1], sys.argv[2].strip()
r=json.load(open(path)); e=r['rows'][0]['engine']; res=e['resources']
rate=e['achieved_rate']
print(side, path.split('/')[-1], 'probe', e['speed_probe_ms'], 'rate', rate, 'sustained', e['verdict']['sustained'],
      'controller ms/call', round(res['engine']['cores_mean']/rate*1000,3), 'workers ms/call', round(res['workers']['cores_mean']/rate*1000,3),
      'machine', e['machine_cores_mean'], flush=True)
PY
  done
done
