#!/usr/bin/env bash
# The full profile of the task-transfer chain, as it was run for the shipped model: the same
# stages as `derain train all --profile full`, with the two teachers, and then fine-tuning and its
# supervised baseline, running side by side on one thread each (2-core machine). The other runs of
# docs/RESULTS.md follow in experiments/results_runs.sh; experiments/results.py evaluates them all.
#   bash experiments/full_chain.sh
# It took about 70 minutes with the budgets of stop 8 (docs/training/*/config.yaml). The full
# profiles now hold the long budgets of issue 10 (many hours, several sessions): for those use
# experiments/long_runs.sh, which resumes across sessions.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
derain train teacher-recognition --profile full --threads 1 --quiet &
derain train teacher-reconstruction --profile full --threads 1 --quiet &
wait
derain train distill --profile full --threads 2 --quiet
derain train finetune --profile full --fraction 0.1 --threads 1 --quiet &
derain train supervised --profile full --fraction 0.1 --threads 1 --quiet &
wait
