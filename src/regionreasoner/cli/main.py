"""``regionreasoner`` entry point: ``main(argv) -> exit code``.

Exit codes: 0 success, 2 bad input or usage (one clear message on stderr), 1 internal
error, 130 interrupted (Ctrl-C), 143 interrupted by SIGTERM (commands that handle it).
"""

from __future__ import annotations

import argparse
import logging
import sys

from regionreasoner import __version__
from regionreasoner.cli.commands import get_commands
from regionreasoner.cli.signals import exit_code_of
from regionreasoner.errors import MissingDependencyError, UserInputError

EPILOG = """\
quick start:
  regionreasoner build synth --out data/synth --dialogues 50
  regionreasoner validate data/synth/synth.jsonl
  regionreasoner eval --data data/synth/synth.jsonl --model oracle --segmenter box-fill \\
      --out runs/oracle
  regionreasoner score runs/oracle
  regionreasoner demo
"""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="regionreasoner",
        description="RegionReasoner / RegionDial-Bench: multi-round region-grounded "
        "visual reasoning: benchmark construction, evaluation, rewards and training.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"regionreasoner {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for command in get_commands():
        command.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:  # one INFO line per HTTP request would bury the progress bar
        logging.getLogger("httpx").setLevel(logging.WARNING)
    command = getattr(args, "_command", None)
    if command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(command.run(args) or 0)
    except UserInputError as e:
        print(f"regionreasoner {command.name}: error: {e}", file=sys.stderr)
        return 2
    except MissingDependencyError as e:
        print(f"regionreasoner {command.name}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"regionreasoner {command.name}: interrupted", file=sys.stderr)
        return exit_code_of(interrupt)
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
