"""``regionreasoner eval``: run a model over RegionDial dialogues and score it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from regionreasoner.cli.argtypes import non_negative_float, positive_int
from regionreasoner.cli.commands.base import Command

DESCRIPTION = """\
Run a model over multi-round RegionDial dialogues, round by round, and write a run
directory: config.json, predictions.jsonl (one row per turn, appended as turns finish),
metrics.json, report.md, rounds.png and report.html.

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
            tolerant parsing, --frame square840|native
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


VERSIONS_RECORDED = ("numpy", "pillow", "pycocotools", "torch", "transformers", "sam2", "httpx")
"""Packages whose versions ``config.json`` records (``versions``), beside Python's and
this package's own."""


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

        ev = parser.add_argument_group("protocol")
        ev.add_argument(
            "--model",
            required=True,
            metavar="SPEC",
            help="hf:PATH | openai:BASE_URL#MODEL | replay:FILE | oracle[:...]",
        )
        ev.add_argument(
            "--protocol", default="paper", metavar="NAME", help="paper (default) or official"
        )
        ev.add_argument(
            "--reference",
            default="predicted",
            metavar="POLICY",
            help="predicted (default: the model's own earlier box) or oracle "
            "(teacher forcing with ground-truth references)",
        )
        ev.add_argument(
            "--prompt",
            default="regionreasoner",
            metavar="NAME",
            help="prompt template: regionreasoner (default), regionreasoner-train, "
            "visionreasoner, qwen-grounding, plain",
        )
        ev.add_argument(
            "--frame",
            default="square840",
            metavar="FRAME",
            help="model frame of the paper protocol: square840 (default) or "
            "native (Qwen2.5-VL processor size)",
        )
        ev.add_argument(
            "--segmenter",
            default="sam2",
            metavar="SPEC",
            help="sam2[:HF_ID | :config=CFG,ckpt=PATH] (default sam2, hiera-large), box-fill, none",
        )
        ev.add_argument(
            "--max-new-tokens",
            type=positive_int,
            default=None,
            metavar="N",
            help="generation budget per turn (default 2048, as released)",
        )
        ev.add_argument(
            "--temperature",
            type=non_negative_float,
            default=0.0,
            metavar="T",
            help="0 = greedy decoding (default)",
        )
        ev.add_argument("--seed", type=int, default=0, help="seed for sampling and the oracle")

        run = parser.add_argument_group("throughput")
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
        run.add_argument(
            "--concurrency",
            type=positive_int,
            default=None,
            metavar="N",
            help="openai: parallel requests (default 8)",
        )
        run.add_argument(
            "--request-timeout",
            type=non_negative_float,
            default=None,
            metavar="SECONDS",
            help="openai: seconds per attempt (default 300)",
        )
        run.add_argument(
            "--max-retries",
            type=int,
            default=None,
            metavar="N",
            help="openai: retries on 5xx/429/timeouts/connection errors (default 3)",
        )
        run.add_argument(
            "--retry-backoff",
            type=non_negative_float,
            default=None,
            metavar="SECONDS",
            help="openai: first retry delay, doubling (default 1)",
        )
        run.add_argument(
            "--image-format",
            choices=("png", "jpeg"),
            default="png",
            help="openai: image encoding of the data URL (default png, lossless)",
        )

        hf = parser.add_argument_group("hf backend")
        hf.add_argument("--dtype", default="auto", help="auto, bfloat16, float16, float32")
        hf.add_argument(
            "--device", default=None, help="model (and SAM2) device, e.g. cuda, cuda:1, cpu"
        )
        hf.add_argument(
            "--device-map",
            default=None,
            metavar="MAP",
            help="e.g. auto: shard the model over all GPUs",
        )
        hf.add_argument(
            "--attn-implementation",
            default=None,
            metavar="IMPL",
            help="e.g. sdpa, flash_attention_2",
        )

    def run(self, args: argparse.Namespace) -> int:
        from regionreasoner.cli.signals import interrupt_on_signals

        with interrupt_on_signals():
            return self._run(args)

    def _run(self, args: argparse.Namespace) -> int:
        from regionreasoner.backends import BackendOptions, load_backend
        from regionreasoner.backends.base import (
            DEFAULT_CONCURRENCY,
            DEFAULT_MAX_NEW_TOKENS,
            DEFAULT_MAX_RETRIES,
            DEFAULT_REQUEST_TIMEOUT_S,
            DEFAULT_RETRY_BACKOFF_S,
        )
        from regionreasoner.cli.notices import warn_unavailable_metrics
        from regionreasoner.cli.signals import exit_code_of
        from regionreasoner.data.io import read_dialogues
        from regionreasoner.dialogue.policy import get_reference_policy
        from regionreasoner.dialogue.prompts import get_prompt
        from regionreasoner.dialogue.protocols import get_protocol
        from regionreasoner.dialogue.runner import (
            DEFAULT_BATCH_SIZE,
            DEFAULT_WINDOW,
            DialogueRunner,
            check_images,
        )
        from regionreasoner.errors import UserInputError
        from regionreasoner.evaluation.predictions import (
            PredictionsLog,
            read_done_rows,
            repair_torn_tail,
        )
        from regionreasoner.evaluation.report import format_round_table, write_reports
        from regionreasoner.evaluation.run_dir import (
            PREDICTIONS_FILE,
            check_resume_compatible,
            check_run_dir,
            prepare_run_dir,
            read_config,
            write_config,
        )
        from regionreasoner.provenance import software_versions
        from regionreasoner.segmenters import load_segmenter

        if not args.data.is_file():
            raise UserInputError(f"--data {args.data}: file not found")
        if args.max_retries is not None and args.max_retries < 0:
            raise UserInputError(f"--max-retries must be >= 0, got {args.max_retries}")
        prompt = get_prompt(args.prompt)
        protocol = get_protocol(args.protocol, frame=args.frame)
        policy = get_reference_policy(args.reference)
        options = BackendOptions(
            dtype=args.dtype,
            device=args.device,
            device_map=args.device_map,
            attn_implementation=args.attn_implementation,
            concurrency=args.concurrency or DEFAULT_CONCURRENCY,
            request_timeout_s=(
                DEFAULT_REQUEST_TIMEOUT_S if args.request_timeout is None else args.request_timeout
            ),
            max_retries=DEFAULT_MAX_RETRIES if args.max_retries is None else args.max_retries,
            retry_backoff_s=(
                DEFAULT_RETRY_BACKOFF_S if args.retry_backoff is None else args.retry_backoff
            ),
            image_format=args.image_format,
            temperature=args.temperature,
            seed=args.seed,
        )
        protocol.check_decoding(greedy=options.greedy)
        max_new_tokens = args.max_new_tokens or DEFAULT_MAX_NEW_TOKENS

        dialogues = read_dialogues(args.data)
        if args.shard is not None:
            index, count = args.shard
            dialogues = [d for i, d in enumerate(dialogues) if i % count == index]
        if args.limit is not None:
            dialogues = dialogues[: args.limit]
        if not dialogues:
            raise UserInputError(
                f"--data {args.data}: no dialogues to evaluate (empty file or shard)"
            )

        settings: dict[str, Any] = {
            "data": str(args.data.resolve()),
            "images_root": str(args.images_root.resolve()) if args.images_root else None,
            "model": args.model,
            "protocol": protocol.name,
            "reference_policy": policy.name,
            "prompt": prompt.name,
            "frame": protocol.frame_name,
            "segmenter": args.segmenter,
            "shard": f"{args.shard[0]}/{args.shard[1]}" if args.shard else None,
            "limit": args.limit,
            "max_new_tokens": max_new_tokens,
            "temperature": options.temperature,
            "seed": args.seed,
        }
        check_run_dir(args.out, resume=args.resume, overwrite=args.overwrite)
        previous = read_config(args.out) if args.resume else None
        if previous is not None:
            check_resume_compatible(previous, settings)
        check_images(dialogues, data_path=args.data, images_root=args.images_root)

        # Fail fast: the segmenter loads quicker than a large model.
        segmenter = load_segmenter(args.segmenter, device=args.device)
        backend = load_backend(args.model, options)
        runner = DialogueRunner(
            backend,
            segmenter,
            protocol,
            policy,
            prompt,
            data_path=args.data,
            images_root=args.images_root,
            batch_size=(
                args.batch_size
                or getattr(backend, "preferred_batch_size", None)
                or DEFAULT_BATCH_SIZE
            ),
            window=args.window or DEFAULT_WINDOW,
            max_new_tokens=max_new_tokens,
        )
        prepare_run_dir(args.out, resume=args.resume, overwrite=args.overwrite)
        predictions = args.out / PREDICTIONS_FILE
        done = {}
        if args.resume:
            repair_torn_tail(predictions)
            done = read_done_rows(predictions)
        if previous is None:
            write_config(
                args.out,
                {
                    **settings,
                    "dialogues": len(dialogues),
                    "turns": sum(len(d.turns) for d in dialogues),
                    "batch_size": runner.batch_size,
                    "window": runner.window,
                    "backend": backend.name,
                    "backend_settings": backend.describe(),
                    "segmenter_settings": segmenter.describe(),
                    "protocol_settings": protocol.describe(),
                    "system_prompt": prompt.system,
                    "versions": software_versions(VERSIONS_RECORDED),
                },
            )

        todo = runner.pending_turns(dialogues, done)
        if done:
            print(
                f"resuming: {len(done)} turns already in {predictions}, {todo} to go",
                file=sys.stderr,
            )
        stats = None
        from tqdm import tqdm

        bar = tqdm(
            total=todo,
            unit="turn",
            desc="eval",
            file=sys.stderr,
            dynamic_ncols=True,
            disable=todo == 0,
        )
        try:
            with PredictionsLog(predictions) as log:
                stats = runner.run(
                    dialogues, done=done, emit=log.append, end_round=log.sync, progress=bar.update
                )
        except KeyboardInterrupt as interrupt:
            bar.close()
            print(
                f"regionreasoner eval: interrupted ({str(interrupt) or 'SIGINT'}); continue with "
                f"the same command plus --resume (run directory {args.out})",
                file=sys.stderr,
            )
            return exit_code_of(interrupt)
        finally:
            bar.close()
            backend.close()
            segmenter.close()
        if stats.failed:
            print(
                f"{stats.failed} of {stats.turns} turns failed in the backend (recorded as "
                "failed and scored as misses)",
                file=sys.stderr,
            )

        metrics = write_reports([args.out], data_path=args.data)
        print(format_round_table(metrics))
        print(f"\nwrote {args.out}/metrics.json, report.md, rounds.png and report.html")
        warn_unavailable_metrics(metrics, self.name)
        return 0


COMMAND = EvalCommand()
