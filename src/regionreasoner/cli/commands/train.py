"""``regionreasoner train``: GRPO or SFT of a Qwen2.5-VL policy on TRL."""

from __future__ import annotations

import argparse

from regionreasoner.cli.commands.base import Command
from regionreasoner.cli.options import add_max_image_pixels_argument, frame_names

_SHOWN_PREFIXES = ("rewards/", "reward", "loss", "completions/mean_length", "dialogue/")


class TrainCommand(Command):
    """Run GRPO (default) or an SFT warm start from a YAML config."""

    name = "train"
    help = "train a policy with GRPO (or an SFT warm start) on TRL"
    description = (
        "Train a Qwen2.5-VL or Qwen3-VL policy on RegionDial data with TRL: GRPO with one\n"
        "logged reward per component (rewards/<component>/mean), or --stage sft, a\n"
        "supervised warm start on four-tag targets rendered from the ground truth. --frame\n"
        "names the frame the policy answers in (rel1000 for Qwen3-VL; the rewards convert\n"
        "each row into their 840x840 frame). The config is a YAML file (unknown\n"
        "keys are errors); KEY=VALUE arguments override it with dotted paths, values read as\n"
        "YAML. `rollout: dialogue` rolls out whole dialogues whose later questions cite the\n"
        "policy's own earlier boxes, with per-round logs (rewards/round2/accuracy/mean).\n"
        "Checkpoints go to output_dir/checkpoint-N; --resume continues from the latest.\n"
        "The final model is saved in output_dir: evaluate it with\n"
        "`regionreasoner eval --model hf:OUTPUT_DIR ...`. See docs/training.md.\n\n"
        "examples:\n"
        "  regionreasoner train --config configs/grpo-tiny-cpu.yaml        # CPU, ~1 min\n"
        "  regionreasoner train --config configs/sft-tiny-cpu.yaml\n"
        "  regionreasoner train --config configs/grpo-dialogue-tiny-cpu.yaml   # whole dialogues\n"
        "  regionreasoner train --config configs/grpo-tiny-cpu.yaml trainer.max_steps=4 \\\n"
        "      output_dir=runs/grpo-tiny-4\n"
        "  regionreasoner train --config configs/grpo-tiny-cpu.yaml --frame rel1000 \\\n"
        "      model.path=tiny://artifacts/tiny-qwen3 model.tiny_family=qwen3-vl\n"
        "  accelerate launch --config_file configs/accelerate/zero3.yaml --num_processes 4 \\\n"
        "      -m regionreasoner train --config configs/grpo-qwen2.5-vl-7b.yaml\n"
    )
    order = 70

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--config", required=True, metavar="CONFIG.yaml", help="training config (YAML)"
        )
        parser.add_argument(
            "overrides",
            nargs="*",
            metavar="KEY=VALUE",
            help="config overrides with dotted keys, e.g. trainer.learning_rate=1e-5",
        )
        parser.add_argument(
            "--stage",
            choices=("grpo", "sft"),
            default=None,
            help="grpo (reinforcement learning) or sft (warm start); default: the config's",
        )
        parser.add_argument(
            "--frame",
            default=None,
            metavar="NAME",
            help="the frame the policy is shown images and answers in (sets data.frame and "
            f"dialogue.frame): {frame_names(auto=False)}; default: the config's",
        )
        parser.add_argument(
            "--resume",
            action="store_true",
            help="continue from the latest checkpoint in output_dir (fresh start if none)",
        )
        add_max_image_pixels_argument(parser)  # the config key data.max_image_pixels

    def run(self, args: argparse.Namespace) -> int:
        from regionreasoner.integrations.train import run_training
        from regionreasoner.integrations.train_config import load_config

        overrides = list(args.overrides)
        if args.max_image_pixels is not None:
            overrides.append(f"data.max_image_pixels={args.max_image_pixels}")
        config = load_config(args.config, overrides, stage=args.stage, frame=args.frame)
        result = run_training(config, resume=args.resume, config_source=args.config)
        last = result.last_log()
        print(
            f"{result.stage}: {result.global_step} steps in {result.train_runtime_s:.1f} s"
            + (f" (resumed from {result.resumed_from.name})" if result.resumed_from else "")
        )
        for key in sorted(last):
            if key.startswith(_SHOWN_PREFIXES) and not key.endswith("/std"):
                value = last[key]
                shown = f"{value:.4g}" if isinstance(value, (int, float)) else str(value)
                print(f"  {key} = {shown}")
        print(f"model saved to {result.output_dir}")
        return 0


COMMAND = TrainCommand()
