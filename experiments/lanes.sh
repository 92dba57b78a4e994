# Shared by the experiment scripts (source it): run, resume or skip one training stage.
# train STAGE RUN_DIR [ARGS...]: a run with summary.json is finished and skipped (one finished on
# another machine is first copied back from docs/training-long/RUN_DIR, model file included, for
# the next stages to read); one with a checkpoint is resumed from it; one with a snapshot landed in
# docs/training-long/RUN_DIR continues from that; otherwise it starts. Output is appended to
# runs/RUN_DIR.log. The run folders live in $DERAIN_RUNS (default ~/derain-runs), outside the work
# tree, which a new session may lay anew; runs/ links to it.
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
LANDED=docs/training-long
if [ ! -e runs ]; then mkdir -p "${DERAIN_RUNS:-$HOME/derain-runs}" && ln -s "${DERAIN_RUNS:-$HOME/derain-runs}" runs; fi
train() {
  local stage=$1 out=runs/$2 landed=$LANDED/$2; shift 2
  if [ ! -e "$out" ] && [ -f "$landed/summary.json" ]; then mkdir -p "$out" && cp "$landed"/* "$out"/; fi
  if [ -f "$out/summary.json" ]; then echo "done: $out"; return; fi
  local resume=()
  if [ -f "$out/checkpoint.pt" ]; then resume=(--resume)
  elif [ -f "$landed/snapshot.safetensors" ]; then resume=(--resume-from "$landed")
  fi
  echo "$(date +%T) start: $out ${resume[*]}"
  derain train "$stage" --out "$out" --threads 1 --quiet "${resume[@]}" "$@" >> "$out.log" 2>&1
  echo "$(date +%T) end: $out"
}
