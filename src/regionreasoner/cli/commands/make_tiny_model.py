"""``regionreasoner make-tiny-model``: build an offline random-weight Qwen2.5-VL or Qwen3-VL."""

from __future__ import annotations

import argparse

from regionreasoner.cli.commands.base import Command


class MakeTinyModelCommand(Command):
    """Build a tiny random-weight Qwen2.5-VL or Qwen3-VL (tokenizer, processor, weights)."""

    name = "make-tiny-model"
    help = "build a tiny offline random-weight Qwen2.5-VL or Qwen3-VL for tests and CPU demos"
    description = (
        "Build a tiny Qwen2.5-VL (default) or Qwen3-VL (--family qwen3-vl; about 0.4-0.5 M\n"
        "parameters, 2 MB) fully offline: a byte-level BPE tokenizer trained on generated text\n"
        "with Qwen's special tokens and a Qwen-style chat template, the family's image\n"
        "processor with a small pixel budget (an image becomes 16 visual tokens) and random\n"
        "weights. The folder loads with AutoModelForImageTextToText and AutoProcessor, so it\n"
        "works as `--model hf:OUT_DIR` in `eval` and as the policy in `train`. It answers\n"
        "gibberish: it exists to exercise the pipelines, not to score. The same --seed gives\n"
        "byte-identical files.\n\n"
        "example:\n"
        "  regionreasoner make-tiny-model artifacts/tiny-qwen\n"
        "  regionreasoner make-tiny-model artifacts/tiny-qwen3 --family qwen3-vl\n"
        "  regionreasoner eval --data data/synth/synth.jsonl --model hf:artifacts/tiny-qwen \\\n"
        "      --out runs/tiny --max-new-tokens 32\n"
    )
    order = 90

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the model into")
        parser.add_argument(
            "--seed", type=int, default=0, help="seed of the tokenizer corpus and weights (0)"
        )
        parser.add_argument(
            "--family",
            default="qwen2.5-vl",
            metavar="FAMILY",
            help="architecture: qwen2.5-vl (default) or qwen3-vl",
        )

    def run(self, args: argparse.Namespace) -> int:
        from regionreasoner.micro.tiny import build_tiny_model

        out = build_tiny_model(args.out_dir, seed=args.seed, family=args.family)
        print(out)
        return 0


COMMAND = MakeTinyModelCommand()
