#!/usr/bin/env bash
# The full profile of the task-transfer chain, as it was run for the shipped model: the same
# stages as `derain train all --profile full`, with the two teachers, and then fine-tuning and its
# supervised baseline, running side by side on one thread each (2-core machine; the distillation
# alone on two). The other runs of docs/RESULTS.md follow in experiments/results_runs.sh;
# experiments/results.py evaluates them all. How each run is made: experiments/manifest.yaml; a
# finished run is skipped and a killed one resumed (experiments/lanes.sh), output in runs/RUN.log.
#   bash experiments/full_chain.sh
# It took about 70 minutes with the budgets of stop 8 (docs/training/*/config.yaml). The full
# profiles now hold the long budgets of issue 10 (many hours, several sessions): for those use
# experiments/long_runs.sh, which runs the same teachers and distillation.
set -euo pipefail
cd "$(dirname "$0")/.."
. experiments/lanes.sh

train teacher-recognition-full & train teacher-reconstruction-full & wait
train distill-full --threads 2
train finetune-full-f0.1 & train supervised-full-f0.1 & wait
