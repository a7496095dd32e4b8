"""The ``Command`` base class of the CLI."""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod


class Command(ABC):
    """One ``regionreasoner <name>`` subcommand.

    Attributes:
        name: the subcommand name.
        help: one line for the overview.
        description: the longer ``--help`` text (may hold examples).
        order: position in the overview.
    """

    name: str = ""
    help: str = ""
    description: str = ""
    order: int = 100

    def register(self, subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
        """Add this command's parser and return it."""
        parser = subparsers.add_parser(
            self.name,
            help=self.help,
            description=self.description or self.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        self.add_arguments(parser)
        parser.set_defaults(_command=self)
        return parser

    @abstractmethod
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the command's flags."""

    @abstractmethod
    def run(self, args: argparse.Namespace) -> int:
        """Execute; return the exit code. Raise ``UserInputError`` for bad input."""
