"""``regionreasoner demo``: the whole pipeline on a fresh synthetic test set, offline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from regionreasoner.cli.commands.base import Command

DESCRIPTION = """\
Build a fresh synthetic RegionDial test set, evaluate a model on it round by round
(paper protocol, predicted references: later questions cite the region the model itself
found earlier), print the per-round table beside the random-object baseline, and write
the full run directory (metrics.json, report.md, rounds.png, report.html with a gallery).

By default it evaluates the micro RegionReasoner bundled with the package. An
installation without a bundled model runs the same pipeline with the `oracle` backend
(the ground truth in perfect four-tag format) and says so.

examples:
  regionreasoner demo
  regionreasoner demo --dialogues 20 --out runs/demo-small
  regionreasoner demo --model hf:path/to/checkpoint --segmenter box-fill
"""

DEFAULT_DEMO_DIALOGUES = 100
"""About 360 turns: with 50 dialogues the last rounds have 6-15 turns each, too few for a
per-round figure; 100 still runs in under a minute on 2 CPU cores."""
DEFAULT_DEMO_SEED = 1000
"""Seed of the demo test set; training recipes use other seeds."""

BUNDLED_MAX_NEW_TOKENS = 192
"""Generation budget per turn for the bundled micro model (its answers are ~30-70
tokens); bounds the demo's time even if a turn never closes its answer."""


class DemoCommand(Command):
    name = "demo"
    help = "end-to-end demo: synthetic test set -> multi-round eval -> report"
    description = DESCRIPTION
    order = 5

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--model",
            default=None,
            help="model spec (default: the bundled micro model, else oracle)",
        )
        parser.add_argument(
            "--out",
            type=Path,
            default=Path("runs/demo"),
            help="output folder: data/ and run/ (default runs/demo)",
        )
        parser.add_argument(
            "--dialogues",
            type=int,
            default=DEFAULT_DEMO_DIALOGUES,
            help=f"test dialogues (default {DEFAULT_DEMO_DIALOGUES})",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=DEFAULT_DEMO_SEED,
            help=f"seed of the test set (default {DEFAULT_DEMO_SEED})",
        )
        parser.add_argument(
            "--segmenter",
            default="box-fill",
            help="segmenter spec (default box-fill; sam2 needs a checkpoint)",
        )
        parser.add_argument(
            "--reference",
            default="predicted",
            choices=("predicted", "oracle"),
            help="reference policy (default predicted)",
        )

    def run(self, args: argparse.Namespace) -> int:
        from regionreasoner.assets import bundled_model_path
        from regionreasoner.cli.main import main as cli_main
        from regionreasoner.data.io import read_dialogues
        from regionreasoner.errors import UserInputError
        from regionreasoner.evaluation.baselines import random_object_accuracy

        if args.dialogues < 1:
            raise UserInputError(f"--dialogues must be >= 1, got {args.dialogues}")
        model = args.model
        extra: list[str] = []
        if model is None:
            bundled = bundled_model_path()
            if bundled is None:
                model = "oracle"
                print(
                    "demo: this installation has no bundled micro model yet; running the "
                    "pipeline with the `oracle` backend (ground truth in perfect format).",
                    file=sys.stderr,
                )
            else:
                model = f"hf:{bundled}"
                extra = ["--max-new-tokens", str(BUNDLED_MAX_NEW_TOKENS)]
        data_dir, run_dir = args.out / "data", args.out / "run"
        code = cli_main(
            [
                "build",
                "synth",
                "--out",
                str(data_dir),
                "--dialogues",
                str(args.dialogues),
                "--seed",
                str(args.seed),
            ]
        )
        if code:
            return code
        data = data_dir / "synth.jsonl"
        code = cli_main(
            [
                "eval",
                "--data",
                str(data),
                "--model",
                model,
                "--out",
                str(run_dir),
                "--overwrite",
                "--protocol",
                "paper",
                "--reference",
                args.reference,
                "--segmenter",
                args.segmenter,
                *extra,
            ]
        )
        if code:
            return code
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        baseline = random_object_accuracy(read_dialogues(data))
        (run_dir / "baseline.json").write_text(
            json.dumps({"random_object": baseline}, indent=2) + "\n", encoding="utf-8"
        )
        print()
        print(format_baseline_table(metrics, baseline))
        print(f"\nreport: {run_dir / 'report.html'}")
        return 0


def format_baseline_table(metrics: dict, baseline: dict) -> str:
    """Per-round acc@0.5 of the model beside the random-object baseline (percent)."""
    rounds = sorted(baseline["rounds"], key=int)
    header = ["", *(f"R{r}" for r in rounds), "Avg"]

    def row(label: str, source: dict) -> list[str]:
        cells = [label]
        for key in [*rounds, None]:
            entry = source["overall"] if key is None else source.get("rounds", {}).get(key, {})
            value = entry.get("acc@0.5")
            cells.append("-" if value is None else f"{100 * value:.1f}")
        return cells

    lines = [header, row("model acc@0.5", metrics), row("random object", baseline)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in lines
    )


COMMAND = DemoCommand()
