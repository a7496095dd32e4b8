#!/usr/bin/env bash
# The micro RegionReasoner recipe (see recipes/micro/README.md): synthetic data from
# `regionreasoner build synth`, a staged SFT warm start with the "enumerate, then copy"
# targets, GRPO with the RegionReasoner rewards through `regionreasoner train`, then the
# multi-round evaluation. Every stage is resumable: run the script again and it continues
# where it stopped (finished stages are skipped). Wall times go to $ROOT/walltimes.tsv.
#
#   THREADS=2 recipes/micro/run.sh            # everything (hours on a 2-core CPU)
#   STAGES="data sft1" recipes/micro/run.sh   # only some stages
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=${PY:-.venv/bin/python}
RR=${RR:-.venv/bin/regionreasoner}
ROOT=${ROOT:-artifacts/micro}
THREADS=${THREADS:-2}
SEED=${SEED:-0}
STAGES=${STAGES:-"data sft1 sft2 grpo eval"}
SFT1_STEPS=${SFT1_STEPS:-6000}     # 3-4 objects per image (build synth --max-turns 2)
SFT2_STEPS=${SFT2_STEPS:-12000}    # 3-9 objects, dialogues of 2-7 turns
GRPO_STEPS=${GRPO_STEPS:-200}
export OMP_NUM_THREADS=$THREADS

DATA=$ROOT/data
mkdir -p "$ROOT"
log_time() { printf '%s\t%s\t%s\n' "$1" "$2" "$(date -u +%FT%TZ)" >> "$ROOT/walltimes.tsv"; }
want() { [[ " $STAGES " == *" $1 "* ]]; }

build() {  # build <name> <dialogues> <seed> [max-turns]
  local out=$DATA/$1
  [[ -f $out/synth.jsonl ]] && return 0
  "$RR" build synth --out "$out" --dialogues "$2" --seed "$3" ${4:+--max-turns "$4"} >/dev/null
}

sft() {  # sft <name> <bench> <eval-bench> <steps> <init or ''> [prompts]
  "$PY" -m regionreasoner.integrations.micro_train --name "$1" \
    --bench "$DATA/$2" --eval-bench "$DATA/$3" --eval-samples 64 \
    --out "$ROOT/$1" ${5:+--init "$5"} --steps "$4" --lr 1e-3 --warmup 100 \
    --batch-size 8 --threads "$THREADS" --seed "$SEED" \
    --prompts "${6:-regionreasoner}" --eval-every-s "${EVAL_EVERY_S:-900}" --checkpoint-every-s 600 --resume
}

if want data; then
  t=$SECONDS
  build train_t2 3000 101 2
  build test_t2 60 998 2
  build train_full 4000 102
  build test 100 999
  log_time data $((SECONDS - t))
fi
if want sft1; then
  t=$SECONDS; sft sft1 train_t2 test_t2 "$SFT1_STEPS" ""; log_time sft1 $((SECONDS - t))
fi
if want sft2; then
  t=$SECONDS
  sft sft2 train_full test "$SFT2_STEPS" "$ROOT/sft1/checkpoint" regionreasoner,regionreasoner-train
  log_time sft2 $((SECONDS - t))
fi
if want grpo; then
  t=$SECONDS
  "$RR" train --config recipes/micro/grpo-micro.yaml --resume \
    model="$ROOT/sft2/checkpoint" output_dir="$ROOT/grpo" trainer.max_steps="$GRPO_STEPS" \
    data.train="synth://$DATA/grpo-train?dialogues=400&seed=202"
  log_time grpo $((SECONDS - t))
fi
if want eval; then
  t=$SECONDS
  for model in sft2/checkpoint grpo; do
    [[ -f $ROOT/$model/config.json ]] || continue
    "$RR" eval --data "$DATA/test/synth.jsonl" --model "hf:$ROOT/$model" --segmenter box-fill \
      --max-new-tokens 220 --batch-size 16 --out "$ROOT/eval/${model%%/*}" --overwrite
  done
  log_time eval $((SECONDS - t))
fi
