#!/usr/bin/env bash
# The micro-scale ablation of docs/micro_reproduction.md (the paper's Tables 3-4 rows):
# from ONE SFT checkpoint, GRPO with the base rewards (alpha=beta=0), + reference citation
# (beta=0), + citation + consistency (alpha=beta=1), each with several seeds, then every
# model (and the SFT checkpoint itself) evaluated on the same synthetic test set with
# predicted AND oracle references. Finishes with `regionreasoner compare` tables.
# Resumable: finished trainings (a config.json in the run folder) and evals are skipped.
#
#   SFT=artifacts/micro/sft12/checkpoint recipes/micro/ablation.sh   # the session-4 table: sft11
#   SEEDS="0 1 2" GRPO_STEPS=100 SFT=... recipes/micro/ablation.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

RR=${RR:-.venv/bin/regionreasoner}
ROOT=${ROOT:-artifacts/micro}
SFT=${SFT:-$ROOT/sft12/checkpoint}
OUT=${OUT:-$ROOT/ablation}
TEST=${TEST:-$ROOT/data/test}          # a `build synth` folder (not used for training)
SEEDS=${SEEDS:-"0 1 2"}
GRPO_STEPS=${GRPO_STEPS:-100}
GRPO_DATA=${GRPO_DATA:-"synth://$ROOT/data/grpo-train?dialogues=400&seed=202"}
export OMP_NUM_THREADS=${THREADS:-2}

[[ -f $SFT/config.json ]] || { echo "ablation: no SFT checkpoint at $SFT" >&2; exit 2; }
[[ -f $TEST/synth.jsonl ]] || "$RR" build synth --out "$TEST" --dialogues 100 --seed 999 >/dev/null
mkdir -p "$OUT"
WALLTIMES=$OUT/walltimes.tsv
source recipes/micro/common.sh  # log_time

evaluate() {  # evaluate <model dir> <run name>
  local ref
  for ref in predicted oracle; do
    [[ -f $OUT/$2/eval-$ref/metrics.json ]] && continue
    "$RR" eval --data "$TEST/synth.jsonl" --model "hf:$1" --segmenter box-fill \
      --reference "$ref" --max-new-tokens 160 --batch-size 16 \
      --out "$OUT/$2/eval-$ref" --overwrite >/dev/null
  done
}

t=$SECONDS; evaluate "$SFT" sft; log_time eval-sft $((SECONDS - t))
declare -A WEIGHTS=([base]="rewards.alpha=0 rewards.beta=0" [ref]="rewards.alpha=1 rewards.beta=0"
                    [ref+cons]="rewards.alpha=1 rewards.beta=1")
for variant in base ref ref+cons; do
  for seed in $SEEDS; do
    run=$variant-s$seed
    if [[ ! -f $OUT/$run/model/config.json ]]; then
      t=$SECONDS
      # shellcheck disable=SC2086
      "$RR" train --config recipes/micro/grpo-micro.yaml --resume model="$SFT" \
        output_dir="$OUT/$run/model" seed="$seed" trainer.max_steps="$GRPO_STEPS" \
        data.train="$GRPO_DATA" ${WEIGHTS[$variant]} > "$OUT/$run.train.log" 2>&1
      log_time "grpo-$run" $((SECONDS - t))
    fi
    t=$SECONDS; evaluate "$OUT/$run/model" "$run"; log_time "eval-$run" $((SECONDS - t))
  done
done

for ref in predicted oracle; do
  "$RR" compare "SFT only=$OUT/sft/eval-$ref" "GRPO base=$OUT/base-s*/eval-$ref" \
    "GRPO +ref=$OUT/ref-s*/eval-$ref" "GRPO +ref+cons=$OUT/ref+cons-s*/eval-$ref" \
    --out "$OUT/table-$ref.md"
done
