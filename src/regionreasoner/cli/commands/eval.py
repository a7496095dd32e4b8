"""``regionreasoner eval``: run a model over RegionDial dialogues and score it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from regionreasoner.cli.argtypes import positive_int
from regionreasoner.cli.commands.base import Command
from regionreasoner.cli.options import (
    add_engine_arguments,
    add_max_image_pixels_argument,
    add_openai_arguments,
    engine_settings_kwargs,
    openai_settings_kwargs,
)

if TYPE_CHECKING:
    from regionreasoner.dialogue.engine import EvalResult, EvalSettings

DESCRIPTION = """\
Run a model over multi-round RegionDial dialogues, round by round, and write a run
directory: config.json, predictions.jsonl (one row per turn, appended as turns finish),
metrics.json (with 95 % bootstrap intervals), card.json (the reproducibility card),
report.md, rounds.png and report.html.

Model specs:
  hf:<path-or-id>                 transformers chat VLM (Qwen2.5-VL, Qwen2-VL, ...)
  openai:<base_url>#<model>       OpenAI-compatible server (vLLM, SGLang, transformers
                                  serve); serve it without a reasoning parser, or the
                                  text before <think> is lost and format/citation
                                  metrics come out null (docs/evaluation.md)
  replay:<predictions.jsonl>      re-score recorded outputs (text in the model frame)
  oracle[:delay=S,noise=PX,seed=N]  the ground truth in perfect format (tests)

Protocols:
  paper     (default) references in the model frame as bbox=[...], no GT fallback,
            tolerant parsing, --frame square840|native|image|rel1000|rel1|auto
  official  the released evaluation: 840x840, references as [x1, y1, x2, y2] in image
            pixels, GT fallback, strict parsing, greedy decoding

An interrupted run (Ctrl-C, SIGTERM, a crash, a kill) continues with --resume; no turn
is lost or done twice. Ctrl-C (SIGINT) and SIGTERM stop the run the same way, even when
it was started with SIGINT ignored (a background job of a script). Exit codes: 0 done,
2 bad input, 130 interrupted by SIGINT, 143 interrupted by SIGTERM (both resumable).

examples:
  regionreasoner eval --data data/synth/synth.jsonl --model oracle --segmenter box-fill \\
      --out runs/oracle
  regionreasoner eval --data bench.jsonl --model hf:Qwen/Qwen2.5-VL-7B-Instruct \\
      --segmenter sam2 --batch-size 16 --out runs/qwen --dtype bfloat16
  regionreasoner eval --data bench.jsonl --protocol official --segmenter sam2 \\
      --model "openai:http://localhost:8000/v1#lmsdss/RegionReasoner-7B" \\
      --concurrency 32 --out runs/rr7b-official
  regionreasoner eval --data bench.jsonl --model oracle --segmenter box-fill \\
      --out runs/s0 --shard 0/4
  regionreasoner eval --data bench.jsonl --model hf:Qwen/Qwen3-VL-8B-Instruct \\
      --prompt qwen3-grounding --frame auto --segmenter sam2 --out runs/qwen3

