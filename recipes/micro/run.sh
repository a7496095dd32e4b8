#!/usr/bin/env bash
# The micro RegionReasoner recipe (see recipes/micro/README.md): synthetic data from
# `regionreasoner build synth`, a staged SFT warm start through `regionreasoner micro
# train` ("direct" four-tag targets, dense visual-token probes, Gaussian soft targets on
# coordinates), GRPO with the RegionReasoner rewards through `regionreasoner train`, the
# multi-round evaluation, and `regionreasoner micro bundle` (copies the chosen model into
# the package, where `regionreasoner demo` finds it). Every stage is resumable: run the script again and it continues where it stopped
# (finished stages are skipped). Wall times go to $ROOT/walltimes.tsv.
#
#   THREADS=2 recipes/micro/run.sh            # everything (hours on a 2-core CPU)
#   STAGES="data sft1" recipes/micro/run.sh   # only some stages
#   BUNDLE_FROM=sft5/checkpoint STAGES=bundle recipes/micro/run.sh
#   DEVICE=cuda STAGES="sft5" recipes/micro/run.sh   # SFT on a GPU (5x per step on an H100)
set -euo pipefail
cd "$(dirname "$0")/../.."

RR=${RR:-.venv/bin/regionreasoner}
ROOT=${ROOT:-artifacts/micro}
THREADS=${THREADS:-2}
SEED=${SEED:-0}
STAGES=${STAGES:-"data sft1 sft2 sft3 sft4 sft5 sft6 sft7 sft8 sft10 sft11 sft12 grpo eval"}  # sft9: STAGES=sft9 (a dead end, see the lab log)
SFT1_STEPS=${SFT1_STEPS:-1404}     # 3-4 objects per image (build synth --max-turns 2)
SFT2_STEPS=${SFT2_STEPS:-2279}     # 3-9 objects, 2-7 turns, both prompts (of a 4000-step schedule)
SFT3_STEPS=${SFT3_STEPS:-3481}     # the same data, probes at 0.1 (of a 40,000-step schedule)
SFT4_STEPS=${SFT4_STEPS:-1568}     # vocabulary-aligned box probe (of a 40,000-step schedule)
SFT5_STEPS=${SFT5_STEPS:-4426}     # + the query probe (of a 40,000-step schedule)
SFT6_STEPS=${SFT6_STEPS:-2311}     # question before image + pointer probe (of a 40,000-step schedule)
SFT7_STEPS=${SFT7_STEPS:-1980}     # + coordinate tokens x5 in the loss (of a 40,000-step schedule)
SFT8_STEPS=${SFT8_STEPS:-3886}     # fresh data, pointer on the cells that hold the box (of 40,000)
SFT9_STEPS=${SFT9_STEPS:-1800}     # cosine decay, sharper coordinate targets (worse: not used after)
SFT10_STEPS=${SFT10_STEPS:-2934}   # from sft8: fresh data, exact copies (of a 40,000-step schedule)
SFT11_STEPS=${SFT11_STEPS:-3000}   # the decay: a full cosine from 5e-4, targets unchanged
SFT12_STEPS=${SFT12_STEPS:-2000}   # 8,000 fresh dialogues, a second cosine from 2e-4
GRPO_STEPS=${GRPO_STEPS:-100}  # = recipes/micro/ablation.sh: the grpo stage is its ref+cons seed-0 run
BUNDLE_FROM=${BUNDLE_FROM:-grpo}
export OMP_NUM_THREADS=$THREADS

DATA=$ROOT/data
mkdir -p "$ROOT"
WALLTIMES=$ROOT/walltimes.tsv
source recipes/micro/common.sh  # log_time
want() { [[ " $STAGES " == *" $1 "* ]]; }

build() {  # build <name> <dialogues> <seed> [max-turns]
  local out=$DATA/$1
  [[ -f $out/synth.jsonl ]] && return 0
  "$RR" build synth --out "$out" --dialogues "$2" --seed "$3" ${4:+--max-turns "$4"} >/dev/null
}

