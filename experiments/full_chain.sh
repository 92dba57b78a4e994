#!/usr/bin/env bash
# The full profile of the task-transfer chain, as it was run for the shipped model: the same
# stages as `derain train all --profile full`, with the two teachers, and then fine-tuning and its
# supervised baseline, running side by side on one thread each (2-core machine), followed by the
# evaluation tables in docs/eval and the run summaries in docs/training.
#   bash experiments/full_chain.sh            (about 70 minutes on 2 CPU cores)
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
for run in teacher-recognition-full teacher-reconstruction-full distill-full finetune-full-f0.1 supervised-full-f0.1; do
  mkdir -p docs/training/$run
  cp runs/$run/{config.yaml,summary.json,data.json,log.csv,curves.png} docs/training/$run/
done
ev() { derain eval -m "$1" -d "$2" -o "docs/eval/$3-$2"; }
for set in rain100l_test udgnet43; do
  ev input $set input
  ev runs/finetune-full-f0.1/model.safetensors $set ttl_student_f0.1
  ev runs/supervised-full-f0.1/model.safetensors $set supervised_f0.1
done
ev runs/distill-full/model.safetensors rain100l_test distilled_only
ev prenet_rain100l rain100l_test prenet_rain100l
