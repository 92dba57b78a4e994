# Shared by the experiment scripts (source it): run, resume or skip one training stage.
# train STAGE RUN_DIR [ARGS...]: a run with summary.json is finished and skipped, one with a
# folder is resumed from its checkpoint, otherwise it starts; output is appended to runs/RUN_DIR.log.
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
train() {
  local stage=$1 out=runs/$2; shift 2
  if [ -f "$out/summary.json" ]; then echo "done: $out"; return; fi
  local resume=(); [ -f "$out/checkpoint.pt" ] && resume=(--resume)
  mkdir -p runs
  echo "$(date +%T) start: $out ${resume[*]}"
  derain train "$stage" --out "$out" --threads 1 --quiet "${resume[@]}" "$@" >> "$out.log" 2>&1
  echo "$(date +%T) end: $out"
}
