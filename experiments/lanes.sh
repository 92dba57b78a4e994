# Shared by the experiment scripts (source it): run, resume or skip one training run.
# train RUN [OPTION...]: the stage and options that make runs/RUN come from experiments/manifest.yaml
# (`python experiments/manifest.py args RUN`); OPTIONs are this machine's, e.g. --threads 2. A run
# with summary.json is finished and skipped (one finished on another machine is first copied back
# from docs/training-long/RUN, model file included, for the next stages to read); one with a
# checkpoint is resumed from it; one with a snapshot landed in docs/training-long/RUN continues
# from that; otherwise it starts. Output is appended to runs/RUN.log. The run folders live in
# $DERAIN_RUNS (default ~/derain-runs), outside the work tree, which a new session may lay anew;
# runs/ links to it. Each run gets $LANE_THREADS threads (default 1: two lanes on two cores; 2 when
# a single run is left).
export OMP_NUM_THREADS=${LANE_THREADS:-1} OMP_WAIT_POLICY=PASSIVE
LANDED=docs/training-long
command -v derain > /dev/null || { echo "derain is not installed in this shell: activate its environment first (. .venv/bin/activate)" >&2; exit 1; }
if [ ! -e runs ]; then mkdir -p "${DERAIN_RUNS:-$HOME/derain-runs}" && ln -s "${DERAIN_RUNS:-$HOME/derain-runs}" runs; fi
train() {
  local out=runs/$1 landed=$LANDED/$1 made
  made=$(python experiments/manifest.py args "$1") || return 1
  shift
  read -ra made <<< "$made"  # STAGE OPTION...
  if [ ! -e "$out" ] && [ -f "$landed/summary.json" ]; then mkdir -p "$out" && cp "$landed"/* "$out"/; fi
  if [ -f "$out/summary.json" ]; then echo "done: $out"; return; fi
  local resume=()
  if [ -f "$out/checkpoint.pt" ]; then resume=(--resume)
  elif [ -f "$landed/snapshot.safetensors" ]; then resume=(--resume-from "$landed")
  fi
  echo "$(date +%T) start: $out ${resume[*]}"
  derain train "${made[0]}" --out "$out" --threads "$OMP_NUM_THREADS" --quiet "${resume[@]}" "${made[@]:1}" "$@" >> "$out.log" 2>&1
  local status=$?
  echo "$(date +%T) end: $out (exit $status)"
  return $status
}
