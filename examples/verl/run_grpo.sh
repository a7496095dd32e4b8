#!/usr/bin/env bash
# RegionReasoner GRPO on veRL (Ray + FSDP + vLLM rollouts), one or several nodes.
#
# Step by step (docs/training.md, "Multi-node with veRL"):
#   1. an environment with veRL and vLLM (veRL pins its own transformers; keep it apart
#      from the project's TRL environment) plus `pip install regionreasoner` (no extras:
#      the reward needs only numpy/scipy/lemminflect);
#   2. the data:  regionreasoner export-train BENCH.jsonl --out data/train-verl.parquet --format verl
#   3. a Ray cluster: on the head node `ray start --head --port=6379`, on every other node
#      `ray start --address=HEAD_IP:6379`; single node: nothing to do;
#   4. on the head node:  NNODES=2 GPUS_PER_NODE=8 bash examples/verl/run_grpo.sh
#
# Environment variables (defaults in brackets):
#   TRAIN_FILE [data/train-verl.parquet]   VAL_FILE [= TRAIN_FILE; validation is off]
#   MODEL_PATH [Qwen/Qwen2.5-VL-7B-Instruct]
#   NNODES [1]   GPUS_PER_NODE [4]   REWARD_PROFILE [paper | official]
#   OUTPUT_DIR [checkpoints/regionreasoner/regionreasoner-7b-grpo]
# Extra arguments are Hydra overrides passed to veRL, e.g. trainer.save_freq=50.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TRAIN_FILE="${TRAIN_FILE:-data/train-verl.parquet}"
VAL_FILE="${VAL_FILE:-$TRAIN_FILE}"
MODEL_PATH="${MODEL_PATH:-Qwen/Qwen2.5-VL-7B-Instruct}"
NNODES="${NNODES:-1}"
GPUS_PER_NODE="${GPUS_PER_NODE:-4}"
REWARD_PROFILE="${REWARD_PROFILE:-paper}"
OUTPUT_DIR="${OUTPUT_DIR:-checkpoints/regionreasoner/regionreasoner-7b-grpo}"
PYTHON="${PYTHON:-python3}"

# The reward function file of the installed package (veRL imports it by path).
REWARD_FILE="$("$PYTHON" -c 'import regionreasoner.integrations.verl as m; print(m.__file__)')"

if [[ ! -f "$TRAIN_FILE" ]]; then
    echo "run_grpo.sh: no training file $TRAIN_FILE; create it with" >&2
    echo "  regionreasoner export-train BENCH.jsonl --out $TRAIN_FILE --format verl" >&2
    exit 2
fi

exec "$PYTHON" -m verl.trainer.main_ppo \
    --config-path="$HERE" \
    --config-name=regionreasoner_grpo \
    data.train_files="$TRAIN_FILE" \
    data.val_files="$VAL_FILE" \
    actor_rollout_ref.model.path="$MODEL_PATH" \
    reward.custom_reward_function.path="$REWARD_FILE" \
    reward.custom_reward_function.name=compute_score \
    reward.custom_reward_function.reward_kwargs.profile="$REWARD_PROFILE" \
    trainer.nnodes="$NNODES" \
    trainer.n_gpus_per_node="$GPUS_PER_NODE" \
    trainer.default_local_dir="$OUTPUT_DIR" \
    "$@"
