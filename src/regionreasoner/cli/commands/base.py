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
        parser = add_parser(subparsers, self.name, self.help, self.description or self.help)
        self.add_arguments(parser)
        parser.set_defaults(_command=self)
        return parser

    @abstractmethod
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the command's flags."""

    @abstractmethod
    def run(self, args: argparse.Namespace) -> int:
        """Execute; return the exit code. Raise ``UserInputError`` for bad input."""


def add_parser(
    subparsers: argparse._SubParsersAction, name: str, help: str, description: str
) -> argparse.ArgumentParser:
    """A (sub)command parser whose ``--help`` keeps the description's line breaks (its
    examples); commands with actions (``build synth``, ``micro train``) use it too."""
    return subparsers.add_parser(
        name,
        help=help,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
