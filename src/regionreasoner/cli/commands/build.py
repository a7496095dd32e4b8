"""``regionreasoner build refcoco|synth``: construct RegionDial-Bench dialogues."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from regionreasoner.cli.commands.base import Command, add_parser
from regionreasoner.cli.progress import tqdm_progress

REFCOCO_DESCRIPTION = """\
Build multi-round dialogues from the refer toolkit's files (RefCOCO, RefCOCO+, RefCOCOg):
every image of the split with at least two referred objects becomes one dialogue of 2 to
--max-turns turns. Turn 1 is a human expression; most later turns cite an earlier turn's
region through a relation that is TRUE for the ground-truth boxes (rules in
docs/benchmark.md). Targets keep their COCO annotation id, xyxy box and RLE mask.

The refs pickle is read with a restricted unpickler: a file that references any code
(a class, os.system, ...) is refused with exit 2 and nothing in it is executed.

--split follows the toolkit's getRefIds: 'test' = every split containing "test"
(test, testA, testB), testA/testB select one, train/val match exactly.

--single-round writes the standard single-round tasks instead: one ONE-TURN record per
referring expression (the unit published RefCOCO/+/g numbers count), no references.
Without --split, --out is a folder that receives DATASET_SPLIT_single-round.jsonl for
every standard split the refs file holds (RefCOCO, RefCOCO+: val, testA, testB;
RefCOCOg umd: val, test); with --split, --out is that split's file. --seed and
--max-turns do not apply (nothing is random, every record has one turn).

examples:
  regionreasoner build refcoco --refs refer/data/refcocog/refs(umd).p \\
      --instances refer/data/refcocog/instances.json --split test --out bench/refcocog.jsonl \\
      --images-root coco/train2014 --stats
  regionreasoner build refcoco --refs 'refcoco+/refs(unc).p' --instances refcoco+/instances.json \\
      --split testA --out refcoco+_testA.jsonl --seed 1 --max-turns 5
  regionreasoner build refcoco --single-round --refs 'refcocog/refs(umd).p' \\
      --instances refcocog/instances.json --out bench/single
