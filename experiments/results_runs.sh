#!/usr/bin/env bash
# The training runs behind docs/RESULTS.md (issue 6), on top of the full chain of
# experiments/full_chain.sh (teachers, distill-full, finetune/supervised at 10% seed 0):
#   - central ablation: task transfer vs supervised from scratch at 5/20/100% (seed 0) and at 10%
#     with seeds 1 and 2 (the full configs, only --fraction and --seed change);
#   - teacher ablation: the student distilled from teacher A alone and from B alone, then
#     fine-tuned at 10% exactly like the shipped student;
#   - fine-tuning from the distilled encoder only (experiments/configs/finetune-encoder-f0.1.yaml);
#   - PReNet retrained on the same 10% pairs with the student's CPU budget.
# How each run is made: experiments/manifest.yaml. Two lanes of one thread each (2-core machine),
# about 100 minutes with the budgets of stop 8 (docs/training/*/config.yaml; the full profiles now
# hold the long budgets of issue 10). A run that finished is skipped and one that was killed is
# resumed, so the script can simply be started again.
#   bash experiments/results_runs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. experiments/lanes.sh

lane1() {
  train distill-a-only
  train finetune-a-only-f0.1
  train finetune-encoder-f0.1
  train finetune-full-f0.05
  train finetune-full-f0.2
  train finetune-full-f1.0
  train supervised-full-f0.05
  train supervised-full-f0.2
}

lane2() {
  train distill-b-only
  train finetune-b-only-f0.1
  train finetune-full-f0.1-s1
  train finetune-full-f0.1-s2
  train supervised-full-f0.1-s1
  train supervised-full-f0.1-s2
  train supervised-full-f1.0
  train prenet-retrained-f0.1
}

lane1 & lane2 & wait
