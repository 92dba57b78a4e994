#!/usr/bin/env bash
# Land the long runs' progress in git before a session ends (the machine, and runs/ with it, may
# not come back): for each run of experiments/long_runs.sh (study `long` of
# experiments/manifest.yaml), an unfinished one leaves a snapshot (weights, EMA, step, log; no
# optimizer) and a finished one its model file, config, data list, log, curves and summary, in
# docs/training-long/<run>/. The next session's long_runs.sh continues from there when it finds
# no checkpoint. docs/RESULTS.md reports the runs' progress, so it is written again too.
#   bash experiments/land_runs.sh && git add docs README.md && git commit -m "Long runs: progress"
set -euo pipefail
cd "$(dirname "$0")/.."
long=$(python experiments/manifest.py runs long)
for run in $long; do
  src=runs/$run dest=docs/training-long/$run
  if [ -f "$src/summary.json" ]; then
    mkdir -p "$dest"
    for f in config.yaml data.json log.jsonl log.csv curves.png summary.json model.safetensors model.json; do
      [ -f "$src/$f" ] && cp "$src/$f" "$dest/$f"
    done
    rm -f "$dest/snapshot.safetensors"
    echo "landed finished: $dest"
  elif [ -f "$src/checkpoint.pt" ]; then
    rm -f "$dest/summary.json" "$dest/model.safetensors" "$dest/model.json"  # of an earlier, lost run
    derain train snapshot "$src" -o "$dest"
  fi
done
python experiments/results.py report
