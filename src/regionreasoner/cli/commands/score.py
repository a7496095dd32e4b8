"""``regionreasoner score``: recompute metrics and reports of run directories in place."""

from __future__ import annotations

import argparse
from pathlib import Path

from regionreasoner.cli.commands.base import Command


class ScoreCommand(Command):
    """Score ``predictions.jsonl`` of one run (or its shards) and write the reports."""

    name = "score"
    help = "recompute metrics.json and the reports of run directories (merges shards)"
    description = """\
Score the predictions.jsonl of a run directory written by `regionreasoner eval` and
(re)write metrics.json, report.md, rounds.png and report.html in place. Several shard
directories of one run (eval --shard I/N) are merged; their config.json must agree on
protocol, reference policy, model, data, prompt and segmenter.

Metrics (per round R1.. from the stored turn_index, and pooled as Avg):
  acc@0.5        any predicted box with IoU > 0.5 with the first GT box (the paper's "AP")
  acc@0.5_top1   the same for the first predicted box only
  gIoU / cIoU    mean per-turn mask I/U / sum I over sum U (null without masks)
  pass@T         turns with mask IoU > T, for T in 0.3 0.5 0.7 0.9
  format_ok, citation_rate, hallucinated_citation_rate, failed_turns
                 (the first three are null, with a warning, when a server dropped part of
                 the completions: see text_lost in predictions.jsonl)

examples:
  regionreasoner score runs/oracle
  regionreasoner score runs/shard0 runs/shard1 --out runs/merged
  regionreasoner score runs/old --data data/synth/synth.jsonl
"""
    order = 50

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "run_dirs",
            nargs="+",
            type=Path,
            metavar="RUN_DIR",
            help="run directory of `regionreasoner eval` (several: shards)",
        )
        parser.add_argument(
            "--data",
            type=Path,
            default=None,
            metavar="BENCH.jsonl",
            help="benchmark file: ground truth for rows that lack it, gallery "
            "images (default: the data named in config.json)",
        )
        parser.add_argument(
            "--out",
            type=Path,
            default=None,
            metavar="DIR",
            help="where to write the outputs (default: the first RUN_DIR)",
        )
        parser.add_argument(
            "--gallery",
            type=int,
            default=None,
            metavar="N",
            help="dialogues drawn in report.html (default 8; 0: none)",
        )

    def run(self, args: argparse.Namespace) -> int:
        from regionreasoner.cli.notices import warn_unavailable_metrics
        from regionreasoner.errors import UserInputError
        from regionreasoner.evaluation.report import DEFAULT_GALLERY_DIALOGUES, write_reports
        from regionreasoner.evaluation.run_dir import REPORT_FILES
        from regionreasoner.evaluation.tables import format_round_table

        gallery = DEFAULT_GALLERY_DIALOGUES if args.gallery is None else args.gallery
        if gallery < 0:
            raise UserInputError(f"--gallery must be >= 0, got {gallery}")
        metrics = write_reports(
            args.run_dirs, out_dir=args.out, data_path=args.data, gallery_dialogues=gallery
        )
        print(format_round_table(metrics))
        target = args.out if args.out is not None else args.run_dirs[0]
        written = ", ".join(REPORT_FILES)
        print(f"\nwrote {written} to {target}")
        if metrics["failed_turns"]:
            print(f"note: {metrics['failed_turns']} failed turns were scored as misses")
        warn_unavailable_metrics(metrics, self.name)
        return 0


COMMAND = ScoreCommand()