--frame auto first asks the model about synthetic scenes in every frame (as
`regionreasoner probe-frame` does), records the table in config.json and runs in the
frame that wins; it exits 2, writing nothing, when no frame wins clearly.
"""


def _shard(text: str) -> tuple[int, int]:
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N such as 0/4, got {text!r}") from None
    if not sep or n < 1 or not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"expected I/N with 0 <= I < N, got {text!r}")
    return i, n


class EvalCommand(Command):
    """Multi-round evaluation."""

    name = "eval"
    help = "run a model over RegionDial dialogues (resumable) and write metrics + reports"
    description = DESCRIPTION
    order = 40

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        io = parser.add_argument_group("data and output")
        io.add_argument(
            "--data",
            type=Path,
            required=True,
            metavar="BENCH.jsonl",
            help="RegionDial JSONL benchmark",
        )
        io.add_argument(
            "--images-root",
            type=Path,
            default=None,
            metavar="DIR",
            help="folder the image paths are relative to (default: the data file's folder)",
        )
        io.add_argument(
            "--out",
            type=Path,
            required=True,
            metavar="RUN_DIR",
            help="run directory (must be new or empty unless --resume/--overwrite)",
        )
        io.add_argument(
            "--resume", action="store_true", help="continue an interrupted run in RUN_DIR"
        )
        io.add_argument(
            "--overwrite",
            action="store_true",
            help="start again in a non-empty RUN_DIR (removes the files eval wrote)",
        )
        io.add_argument(
            "--shard",
            type=_shard,
            default=None,
            metavar="I/N",
            help="run only dialogues whose index in the file is I modulo N "
            "(0-based); merge shard directories with `regionreasoner score`",
        )
        io.add_argument(
            "--limit",
            type=positive_int,
            default=None,
            metavar="N",
            help="only the first N dialogues (of the shard)",
        )
        add_max_image_pixels_argument(io)

        ev = parser.add_argument_group("protocol")
        run = parser.add_argument_group("throughput")
        hf = parser.add_argument_group("hf backend")
        add_engine_arguments(
            ev,
            model_required=True,
            model_help="hf:PATH | openai:BASE_URL#MODEL | replay:FILE | oracle[:...]",
            segmenter_default="sam2",  # EvalSettings' default (a test checks they agree)
            segmenter_help="sam2[:HF_ID | :config=CFG,ckpt=PATH] (default sam2, hiera-large), "
            "box-fill, none",
            hf_group=hf,
            hf_sharding=True,
        )
        ev.add_argument(
            "--reference",
            default="predicted",
            metavar="POLICY",
            help="predicted (default: the model's own earlier box) or oracle "
            "(teacher forcing with ground-truth references)",
        )

        run.add_argument(
            "--batch-size",
            type=positive_int,
            default=None,
            metavar="N",
            help="requests per model call (default 8; openai: --concurrency)",
        )
        run.add_argument(
            "--window",
            type=positive_int,
            default=None,
            metavar="N",
            help="dialogues in flight at once (default 256)",
        )
        add_openai_arguments(run)

    def run(self, args: argparse.Namespace) -> int:
        from regionreasoner.cli.signals import interrupt_on_signals

        with interrupt_on_signals():
            return self._run(args)

    def _run(self, args: argparse.Namespace) -> int:
        from regionreasoner.cli.progress import TurnProgressBar, tqdm_progress
        from regionreasoner.cli.signals import exit_code_of
        from regionreasoner.dialogue.engine import evaluate

        settings = eval_settings(args)
        try:
            result = evaluate(
                settings,
                TurnProgressBar(self.name),
                probe_progress=tqdm_progress(f"{self.name}: frame probe", "batch"),
            )
        except KeyboardInterrupt as interrupt:
            print(
                f"regionreasoner eval: interrupted ({str(interrupt) or 'SIGINT'}); continue with "
                f"the same command plus --resume (run directory {args.out})",
                file=sys.stderr,
            )
            return exit_code_of(interrupt)
        print_eval_summary(result, self.name)
        return 0


def print_eval_summary(result: EvalResult, command: str) -> None:
    """Failed turns (stderr), the per-round table, what was written, unavailable metrics."""
    from regionreasoner.cli.notices import warn_unavailable_metrics
    from regionreasoner.evaluation.run_dir import REPORT_FILES
    from regionreasoner.evaluation.tables import format_round_table

    stats = result.stats
    probe = result.config.get("frame_probe")
    if probe:
        print(f"frame: {probe['verdict']}, chosen by the frame probe ({probe['reason']})")
    if stats.failed:
        print(
            f"{stats.failed} of {stats.turns} turns failed in the backend (recorded as "
            "failed and scored as misses)",
            file=sys.stderr,
        )
    metrics = result.metrics or {}
    print(format_round_table(metrics))
    print(f"\nwrote {', '.join(REPORT_FILES)} to {result.out}")
    warn_unavailable_metrics(metrics, command)


def eval_settings(args: argparse.Namespace) -> EvalSettings:
    """The :class:`EvalSettings` of ``eval``'s flags (unset flags keep the defaults)."""
    from regionreasoner.dialogue.engine import EvalSettings

    throughput = {
        name: getattr(args, name)
        for name in ("batch_size", "window")
        if getattr(args, name) is not None
    }
    return EvalSettings(
        data=args.data,
        out=args.out,
        model=args.model,
        reference=args.reference,
        images_root=args.images_root,
        resume=args.resume,
        overwrite=args.overwrite,
        shard=args.shard,
        limit=args.limit,
        **engine_settings_kwargs(args),
        **openai_settings_kwargs(args),
        **throughput,
    )


COMMAND = EvalCommand()
