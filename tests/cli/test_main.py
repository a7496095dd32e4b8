"""The CLI entry point: help, version, usage errors and the exit-code contract."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from regionreasoner import __version__
from regionreasoner.cli import main as cli_main
from regionreasoner.cli.commands.base import Command
from regionreasoner.errors import (
    ConfigError,
    DataFormatError,
    MissingDependencyError,
    UnknownComponentError,
)


def test_help_exits_0(capsys):
    with pytest.raises(SystemExit) as info:
        cli_main.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: regionreasoner")
    assert "quick start:" in out
    assert "--version" in out


def test_version_exits_0(capsys):
    with pytest.raises(SystemExit) as info:
        cli_main.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"regionreasoner {__version__}"


def test_unknown_command_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli_main.main(["no-such-command"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'no-such-command'" in err


def test_unknown_flag_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli_main.main(["--no-such-flag"])
    assert info.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_no_command_prints_help_and_exits_2(capsys):
    assert cli_main.main([]) == 2
    assert "usage: regionreasoner" in capsys.readouterr().err


def test_every_discovered_command_has_help(capsys):
    parser = cli_main.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        with pytest.raises(SystemExit) as info:
            sub.parse_args(["--help"])
        assert info.value.code == 0, name
        assert f"usage: regionreasoner {name}" in capsys.readouterr().out


class FakeCommand(Command):
    """A command whose behaviour each test chooses."""

    name = "fake"
    help = "a fake command"
    description = "Fake.\n\nexample:\n  regionreasoner fake --value 3"

    def __init__(self, outcome: object) -> None:
        self.outcome = outcome
        self.seen: argparse.Namespace | None = None

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--value", type=int, default=0)

    def run(self, args: argparse.Namespace) -> int:
        self.seen = args
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome  # type: ignore[return-value]


@pytest.fixture
def use_fake(monkeypatch):
    def install(outcome: object) -> FakeCommand:
        command = FakeCommand(outcome)
        monkeypatch.setattr(cli_main, "get_commands", lambda: [command])
        return command

    return install


@pytest.mark.parametrize(("outcome", "code"), [(0, 0), (None, 0), (3, 3)])
def test_command_return_value_is_the_exit_code(use_fake, outcome, code):
    command = use_fake(outcome)
    assert cli_main.main(["fake", "--value", "7"]) == code
    assert command.seen is not None and command.seen.value == 7


@pytest.mark.parametrize(
    "error",
    [
        DataFormatError("bbox is inverted", path="b.jsonl", record="dialogue 3", field="bbox"),
        ConfigError("bad value for lr"),
        UnknownComponentError("unknown backend 'x'. Available: hf"),
        MissingDependencyError(
            "'sam2' is required. Install it with: pip install 'regionreasoner[sam2]'"
        ),
    ],
)
def test_user_errors_exit_2_with_one_line(use_fake, capsys, error):
    use_fake(error)
    assert cli_main.main(["fake"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [f"regionreasoner fake: error: {error}"]
    assert "Traceback" not in err


def test_internal_errors_propagate(use_fake):
    # not swallowed: Python then exits with status 1 and a traceback
    use_fake(RuntimeError("bug"))
    with pytest.raises(RuntimeError, match="bug"):
        cli_main.main(["fake"])


def test_interrupt_exits_130(use_fake, capsys):
    use_fake(KeyboardInterrupt())
    assert cli_main.main(["fake"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_broken_pipe_exits_0(use_fake):
    use_fake(BrokenPipeError())
    assert cli_main.main(["fake"]) == 0


def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "regionreasoner", "no-such-command"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
