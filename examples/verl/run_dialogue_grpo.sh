#!/usr/bin/env bash
# RegionReasoner dialogue-level GRPO on veRL (Ray + FSDP + vLLM rollouts through the
# regionreasoner_dialogue agent loop), one or several nodes. Same set-up as run_grpo.sh,
# with dialogue rows instead of single turns:
#
#   python -m regionreasoner.integrations.verl_dialogue BENCH.jsonl data/train-verl-dialogue.parquet
#   NNODES=1 GPUS_PER_NODE=4 bash examples/verl/run_dialogue_grpo.sh
#
# Environment variables (defaults in brackets):
#   TRAIN_FILE [data/train-verl-dialogue.parquet]   VAL_FILE [= TRAIN_FILE; validation is off]
#   MODEL_PATH [Qwen/Qwen2.5-VL-7B-Instruct]   NNODES [1]   GPUS_PER_NODE [4]
#   REWARD_PROFILE [paper | official]   OUTPUT_DIR [checkpoints/regionreasoner/regionreasoner-7b-dialogue-grpo]
# Extra arguments are Hydra overrides passed to veRL, e.g.
#   reward.custom_reward_function.reward_kwargs.advantage=discounted
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TRAIN_FILE="${TRAIN_FILE:-data/train-verl-dialogue.parquet}"
VAL_FILE="${VAL_FILE:-$TRAIN_FILE}"
MODEL_PATH="${MODEL_PATH:-Qwen/Qwen2.5-VL-7B-Instruct}"
NNODES="${NNODES:-1}"
GPUS_PER_NODE="${GPUS_PER_NODE:-4}"
REWARD_PROFILE="${REWARD_PROFILE:-paper}"
OUTPUT_DIR="${OUTPUT_DIR:-checkpoints/regionreasoner/regionreasoner-7b-dialogue-grpo}"
PYTHON="${PYTHON:-python3}"

# The reward file of the installed package (veRL imports it by path).
REWARD_FILE="$("$PYTHON" -c 'import regionreasoner.integrations.verl_dialogue as m; print(m.__file__)')"

if [[ ! -f "$TRAIN_FILE" ]]; then
    echo "run_dialogue_grpo.sh: no training file $TRAIN_FILE; create it with" >&2
    echo "  python -m regionreasoner.integrations.verl_dialogue BENCH.jsonl $TRAIN_FILE" >&2
    exit 2
fi

exec "$PYTHON" -m verl.trainer.main_ppo \
    --config-path="$HERE" \
    --config-name=regionreasoner_grpo \
    +regionreasoner=dialogue \
    data.train_files="$TRAIN_FILE" \
    data.val_files="$VAL_FILE" \
    actor_rollout_ref.model.path="$MODEL_PATH" \
    actor_rollout_ref.rollout.agent.agent_loop_config_path="$HERE/regionreasoner_dialogue_agent.yaml" \
    reward.custom_reward_function.path="$REWARD_FILE" \
    reward.custom_reward_function.name=compute_dialogue_score \
    reward.custom_reward_function.reward_kwargs.profile="$REWARD_PROFILE" \
    trainer.nnodes="$NNODES" \
    trainer.n_gpus_per_node="$GPUS_PER_NODE" \
    trainer.default_local_dir="$OUTPUT_DIR" \
    "$@"