sft() {  # sft <name> <bench> <eval-bench> <steps> <init or ''> <extra flags...>
  local name=$1 bench=$2 eval_bench=$3 steps=$4 init=$5 t=$SECONDS
  shift 5
  "$RR" micro train --name "$name" \
    --bench "$DATA/$bench" --eval-bench "$DATA/$eval_bench" --eval-samples 48 \
    --out "$ROOT/$name" ${init:+--init "$init"} --steps "$steps" \
    --batch-size "${BATCH:-8}" --device "${DEVICE:-cpu}" --threads "$THREADS" --seed "$SEED" \
    --style direct --aux-weight 1.0 \
    --eval-every-s "${EVAL_EVERY_S:-480}" --checkpoint-every-s 300 --resume "$@"
  log_time "$name" "$(stage_seconds "$ROOT/$name/train_log.jsonl" $((SECONDS - t)))"
}

if want data; then
  t=$SECONDS
  build train_t2 3000 101 2
  build test_t2 60 998 2
  build train_full 6000 102
  build train_full2 8000 103
  build train_full3 8000 104
  build val 30 997
  build test 100 999
  build test2 100 1001   # a second held-out set (docs/micro_reproduction.md, session 4)
  build train_full4 8000 105
  log_time data $((SECONDS - t))
fi
if want sft1; then
  sft sft1 train_t2 test_t2 "$SFT1_STEPS" "" --lr 1e-3 --warmup 100 --schedule-steps 2000
fi
if want sft2; then
  sft sft2 train_full val "$SFT2_STEPS" "$ROOT/sft1/checkpoint" --lr 1e-3 --warmup 50 \
    --schedule-steps 4000 --coord-sigma 12 --prompts regionreasoner,regionreasoner-train
fi
if want sft3; then
  # probes at 0.1: at 1.0 their gradient norm was 10x the language model's (3.1 vs 0.29
  # at sft2 step 2279) and the shared clip starved the language model
  sft sft3 train_full val "$SFT3_STEPS" "$ROOT/sft2/checkpoint" --lr 5e-4 --warmup 50 \
    --schedule-steps 40000 --aux-weight 0.1 --coord-sigma 12 \
    --prompts regionreasoner,regionreasoner-train
fi
if want sft4; then
  # new probes (attributes + the box scored by the model's own integer embeddings after
  # layer 3) at 0.05: their fresh gradient norm was 12 against 0.35 for the LM loss
  sft sft4 train_full val "$SFT4_STEPS" "$ROOT/sft3/checkpoint" --lr 5e-4 --warmup 50 \
    --schedule-steps 40000 --aux-weight 0.05 --probe-box vocab --coord-sigma 12 \
    --prompts regionreasoner,regionreasoner-train
fi
if want sft5; then
  # + the query probe: the last prompt token must hold the TARGET's box after layer 3
  sft sft5 train_full val "$SFT5_STEPS" "$ROOT/sft4/checkpoint" --lr 5e-4 --warmup 50 \
    --schedule-steps 40000 \
    --aux-weight 0.05 --probe-box vocab --query-probe --coord-sigma 12 \
    --prompts regionreasoner,regionreasoner-train
fi
if want sft6; then
  # question before the image (micro chat template) + the pointer probe: the visual
  # tokens read the question, and a softmax over them must find the target's cells
  sft sft6 train_full val "$SFT6_STEPS" "$ROOT/sft5/checkpoint" --lr 5e-4 --warmup 50 \
    --schedule-steps 40000 --aux-weight 0.05 --probe-box vocab --query-probe --coord-sigma 12 \
    --pointer-weight 0.5 --text-first --init-probes "$ROOT/sft5/train_state.pt" \
    --prompts regionreasoner,regionreasoner-train
fi
if want sft7; then
  # the coordinate tokens' loss x5: the answer must learn to read the pointer
  sft sft7 train_full val "$SFT7_STEPS" "$ROOT/sft6/checkpoint" --lr 5e-4 --warmup 50 \
    --schedule-steps 40000 --aux-weight 0.05 --probe-box vocab --query-probe --coord-sigma 12 \
    --coord-weight 5 --pointer-weight 0.5 --init-probes "$ROOT/sft6/train_state.pt" \
    --prompts regionreasoner,regionreasoner-train
