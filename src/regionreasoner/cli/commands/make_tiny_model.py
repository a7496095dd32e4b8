"""``regionreasoner make-tiny-model``: build the offline random-weight Qwen2.5-VL."""

from __future__ import annotations

import argparse

from regionreasoner.cli.commands.base import Command


class MakeTinyModelCommand(Command):
    """Build a tiny random-weight Qwen2.5-VL (tokenizer, processor, chat template, weights)."""

    name = "make-tiny-model"
    help = "build a tiny offline random-weight Qwen2.5-VL for tests and CPU demos"
    description = (
        "Build a tiny Qwen2.5-VL (about 0.4 M parameters, 1.5 MB) fully offline: a byte-level\n"
        "BPE tokenizer trained on generated text with Qwen's special tokens and a Qwen-style\n"
        "chat template, an image processor with a small pixel budget (an image becomes 16\n"
        "visual tokens) and random weights. The folder loads with AutoModelForImageTextToText\n"
        "and AutoProcessor, so it works as `--model hf:OUT_DIR` in `eval` and as the policy in\n"
        "`train`. It answers gibberish: it exists to exercise the pipelines, not to score.\n"
        "The same --seed gives byte-identical files.\n\n"
        "example:\n"
        "  regionreasoner make-tiny-model artifacts/tiny-qwen\n"
        "  regionreasoner eval --data data/synth/synth.jsonl --model hf:artifacts/tiny-qwen \\\n"
        "      --out runs/tiny --max-new-tokens 32\n"
    )
    order = 90

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the model into")
        parser.add_argument(
            "--seed", type=int, default=0, help="seed of the tokenizer corpus and weights (0)"
        )

    def run(self, args: argparse.Namespace) -> int:
        from regionreasoner.micro.tiny import build_tiny_model

        out = build_tiny_model(args.out_dir, seed=args.seed)
        print(out)
        return 0


COMMAND = MakeTinyModelCommand()
