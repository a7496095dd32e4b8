"""``regionreasoner validate``: check a RegionDial JSONL or official JSON file."""

from __future__ import annotations

import argparse

from regionreasoner.cli.commands.base import Command


class ValidateCommand(Command):
    """Stream a data file and report every problem, located; exit 2 on any error."""

    name = "validate"
    help = "check a RegionDial JSONL (or official JSON) file and list every problem"
    description = """\
Check a data file against every rule of its format and print EVERY problem on its own
line on stderr, located as FILE: dialogue ID (or line N): FIELD: message, then a summary
line on stdout. The format is detected from the first non-space character: '[' means the
official release JSON (read streaming, in bounded memory), anything else RegionDial JSONL.

Errors (exit 2): invalid JSON or UTF-8, wrong top-level type, broken field rules (see
docs/data_format.md), duplicate dialogue ids, image paths that escape their root, and,
with --images-root, missing or unreadable images and sizes that disagree with them.
Warnings (exit 0): valid but suspicious data, e.g. an all-zero ground-truth mask.

examples:
  regionreasoner validate data/synth/synth.jsonl
  regionreasoner validate raw/refcocog_multi_turn.json --images-root raw/
"""
    order = 20

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("data", metavar="DATA", help="RegionDial .jsonl or official .json")
        parser.add_argument(
            "--images-root",
            metavar="DIR",
            default=None,
            help="folder the image paths are relative to; when given, every image must "
            "exist there (images are not checked without it)",
        )

    def run(self, args: argparse.Namespace) -> int:
        from regionreasoner.cli.progress import FileProgressBar
        from regionreasoner.data.file_checks import validate_path
        from regionreasoner.errors import UserInputError

        with FileProgressBar("validate", _file_size(args.data), severity="error") as bar:
            try:
                report = validate_path(
                    args.data, args.images_root, on_problem=bar.show, on_progress=bar.update
                )
            except OSError as e:  # e.g. an unreadable file
                raise UserInputError(f"{e.strerror or e}: {e.filename or args.data}") from e
        print(report.summary())
        return 0 if report.ok else 2


def _file_size(path: str) -> int | None:
    import os

    try:
        return os.path.getsize(path)
    except OSError:
        return None


COMMAND = ValidateCommand()
