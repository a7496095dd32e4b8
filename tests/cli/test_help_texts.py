"""Every command's ``--help`` against facts a test can check mechanically.

Help texts are written by hand and go stale as the package changes (``serve --help``
once said that no model was bundled, long after one was). For every command and
subcommand this checks that the help:

- makes no claim that the package bundles no model, when it does;
- names only commands that exist (``regionreasoner <command>``);
- gives its examples only flags that the named command accepts;
- points only at documentation files that exist.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from regionreasoner.assets import bundled_model_path
from regionreasoner.cli.main import build_parser

REPO = Path(__file__).resolve().parents[2]

NO_BUNDLED_MODEL_CLAIMS = (
    r"bundles no model",
    r"no model is bundled",
    r"without a bundled model yet",
    r"--model is required while",
    r"no bundled model\b(?! yet)(?!.*installation)",
)
"""Ways a help text has said, or could say, that the package ships without a model."""


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _commands() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """``("build synth", parser)`` for every command and nested subcommand."""
    stack = [(name, parser) for name, parser in _subparsers(build_parser()).items()]
    while stack:
        name, parser = stack.pop(0)
        yield name, parser
        stack += [(f"{name} {sub}", p) for sub, p in _subparsers(parser).items()]


COMMANDS = dict(_commands())
HELPS = {name: parser.format_help() for name, parser in COMMANDS.items()}
HELPS[""] = build_parser().format_help()


def _options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of a parser and of its subcommands."""
    options = {s for action in parser._actions for s in action.option_strings}
    for sub in _subparsers(parser).values():
        options |= _options(sub)
    return options


def _examples(text: str) -> Iterator[list[str]]:
    """The words of each ``regionreasoner ...`` command line in a help text: example lines
    (the line starts with the command; backslash continuations joined) and commands quoted
    inline in backticks (the quote ends the command: prose after it is not a flag)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = [m.group(1) for m in re.finditer(r"`regionreasoner ([a-z][^`]*)`", joined)]
    for line in joined.splitlines():
        match = re.match(r"\s*regionreasoner ([a-z].*)$", line)
        if match:
            found.append(match.group(1))
    for command in found:
        try:
            yield shlex.split(command, comments=True)
        except ValueError:  # prose with an apostrophe, not a command line
            continue


def _command_of(words: list[str]) -> str | None:
    """The longest command name the words start with (``build synth`` before ``build``)."""
    for size in (2, 1):
        name = " ".join(words[:size])
        if name in COMMANDS:
            return name
    return None


def test_every_command_has_a_help_text() -> None:
    assert {"eval", "convert", "serve", "demo", "build synth"} <= set(COMMANDS)
    assert all(len(text) > 200 for text in HELPS.values())


@pytest.mark.skipif(bundled_model_path() is None, reason="no bundled model in this install")
@pytest.mark.parametrize("name", sorted(HELPS))
def test_no_help_says_that_no_model_is_bundled(name: str) -> None:
    text = " ".join(HELPS[name].split())
    stale = [claim for claim in NO_BUNDLED_MODEL_CLAIMS if re.search(claim, text, re.I)]
    assert not stale, f"`regionreasoner {name} --help` claims: {stale}"


@pytest.mark.parametrize("name", sorted(HELPS))
def test_help_examples_use_existing_commands_and_flags(name: str) -> None:
    for words in _examples(HELPS[name]):
        command = _command_of(words)
        assert command is not None or words[0].startswith("-"), (
            f"`regionreasoner {name} --help` names a command that does not exist: {words}"
        )
        if command is None:
            continue
        flags = {w.split("=", 1)[0] for w in words if w.startswith("--")}
        unknown = flags - _options(COMMANDS[command])
        assert not unknown, f"`regionreasoner {name} --help`: {command} has no {unknown}"


@pytest.mark.skipif(not (REPO / "docs").is_dir(), reason="not a source checkout")
@pytest.mark.parametrize("name", sorted(HELPS))
def test_help_points_at_existing_docs(name: str) -> None:
    for path in re.findall(r"\bdocs/[\w./-]+\.md", HELPS[name]):
        assert (REPO / path).is_file(), f"`regionreasoner {name} --help` cites {path}"


def test_the_checks_catch_a_stale_text() -> None:
    stale = "Usage: --model is required while the package bundles no model."
    assert any(re.search(claim, stale, re.I) for claim in NO_BUNDLED_MODEL_CLAIMS)
    (words,) = _examples("e.g.\n  regionreasoner eval --data x \\\n      --no-such-flag 3\n")
    # prose naming a command in quotes: what follows the quote is not its flags
    assert list(_examples("`regionreasoner train` (GRPO) and `--model hf:X` load")) == [["train"]]
    (inline,) = _examples("run `regionreasoner eval --bogus 1` first")
    assert inline == ["eval", "--bogus", "1"]
    assert _command_of(words) == "eval"
    assert {w for w in words if w.startswith("--")} - _options(COMMANDS["eval"]) == {
        "--no-such-flag"
    }
