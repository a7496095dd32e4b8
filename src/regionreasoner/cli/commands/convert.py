"""``regionreasoner convert``: official release JSON -> RegionDial JSONL."""

from __future__ import annotations

import argparse
import sys

from regionreasoner.cli.commands.base import Command

EXIT_SKIPPED = 3
"""Exit code of a lenient conversion that wrote its output but left dialogues out."""


class ConvertCommand(Command):
    """Convert an official RegionDial-Bench JSON file to RegionDial JSONL, streaming."""

    name = "convert"
    help = "convert an official RegionDial-Bench JSON file to RegionDial JSONL"
    description = """\
Convert an official release file (a JSON list of {image_id, image_path,
conversational_turns}; the *_multi_turn.json files with dense masks or the
*_multi_question.json files without) to RegionDial JSONL. The input is streamed in
bounded memory (the released files are 13 GB and 26 GB); dense masks become COCO RLE,
<box>{context_bbox}</box> becomes {ref}, context_from_turn becomes refers_to and
dialogue_id is str(image_id). Mapping in docs/data_format.md.

Strict by default: the first invalid dialogue stops the conversion with exit 2 and a
located message, and nothing is written. All-zero masks are converted and reported as
warnings.

--lenient keeps every dialogue it can keep without inventing facts and lists every
repair on stderr ("repair: FILE: dialogue ID: TURN FIELD: what changed"):
  context_from_turn set, no <box>{context_bbox}</box>   the reference is dropped
  the placeholder, no context_from_turn                 the placeholder is removed
  a reference to the turn itself or a later turn        it points at the nearest earlier
                                                        turn (on the first turn: dropped,
                                                        with its placeholder)
A dialogue it cannot repair (no image_path, a bad box, a duplicate image_id, ...) is
left out with a located "skipped:" message and counted at the end. The output always
passes `regionreasoner validate`. What the released evaluation does with each defect:
docs/data_format.md.

Exit codes: 0 written (nothing left out), 2 bad input or usage (strict: the first
invalid dialogue; nothing written), 3 written by --lenient with dialogues skipped, 1
internal error.

examples:
  regionreasoner convert raw/refcocog_multi_turn.json data/refcocog.jsonl --images-root raw/
  regionreasoner convert raw/refcocoplus_multi_question.json data/plus_q.jsonl --lenient
"""
    order = 15

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("src", metavar="OFFICIAL.json", help="official release JSON file")
        parser.add_argument("dst", metavar="OUT.jsonl", help="RegionDial JSONL to write")
        parser.add_argument(
            "--images-root",
            metavar="DIR",
            default=None,
            help="folder the image_path values are relative to: images must exist there, "
            "and image_wh is read from the image header when a dialogue has no mask",
        )
        parser.add_argument(
            "--lenient",
            action="store_true",
            help="repair what can be repaired without inventing facts, skip the dialogues "
            f"that cannot be (exit {EXIT_SKIPPED} when any was skipped); every repair and "
            "skip is listed on stderr",
        )

    def run(self, args: argparse.Namespace) -> int:
        import os

        from regionreasoner.cli.progress import FileProgressBar
        from regionreasoner.data.official import convert_official
        from regionreasoner.errors import UserInputError

        if not os.path.isfile(args.src):
            raise UserInputError(f"input file not found: {args.src}")
        if args.images_root is not None and not os.path.isdir(args.images_root):
            raise UserInputError(f"--images-root is not a folder: {args.images_root}")
        with FileProgressBar("convert", os.path.getsize(args.src), severity="warning") as bar:
            try:
                summary = convert_official(
                    args.src,
                    args.dst,
                    images_root=args.images_root,
                    lenient=args.lenient,
                    on_problem=bar.show,
                    on_progress=bar.update,
                )
            except OSError as e:  # unreadable input, unwritable output, disk full
                raise UserInputError(f"{e.strerror or e}: {e.filename or args.dst}") from e
        counts = ", ".join(
            _plural(n, word)
            for n, word in (
                (summary.dialogues, "dialogue"),
                (summary.turns, "turn"),
                (summary.masks, "mask"),
            )
        )
        notes = f"{_plural(summary.warnings, 'warning')}, {_plural(summary.repairs, 'repair')}"
        if args.lenient:
            notes += f", {summary.skipped} skipped"
        sizes = f"{_human_bytes(summary.bytes_in)} -> {_human_bytes(summary.bytes_out)}"
        print(f"wrote {args.dst}: {counts}; {notes}; {sizes}")
        if summary.repairs:
            print(
                f"{_plural(summary.repairs, 'lenient repair')} made (listed above on stderr)",
                file=sys.stderr,
            )
        if summary.skipped:
            print(
                f"{_plural(summary.skipped, 'dialogue')} skipped: they could not be repaired "
                f"(listed above as 'skipped:'); exit code {EXIT_SKIPPED}",
                file=sys.stderr,
            )
            return EXIT_SKIPPED
        return 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


COMMAND = ConvertCommand()
