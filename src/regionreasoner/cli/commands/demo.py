"""``regionreasoner demo``: the whole pipeline on a fresh synthetic test set, offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from regionreasoner.cli.commands.base import Command
from regionreasoner.dialogue.demo import (
    DEFAULT_DEMO_DIALOGUES,
    DEFAULT_DEMO_SEED,
    DEFAULT_DEMO_SEGMENTER,
)

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
            default=DEFAULT_DEMO_SEGMENTER,
            help="segmenter spec (default box-fill; sam2 needs a checkpoint)",
        )
        parser.add_argument(
            "--reference",
            default="predicted",
            choices=("predicted", "oracle"),
            help="reference policy (default predicted)",
        )

    def run(self, args: argparse.Namespace) -> int:
        from regionreasoner.cli.commands.build import report_build
        from regionreasoner.cli.commands.eval import print_eval_summary
        from regionreasoner.cli.progress import TurnProgressBar, tqdm_progress
        from regionreasoner.dialogue.demo import demo_model, run_demo
        from regionreasoner.errors import UserInputError
        from regionreasoner.evaluation.run_dir import REPORT_HTML_FILE

        if args.dialogues < 1:
            raise UserInputError(f"--dialogues must be >= 1, got {args.dialogues}")
        model = demo_model(args.model)
        if model.oracle_fallback:
            print(
                "demo: this installation has no bundled micro model yet; running the "
                "pipeline with the `oracle` backend (ground truth in perfect format).",
                file=sys.stderr,
            )
        result = run_demo(
            args.out,
            model=model,
            dialogues=args.dialogues,
            seed=args.seed,
            segmenter=args.segmenter,
            reference=args.reference,
            build_progress=tqdm_progress("build synth", "dialogue"),
            on_built=lambda built: report_build(built, show_stats=False),
            progress=TurnProgressBar("eval"),
        )
        print_eval_summary(result.run, "eval")
        print()
        print(format_baseline_table(result.run.metrics or {}, result.baseline))
        print(f"\nreport: {result.run.out / REPORT_HTML_FILE}")
        return 0


def format_baseline_table(metrics: dict[str, Any], baseline: dict[str, Any]) -> str:
    """Per-round acc@0.5 of the model beside the random-object baseline (percent)."""
    rounds = sorted(baseline["rounds"], key=int)
    header = ["", *(f"R{r}" for r in rounds), "Avg"]

    def row(label: str, source: dict[str, Any]) -> list[str]:
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