"""

SYNTH_DESCRIPTION = """\
Build a procedural benchmark that needs nothing from outside: one image per dialogue
with several flat shapes (varied colours, sizes, textures, overlaps and backgrounds,
with same-kind distractors), exact masks, unique referring expressions ("the small
striped red triangle"), relation chains of 2 to --max-turns turns built with the same
relation rules as 'build refcoco', and scene/focus captions on every turn. Writes
DIR/synth.jsonl and DIR/images/000000.png, ...; same seed, same bytes.

examples:
  regionreasoner build synth --out data/synth --dialogues 50
  regionreasoner build synth --out data/synth_small --dialogues 200 --image-size 160x120 --seed 3
"""


class BuildCommand(Command):
    """Build RegionDial-Bench dialogues from RefCOCO-style files or synthetic scenes."""

    name = "build"
    help = "build RegionDial-Bench dialogues (from RefCOCO files or synthetic scenes)"
    description = """\
Construct a RegionDial JSONL benchmark.

sources:
  refcoco   multi-round chains over the refer toolkit's RefCOCO/RefCOCO+/RefCOCOg files
  synth     a procedural benchmark (images, masks, expressions, captions) from a seed

examples:
  regionreasoner build synth --out data/synth --dialogues 50
  regionreasoner build refcoco --refs 'refcocog/refs(umd).p' --instances refcocog/instances.json \\
      --split test --out bench/refcocog.jsonl --stats
"""
    order = 10

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sources = parser.add_subparsers(title="sources", metavar="SOURCE", dest="build_source")
        sources.required = True

        refcoco = add_parser(
            sources,
            "refcoco",
            "dialogues from refer-toolkit refs + COCO instances",
            REFCOCO_DESCRIPTION,
        )
        refcoco.add_argument(
            "--refs",
            required=True,
            metavar="REFS.p",
            help="the toolkit's refs pickle, e.g. 'refs(unc).p' (read safely)",
        )
        refcoco.add_argument(
            "--instances",
            required=True,
            metavar="INSTANCES.json",
            help="the matching COCO instances.json",
        )
        refcoco.add_argument(
            "--split",
            default=None,
            help="train, val, test, testA, testB (getRefIds semantics); required unless "
            "--single-round (which then writes every standard split)",
        )
        refcoco.add_argument(
            "--out",
            required=True,
            metavar="BENCH.jsonl",
            help="RegionDial JSONL to write (atomically); with --single-round and no "
            "--split, a folder",
        )
        refcoco.add_argument(
            "--single-round",
            action="store_true",
            help="the standard single-round tasks: one one-turn record per referring expression",
        )
        refcoco.add_argument("--seed", type=int, default=0, help="seed of every random choice")
        refcoco.add_argument("--max-turns", type=int, default=7, help="longest dialogue (>= 2)")
        refcoco.add_argument(
            "--images-root",
            metavar="DIR",
            default=None,
            help="folder of the COCO images (file_name is relative to it); "
            "used to report missing images and read missing sizes",
        )
        refcoco.add_argument(
            "--stats",
            action="store_true",
            help="print round/length/relation/category tables on stdout",
        )
        refcoco.set_defaults(_build=self._run_refcoco)

        synth = add_parser(
            sources, "synth", "procedural scenes with exact masks and captions", SYNTH_DESCRIPTION
        )
        synth.add_argument(
            "--out", required=True, metavar="DIR", help="output folder (synth.jsonl + images/)"
        )
        synth.add_argument(
            "--dialogues",
            type=int,
            default=50,
            metavar="N",
            help="number of dialogues, one image each (default 50)",
        )
        synth.add_argument("--seed", type=int, default=0, help="seed of every random choice")
        synth.add_argument("--max-turns", type=int, default=7, help="longest dialogue (>= 2)")
        synth.add_argument(
            "--image-size",
            default="224",
            metavar="WxH",
            help="image size, e.g. 224 or 160x120 (default 224x224)",
        )
        synth.add_argument(
            "--stats",
            action="store_true",
            help="print round/length/relation/category tables on stdout",
        )
        synth.set_defaults(_build=self._run_synth)

    def run(self, args: argparse.Namespace) -> int:
        return int(args._build(args))

    def _run_refcoco(self, args: argparse.Namespace) -> int:
        from regionreasoner.data.builders import BUILDERS
        from regionreasoner.errors import UserInputError

        if args.single_round:
            results = BUILDERS.get("refcoco-single-round")(
                args.refs,
                args.instances,
                out_path=args.out,
                split=args.split,
                images_root=args.images_root,
                progress=tqdm_progress("build refcoco --single-round", "dialogue"),
            )
            for one in results:
                stats = one.stats
                report_build(
                    one,
                    args.stats,
                    f"{stats.dialogues} one-turn records (one per referring expression, "
                    f"{stats.targets_with_mask}/{stats.targets} with a mask)",
                )
            return 0
        if args.split is None:
            raise UserInputError("build refcoco: --split is required (unless --single-round)")
        result = BUILDERS.get("refcoco")(
            args.refs,
            args.instances,
            split=args.split,
            out_path=args.out,
            seed=args.seed,
            max_turns=args.max_turns,
            images_root=args.images_root,
            progress=tqdm_progress("build refcoco", "dialogue"),
        )
        return report_build(result, args.stats)

    def _run_synth(self, args: argparse.Namespace) -> int:
        from regionreasoner.data.builders import BUILDERS

        result = BUILDERS.get("synth")(
            args.out,
            args.dialogues,
            args.seed,
            max_turns=args.max_turns,
            image_size=args.image_size,
            progress=tqdm_progress("build synth", "dialogue"),
        )
        return report_build(result, args.stats)


def report_build(result: Any, show_stats: bool, wrote: str | None = None) -> int:
    """Say on stderr what a builder wrote (``wrote``: the count phrase) and skipped; the
    statistics tables on stdout."""
    stats = result.stats
    if wrote is None:
        wrote = (
            f"{stats.dialogues} dialogues, {stats.turns} turns ({stats.referenced_turns}/"
            f"{stats.later_turns} later turns cite an earlier turn)"
        )
    print(f"wrote {wrote} to {result.path}", file=sys.stderr)
    for reason, count in sorted(result.skipped.items()):
        print(f"skipped {count} {reason}", file=sys.stderr)
    if show_stats:
        print(stats.to_markdown(), end="")
    return 0


COMMAND = BuildCommand()
