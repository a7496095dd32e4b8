"""``regionreasoner score``: recompute metrics and reports of run directories in place."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from regionreasoner.cli.commands.base import Command

if TYPE_CHECKING:
    from regionreasoner.evaluation.card import PromptText


class ScoreCommand(Command):
    """Score ``predictions.jsonl`` of one run (or its shards) and write the reports."""

    name = "score"
    help = "recompute metrics.json and the reports of run directories (merges shards)"
    description = """\
Score the predictions.jsonl of a run directory written by `regionreasoner eval` and
(re)write metrics.json, card.json, report.md, rounds.png and report.html in place.
Several shard directories of one run (eval --shard I/N) are merged; their config.json
must agree on protocol, reference policy, model, data, prompt and segmenter.

Metrics (per round R1.. from the stored turn_index, and pooled as Avg):
  acc@0.5        any predicted box with IoU > 0.5 with the first GT box (the paper's "AP")
  acc@0.5_top1   the same for the first predicted box only
  gIoU / cIoU    mean per-turn mask I/U / sum I over sum U (null without masks)
  pass@T         turns with mask IoU > T, for T in 0.3 0.5 0.7 0.9
  format_ok, citation_rate, hallucinated_citation_rate, failed_turns
                 (the first three are null, with a warning, when a server dropped part of
                 the completions: see text_lost in predictions.jsonl)
  <metric>_ci    [low, high]: 95 % bootstrap interval over dialogues of acc@0.5, gIoU
                 and cIoU (1,000 resamples, seed 0; recorded under "bootstrap")
  given_reference_hit / given_reference_miss / errors_with_wrong_reference
                 rounds >= 2 split by whether the cited turn's first box was right

card.json records what produced the numbers (versions, model, prompt hash, protocol,
decoding, the data file's hash and counts) and, on data with published numbers, the
paper's figures beside this run's (docs/evaluation.md, section 10).

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
            args.run_dirs,
            out_dir=args.out,
            data_path=args.data,
            gallery_dialogues=gallery,
            prompt=template_prompt_text(args.run_dirs[0]),
        )
        print(format_round_table(metrics))
        target = args.out if args.out is not None else args.run_dirs[0]
        written = ", ".join(REPORT_FILES)
        print(f"\nwrote {written} to {target}")
        if metrics["failed_turns"]:
            print(f"note: {metrics['failed_turns']} failed turns were scored as misses")
        warn_unavailable_metrics(metrics, self.name)
        return 0


def template_prompt_text(run_dir: Path) -> PromptText | None:
    """The prompt text the card hashes for a run whose ``config.json`` recorded none
    (written before ``prompt_text``): the named template as this version renders it.
    ``None`` when the run recorded its text, or names no prompt this version knows."""
    from regionreasoner.dialogue.prompts import get_prompt
    from regionreasoner.errors import UnknownComponentError
    from regionreasoner.evaluation.card import PromptText
    from regionreasoner.evaluation.run_dir import read_config

    config = read_config(run_dir)
    if config is None or PromptText.from_config(config) is not None or not config.get("prompt"):
        return None
    try:
        return PromptText.from_template(get_prompt(str(config["prompt"])))
    except UnknownComponentError:
        return None


COMMAND = ScoreCommand()
