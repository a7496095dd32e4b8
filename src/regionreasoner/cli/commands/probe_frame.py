"""``regionreasoner probe-frame``: which coordinate frame does a model answer in?"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from regionreasoner.cli.argtypes import positive_int
from regionreasoner.cli.commands.base import Command
from regionreasoner.cli.options import (
    add_hf_arguments,
    add_openai_arguments,
    backend_options,
    frame_names,
    prompt_help,
)
from regionreasoner.cli.progress import tqdm_progress

PROBE_MAX_NEW_TOKENS = 512
"""Generation budget per probe answer (one object, one turn)."""


def _frames(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if len(names) < 2:
        raise argparse.ArgumentTypeError(f"expected at least two frame names, got {text!r}")
    return names


class ProbeFrameCommand(Command):
    """Ask a model about synthetic objects in every frame and name the frame it answers in."""

    name = "probe-frame"
    help = "find which coordinate frame a model answers in (square840, native, rel1000, ...)"
    description = (
        "Ask the model to locate objects in a few synthetic, deliberately non-square scenes\n"
        "(4:3 and 3:4, 1400x1050) whose boxes tell the frames apart, once per frame exactly as\n"
        "`eval --frame F` asks (the image shown as F shows it, the answer read in F's\n"
        "coordinates), and print one row per frame: acc@0.5, mean IoU and the share of\n"
        "well-formed answers, best first.\n\n"
        "Verdict: the best frame wins when its acc@0.5 is at least 0.5 and at least 0.25 above\n"
        "every other frame's; the command then exits 0. Otherwise it names the tied frames\n"
        "and exits 2 (choose --frame yourself: a model right under several frames, e.g. one\n"
        "answering in pixels of the image it is shown, may use any of them).\n\n"
        "`regionreasoner eval --frame auto` runs this probe before an evaluation and records\n"
        "its table in config.json.\n\n"
        "examples:\n"
        "  regionreasoner probe-frame --model hf:Qwen/Qwen3-VL-8B-Instruct \\\n"
        "      --prompt qwen3-grounding\n"
        "  regionreasoner probe-frame --model openai:http://localhost:8000/v1#qwen \\\n"
        "      --json probe.json\n"
        "  regionreasoner probe-frame --model oracle:frame=rel1000\n"
    )
    order = 55

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--model", required=True, metavar="SPEC", help="hf:PATH, openai:URL#MODEL, oracle"
        )
        parser.add_argument(
            "--prompt",
            default="regionreasoner",
            metavar="NAME",
            help=prompt_help("regionreasoner") + " (qwen3-grounding for Qwen3-VL)",
        )
        parser.add_argument(
            "--frames",
            type=_frames,
            default=None,
            metavar="A,B,...",
            help=f"frames to compare (default: all registered): {frame_names(auto=False)}",
        )
        parser.add_argument(
            "--images", type=positive_int, default=None, metavar="N", help="scenes (default 8)"
        )
        parser.add_argument("--seed", type=int, default=0, help="seed of the scenes (0)")
        parser.add_argument(
            "--batch-size", type=positive_int, default=None, metavar="N", help="requests per call"
        )
        parser.add_argument(
            "--max-new-tokens",
            type=positive_int,
            default=PROBE_MAX_NEW_TOKENS,
            metavar="N",
            help=f"generation budget per answer (default {PROBE_MAX_NEW_TOKENS})",
        )
        parser.add_argument(
            "--json", type=Path, default=None, metavar="PATH", help="also write the result here"
        )
        add_hf_arguments(parser.add_argument_group("hf backend"))
        add_openai_arguments(parser.add_argument_group("openai backend"))

    def run(self, args: argparse.Namespace) -> int:
        from regionreasoner.backends import load_backend
        from regionreasoner.dialogue.probe import (
            DEFAULT_PROBE_IMAGES,
            format_probe_table,
            run_probe,
        )
        from regionreasoner.dialogue.prompts import get_prompt
        from regionreasoner.fileio import atomic_write
        from regionreasoner.geometry.frames import FRAMES

        prompt = get_prompt(args.prompt)
        for name in args.frames or ():
            FRAMES.get(name)  # an unknown name fails before the model loads
        backend = load_backend(args.model, backend_options(args, seed=args.seed))

        batch_size = args.batch_size or getattr(backend, "preferred_batch_size", None) or 8
        try:
            result = run_probe(
                backend,
                prompt,
                frames=args.frames,
                n_images=args.images or DEFAULT_PROBE_IMAGES,
                seed=args.seed,
                batch_size=batch_size,
                max_new_tokens=args.max_new_tokens,
                progress=tqdm_progress("probe-frame", "batch"),
            )
        finally:
            backend.close()
        if args.json is not None:
            payload = {"model": args.model, **result.to_dict()}
            with atomic_write(args.json) as handle:
                json.dump(payload, handle, indent=2)
                handle.write("\n")
        print(format_probe_table(result))
        if not result.clear:
            print(
                f"probe-frame: no frame is a clear winner for {args.model}: {result.reason}; "
                "pass --frame explicitly",
                file=sys.stderr,
            )
            return 2
        return 0


COMMAND = ProbeFrameCommand()
