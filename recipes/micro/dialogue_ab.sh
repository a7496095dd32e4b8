#!/usr/bin/env bash
# Dialogue-level GRPO against single-turn GRPO at micro scale (docs/micro_reproduction.md,
# "Dialogue-level GRPO against single-turn GRPO"). From ONE start model:
#
#   A: single-turn GRPO on ground-truth references (recipes/micro/grpo-micro.yaml, the
#      recipe's GRPO: 4 prompts x 4 generations per step, A_STEPS steps);
#   B: dialogue-level GRPO (recipes/micro/grpo-dialogue-micro.yaml: 1 dialogue x 4
#      trajectories per step, the reference curriculum ending at the policy's own boxes),
#      with as many steps as generate A's number of turn completions (dialogue_ab.py
#      steps: from the dialogues TRL's sampler hands that seed), i.e. equal compute
#      counted in generated tokens (checked afterwards: compute.md);
#
# each with every seed of SEEDS, then every model (and the start model) evaluated with
# predicted AND oracle references on the demo's test set (build synth --dialogues 100
# --seed 1000, as `regionreasoner demo`) and on test2 (--seed 1001, as recipes/micro/run.sh),
# paper protocol, box-fill masks. Finishes with `regionreasoner compare` tables, the
# predicted-minus-oracle gaps and the compute table in $OUT/tables.md.
#
# Resumable: finished trainings (a config.json in the model folder) and evaluations (a
# metrics.json) are skipped; progress goes to $OUT/progress.log.
#
#   recipes/micro/dialogue_ab.sh                                  # the bundled model as start
#   OUT=/root/regionreasoner-cache/dialogue-grpo SEEDS="0 1 2" recipes/micro/dialogue_ab.sh
#   START=artifacts/micro/sft12/checkpoint recipes/micro/dialogue_ab.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=${PY:-.venv/bin/python}
RR=${RR:-.venv/bin/regionreasoner}
OUT=${OUT:-artifacts/micro/dialogue-ab}
START=${START:-$("$PY" -c 'from regionreasoner.assets import bundled_model_dir; print(bundled_model_dir())')}
SEEDS=${SEEDS:-"0 1 2"}
A_STEPS=${A_STEPS:-100}
A_PER_STEP=16                     # grpo-micro.yaml: 4 prompts x 4 generations
GENERATIONS=4
MAX_NEW_TOKENS=${MAX_NEW_TOKENS:-192}   # `regionreasoner demo`'s budget for the bundled model
DATA=$OUT/data
GRPO_DATA="synth://$DATA/grpo-train?dialogues=400&seed=202"
export OMP_NUM_THREADS=${THREADS:-2}

[[ -f $START/config.json ]] || { echo "dialogue_ab: no start model at $START" >&2; exit 2; }
mkdir -p "$OUT"
WALLTIMES=$OUT/walltimes.tsv
source recipes/micro/common.sh  # log_time
progress() { printf '%s %s\n' "$(date -u +%FT%TZ)" "$*" >> "$OUT/progress.log"; }

build() {  # build <name> <dialogues> <seed>
  [[ -f $DATA/$1/synth.jsonl ]] && return 0
  "$RR" build synth --out "$DATA/$1" --dialogues "$2" --seed "$3" >/dev/null
}

evaluate() {  # evaluate <model dir> <run dir>
  local set ref out
  for set in demo test2; do
    for ref in predicted oracle; do
      out=$2/eval-$set-$ref
      [[ -f $out/metrics.json ]] && continue
      progress "eval $out"
      "$RR" eval --data "$DATA/$set/synth.jsonl" --model "hf:$1" --protocol paper \
        --reference "$ref" --segmenter box-fill --max-new-tokens "$MAX_NEW_TOKENS" \
        --batch-size 16 --out "$out" --overwrite >/dev/null
    done
  done
}

train() {  # train <config> <run dir> <seed> <steps>
  [[ -f $2/model/config.json ]] && return 0
  progress "train $2 ($4 steps)"
  local t=$SECONDS
  "$RR" train --config "$1" --resume model="$START" output_dir="$2/model" seed="$3" \
    trainer.max_steps="$4" trainer.logging_steps=1 data.train="$GRPO_DATA" > "$2.train.log" 2>&1
  log_time "train-$(basename "$2")" $((SECONDS - t))
}

progress "start: $START, seeds $SEEDS, code $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
build grpo-train 400 202   # the recipe's GRPO prompts (= synth:// of grpo-micro.yaml)
build demo 100 1000        # `regionreasoner demo`'s test set
build test2 100 1001       # recipes/micro/run.sh's second held-out set

t=$SECONDS; evaluate "$START" "$OUT/start"; log_time eval-start $((SECONDS - t))
for seed in $SEEDS; do
  mkdir -p "$OUT/A-s$seed" "$OUT/B-s$seed"
  train recipes/micro/grpo-micro.yaml "$OUT/A-s$seed" "$seed" "$A_STEPS"
  b_steps=$("$PY" recipes/micro/dialogue_ab.py steps --data "$DATA/grpo-train/synth.jsonl" \
    --seed "$seed" --target $((A_STEPS * A_PER_STEP)) --generations "$GENERATIONS")
  train recipes/micro/grpo-dialogue-micro.yaml "$OUT/B-s$seed" "$seed" "$b_steps"
  for arm in A B; do
    t=$SECONDS; evaluate "$OUT/$arm-s$seed/model" "$OUT/$arm-s$seed"
    log_time "eval-$arm-s$seed" $((SECONDS - t))
  done
done

progress "tables"
{
  for set in demo test2; do
    for ref in predicted oracle; do
      echo "### \`$set\`, $ref references"
      echo
      "$RR" compare "start=$OUT/start/eval-$set-$ref" \
        "A: single-turn GRPO=$OUT/A-s*/eval-$set-$ref" \
        "B: dialogue-level GRPO=$OUT/B-s*/eval-$set-$ref" --metric acc@0.5
      echo
    done
  done
  "$PY" recipes/micro/dialogue_ab.py gap "$OUT"
  echo "**compute** (generated tokens from train_summary.json)"
  echo
  "$PY" recipes/micro/dialogue_ab.py compute "$OUT"
} > "$OUT/tables.md.tmp"
mv "$OUT/tables.md.tmp" "$OUT/tables.md"
progress "done: $OUT/tables.md"