fi
if want sft8; then
  # 8,000 fresh dialogues (train_full had been seen ~5 times); the pointer now targets
  # the cells that hold the object's box, and objects smaller than a cell own one
  sft sft8 train_full2 val "$SFT8_STEPS" "$ROOT/sft7/checkpoint" --lr 5e-4 --warmup 50 \
    --schedule-steps 40000 --aux-weight 0.05 --probe-box vocab --query-probe --coord-sigma 12 \
    --coord-weight 5 --pointer-weight 0.5 --init-probes "$ROOT/sft7/train_state.pt" \
    --prompts regionreasoner,regionreasoner-train
fi
if want sft9; then
  # the end of the warm start: a full cosine from 3e-4 and 4-px coordinate targets
  # (12 px let copies of a box drift by tens of pixels)
  sft sft9 train_full2 val "$SFT9_STEPS" "$ROOT/sft8/checkpoint" --lr 3e-4 --warmup 20 \
    --aux-weight 0.05 --probe-box vocab --query-probe --coord-sigma 4 \
    --coord-weight 5 --pointer-weight 0.5 --init-probes "$ROOT/sft8/train_state.pt" \
    --prompts regionreasoner,regionreasoner-train
fi
if want sft10; then
  # from sft8 (the best checkpoint; sft9's 4-px target broke greedy decoding): 8,000
  # more fresh dialogues, copied coordinates (cited reference, answer = think box)
  # trained one-hot, coordinates read off the image still soft (12 px)
  sft sft10 train_full3 val "$SFT10_STEPS" "$ROOT/sft8/checkpoint" --lr 5e-4 --warmup 50 \
    --schedule-steps 40000 --aux-weight 0.05 --probe-box vocab --query-probe --coord-sigma 12 \
    --coord-weight 5 --exact-copies --pointer-weight 0.5 \
    --init-probes "$ROOT/sft8/train_state.pt" --prompts regionreasoner,regionreasoner-train
fi
if want sft11; then
  # the end of the warm start: sft10's recipe under a full cosine decay (12-px targets
  # kept: sft9's 4-px target broke greedy decoding); another data order (seed 1)
  sft sft11 train_full3 val "$SFT11_STEPS" "$ROOT/sft10/checkpoint" --lr 5e-4 --warmup 20 \
    --aux-weight 0.05 --probe-box vocab --query-probe --coord-sigma 12 \
    --coord-weight 5 --exact-copies --pointer-weight 0.5 --seed 1 \
    --init-probes "$ROOT/sft10/train_state.pt" --prompts regionreasoner,regionreasoner-train
fi
if want sft12; then
  # sft11 again on 8,000 fresh dialogues under a second, lower cosine (2e-4 -> 2e-5);
  # the same 12-px targets (8 px was worse again: docs/micro_reproduction.md, session 5)
  sft sft12 train_full4 val "$SFT12_STEPS" "$ROOT/sft11/checkpoint" --lr 2e-4 --warmup 20 \
    --aux-weight 0.05 --probe-box vocab --query-probe --coord-sigma 12 \
    --coord-weight 5 --exact-copies --pointer-weight 0.5 --seed 2 \
    --init-probes "$ROOT/sft11/train_state.pt" --prompts regionreasoner,regionreasoner-train
fi
if want grpo; then
  t=$SECONDS
  "$RR" train --config recipes/micro/grpo-micro.yaml --resume \
    model="$ROOT/sft12/checkpoint" output_dir="$ROOT/grpo" trainer.max_steps="$GRPO_STEPS" \
    trainer.use_cpu="$([[ ${DEVICE:-cpu} == cpu ]] && echo true || echo false)" \
    data.train="synth://$DATA/grpo-train?dialogues=400&seed=202"
  log_time grpo $((SECONDS - t))
fi
if want eval; then
  t=$SECONDS
  for model in sft12/checkpoint grpo; do
    [[ -f $ROOT/$model/config.json ]] || continue
    for split in test test2; do  # the two held-out sets checkpoints are chosen on
      "$RR" eval --data "$DATA/$split/synth.jsonl" --model "hf:$ROOT/$model" \
        --segmenter box-fill --max-new-tokens 220 --batch-size 16 \
        --out "$ROOT/eval/${model%%/*}-$split" --overwrite
    done
  done
  log_time eval $((SECONDS - t))
fi
if want bundle; then
  # The model `regionreasoner demo` loads by default: model (weights stored in float16,
  # loaded in float32), tokenizer, processor and chat template only.
  "$RR" micro bundle "$ROOT/$BUNDLE_FROM"
fi
