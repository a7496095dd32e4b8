"""``regionreasoner compare``: per-round mean ± spread of eval runs grouped by variant."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from regionreasoner.cli.commands.base import Command


class CompareCommand(Command):
    """Seed-spread tables over ``eval`` run directories (an ablation's table)."""

    name = "compare"
    help = "per-round mean ± std of eval runs grouped by variant (ablation tables)"
    description = """\
Read the metrics.json of several `regionreasoner eval` run directories, group them by
variant (e.g. one run per training seed) and print, for each metric, a markdown table
with one row per variant and one column per round, plus R2+ (the turn-weighted mean of
rounds 2 and later). Cells are percent, "mean ± sample std" over the variant's runs
(the mean alone for one run). Rounds where a metric is null are left out.

Each VARIANT is LABEL=GLOB[,GLOB...]; quote it so the shell does not expand the glob.

Variants with ONE run each on the same data file (same SHA-256 in card.json) are also
compared dialogue by dialogue against the first of them: for acc@0.5, gIoU and cIoU,
the difference per round, R2+ and all turns with a 95 % paired bootstrap interval over
dialogues (1,000 resamples, seed 0), and whether it excludes zero. A run with
--reference predicted against one with --reference oracle is shown as the
predicted - oracle gap: what the model loses to its own earlier answers. When every
run's card names RegionDial-Bench RefCOCO+/RefCOCOg or a single-round test split, the
tables end with the paper's published figures.

examples:
  regionreasoner compare 'SFT=runs/sft/eval' 'GRPO base=runs/base-s*/eval' \\
      'GRPO +ref+cons=runs/full-s*/eval' --out ablation.md
  regionreasoner compare 'a=runs/a' 'b=runs/b' --metric acc@0.5 --metric pass@0.7
  regionreasoner compare 'predicted=runs/qwen-pred' 'oracle=runs/qwen-oracle'
"""
    order = 45

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "variants", nargs="+", metavar="VARIANT", help="LABEL=GLOB[,GLOB...] of eval run dirs"
        )
        parser.add_argument(
            "--metric",
            action="append",
            help="metric key of metrics.json rounds (repeatable; default acc@0.5 and gIoU)",
        )
        parser.add_argument(
            "--out", type=Path, help="also write the tables to this markdown file (atomically)"
        )

    def run(self, args: argparse.Namespace) -> int:
        from regionreasoner.evaluation.compare import (
            DEFAULT_METRICS,
            pair_runs,
            parse_group,
            render_pairs,
            render_tables,
            summarise,
        )
        from regionreasoner.fileio import atomic_write

        groups = dict(parse_group(spec) for spec in args.variants)
        metrics = tuple(args.metric or DEFAULT_METRICS)
        parts = [render_tables(summarise(groups, metrics), metrics)]
        pairs, notes = pair_runs(groups)
        paired = render_pairs(pairs, metrics)
        if paired:
            parts.append(paired)
        parts += [f"Note: {note}." for note in notes]
        text = "\n\n".join(parts) + "\n"
        if args.out:
            with atomic_write(args.out) as f:
                f.write(text)
        sys.stdout.write(text)
        return 0


COMMAND = CompareCommand()
