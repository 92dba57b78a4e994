#!/usr/bin/env bash
# The long runs behind the shipped model (issue 10), in two lanes of one thread each. Start it at
# the beginning of every session: finished stages are skipped, an interrupted one resumes from its
# checkpoint (losing at most one checkpoint interval, 500 steps), then the next one starts.
#   lane 1: the supervised student on the full mixture (100k steps), then the central ablation at
#           10 % of the data (both arms, three seeds, 20k steps each; the fine-tuning runs need
#           lane 2's distillation, which ends long before lane 1 reaches them)
#   lane 2: teacher A -> teacher B -> distillation -> fine-tuning (the task-transfer arm, same budget)
#   then, in lane 1, issue 28's streaks-only refinement of the supervised arm (6k steps) and the
#   vapour branch joined to it (4k steps); in lane 2, issue 29's pilot on 400 fixed pairs
#   then issue 29's twelve runs (both arms on 400 and 100 fixed pairs, three seeds), six per lane,
#   the 400-pair arms first so that their seeds pair up early
# How each run is made: experiments/manifest.yaml (study `long`).
#   nohup bash experiments/long_runs.sh > long_runs.log 2>&1 &
# (prefix LANE_THREADS=2 when a single run is left, so that it has both cores)
# and before the session ends: bash experiments/land_runs.sh (then commit docs and README.md).
set -uo pipefail
cd "$(dirname "$0")/.."
. experiments/lanes.sh

lane1() {
  train supervised-full-f1 &&
  train ablation-supervised-f0.1-s0 && train ablation-supervised-f0.1-s1 && train ablation-supervised-f0.1-s2 &&
  train ablation-finetune-f0.1-s0 && train ablation-finetune-f0.1-s1 && train ablation-finetune-f0.1-s2 &&
  train streaks-only &&  # issue 28's quick win: supervised-full-f1 refined on targets that keep the veil
  train streaks-vapour &&  # issue 28: the vapour branch joined to streaks-only's model
  train fixed-400-supervised-s0 && train fixed-400-supervised-s1 && train fixed-400-supervised-s2 &&
  train fixed-100-finetune-s0 && train fixed-100-finetune-s1 && train fixed-100-finetune-s2
}
lane2() {
  train teacher-recognition-full &&
  train teacher-reconstruction-full &&
  train distill-full &&
  train finetune-full-f1 &&
  train fixed-pilot &&  # issue 29: the few-fixed-pairs pilot that fixes its runs' budget
  train fixed-400-finetune-s0 && train fixed-400-finetune-s1 && train fixed-400-finetune-s2 &&
  train fixed-100-supervised-s0 && train fixed-100-supervised-s1 && train fixed-100-supervised-s2
}
lane1 & lane2 & wait
