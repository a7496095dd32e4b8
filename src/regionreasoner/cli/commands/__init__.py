"""Subcommands. Every module here defines ``COMMAND``, an instance of :class:`Command`.

Modules are discovered automatically, so adding a subcommand means adding one module.
Command modules import only the standard library at module level; heavy imports happen
inside :meth:`Command.run`.
"""

from __future__ import annotations

import importlib
import pkgutil

from regionreasoner.cli.commands.base import Command


def get_commands() -> list[Command]:
    """All subcommands, in the order they appear in ``--help``."""
    commands = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        command = getattr(module, "COMMAND", None)
        if isinstance(command, Command):
            commands.append(command)
    return sorted(commands, key=lambda c: (c.order, c.name))
