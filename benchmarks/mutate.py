"""Mutation testing over a curated list: does the suite notice small plausible bugs?

Each entry of ``benchmarks/mutations.yaml`` names a source file, an exact snippet that
occurs once in it, its replacement (an off-by-one, ``>`` for ``>=``, swapped x/y, a key
dropped from a list...), the test files (or node ids) that should notice, and a note.
For every entry the script writes the mutated file into a temporary copy of ``src/``
(the working tree is never touched), runs the listed tests against that copy
(``PYTHONPATH``, no bytecode cache, hypothesis derandomised) with a timeout, and reports
the mutation as ``caught`` (a test failed), ``survived`` (all passed), ``timeout`` or
``error`` (pytest could not run the tests). Before the mutations, the same tests run once
on the unmutated copy: they must pass, otherwise a "caught" would mean nothing.

    python benchmarks/mutate.py                          # every mutation (make mutate)
    python benchmarks/mutate.py --only answer-zero-height --only resume-key-model
    python benchmarks/mutate.py --list other.yaml --timeout 300 --no-baseline

Exit code: 0 when every mutation was caught, 1 when one survived (or timed out or
errored), 2 for a bad list or a failing baseline. Run it before each release; when code
moves, update ``file`` and ``original`` in the list (``tests/test_mutations_list.py``
fails as soon as a snippet no longer occurs exactly once).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LIST = REPO_ROOT / "benchmarks" / "mutations.yaml"
DEFAULT_TIMEOUT_S = 600.0
"""Seconds one pytest run may take before the mutation is reported as ``timeout``."""

SOURCE_DIR = "src"
PACKAGE = "regionreasoner"
FIELDS = ("id", "file", "original", "mutant", "tests", "note")

CAUGHT, SURVIVED, TIMEOUT, ERROR = "caught", "survived", "timeout", "error"
PYTEST_TESTS_FAILED = 1
PYTEST_OK = 0


@dataclass(frozen=True)
class Mutation:
    """One curated mutation (see the module docstring)."""

    id: str
    file: str
    original: str
    mutant: str
    tests: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class Outcome:
    """What the listed tests did against one mutation."""

    mutation: Mutation
    status: str
    seconds: float
    detail: str


class MutationListError(ValueError):
    """The mutation list is malformed or out of date."""


def _entry(raw: Any, index: int, source: Path) -> Mutation:
    where = f"{source}: entry {index}"
    if not isinstance(raw, Mapping):
        raise MutationListError(f"{where}: expected a mapping with {', '.join(FIELDS)}")
    missing = [f for f in FIELDS if f not in raw]
    unknown = sorted(set(raw) - set(FIELDS))
    if missing or unknown:
        raise MutationListError(f"{where}: missing {missing}, unknown {unknown}")
    for field in ("id", "file", "original", "mutant", "note"):
        empty_allowed = field == "mutant"  # an empty mutant deletes the snippet
        if not isinstance(raw[field], str) or not (raw[field] or empty_allowed):
            raise MutationListError(f"{where} ({raw.get('id')}): {field} must be a text")
    tests = raw["tests"]
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise MutationListError(f"{where} ({raw['id']}): tests must be a list of paths")
    return Mutation(
        raw["id"], raw["file"], raw["original"], raw["mutant"], tuple(tests), raw["note"]
    )


def load_mutations(path: Path = DEFAULT_LIST) -> list[Mutation]:
    """Read the list; raises :class:`MutationListError` on a malformed entry."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, list) or not raw:
        raise MutationListError(f"{path}: expected a non-empty list of mutations")
    return [_entry(item, index, path) for index, item in enumerate(raw)]


def list_problems(mutations: Sequence[Mutation], root: Path = REPO_ROOT) -> list[str]:
    """Everything that makes the list unusable against the tree at ``root`` (empty: fine).

    Each ``original`` must occur exactly once in its file (so the list fails loudly when
    code moves instead of silently mutating nothing), differ from its ``mutant``, and
    every test path must exist.
    """
    problems = []
    seen: set[str] = set()
    for m in mutations:
        if m.id in seen:
            problems.append(f"{m.id}: duplicate id")
        seen.add(m.id)
        if not m.file.startswith(f"{SOURCE_DIR}/{PACKAGE}/"):
            problems.append(f"{m.id}: {m.file} is not under {SOURCE_DIR}/{PACKAGE}/")
        path = root / m.file
        if not path.is_file():
            problems.append(f"{m.id}: {m.file} does not exist")
        else:
            count = path.read_text(encoding="utf-8").count(m.original)
            if count != 1:
                problems.append(f"{m.id}: the original snippet occurs {count} times in {m.file}")
        if m.original == m.mutant:
            problems.append(f"{m.id}: the mutant equals the original")
        for test in m.tests:
            if not (root / test.split("::", 1)[0]).is_file():
                problems.append(f"{m.id}: test file {test} does not exist")
    return problems


def _copy_sources(root: Path, into: Path) -> Path:
    shutil.copytree(
        root / SOURCE_DIR,
        into / SOURCE_DIR,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    return into / SOURCE_DIR


def _environment(source_copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(source_copy)  # only the copy: never the working tree's src
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a stale .pyc of another mutant is never read
    env["HYPOTHESIS_PROFILE"] = "ci"  # derandomised: a survivor is reproducible
    return env


def _check_import(env: Mapping[str, str], source_copy: Path, python: str) -> None:
    found = subprocess.run(
        [python, "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"],
        env=dict(env),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(source_copy.resolve()):
        raise RuntimeError(
            f"{PACKAGE} was imported from {found}, not from the mutated copy {source_copy}; "
            "something on sys.path (a .pth file, a meta-path finder) takes precedence"
        )


def _pytest(
    tests: Sequence[str], env: Mapping[str, str], python: str, timeout_s: float
) -> tuple[int | None, str, float]:
    """``(exit code or None on timeout, output tail, seconds)``; kills the whole group."""
    command = [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout_s)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        code = None
    return code, output[-4000:], time.perf_counter() - start


def _summary_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1].strip("= ") if lines else ""


def run_mutation(
    mutation: Mutation, source_copy: Path, env: Mapping[str, str], python: str, timeout_s: float
) -> Outcome:
    """Apply ``mutation`` to the copy, run its tests, restore the copy."""
    target = source_copy / Path(mutation.file).relative_to(SOURCE_DIR)
    original_text = target.read_text(encoding="utf-8")
    target.write_text(original_text.replace(mutation.original, mutation.mutant, 1), "utf-8")
    try:
        code, output, seconds = _pytest(mutation.tests, env, python, timeout_s)
    finally:
        target.write_text(original_text, encoding="utf-8")
    if code is None:
        return Outcome(mutation, TIMEOUT, seconds, f"no result within {timeout_s:g} s")
    if code == PYTEST_TESTS_FAILED:
        failed = [line for line in output.splitlines() if line.startswith("FAILED ")]
        return Outcome(mutation, CAUGHT, seconds, failed[0][7:] if failed else "")
    if code == PYTEST_OK:
        return Outcome(mutation, SURVIVED, seconds, _summary_line(output))
    return Outcome(mutation, ERROR, seconds, f"pytest exit {code}: {_summary_line(output)}")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list", type=Path, default=DEFAULT_LIST, help="the mutation list")
    parser.add_argument(
        "--only", action="append", default=[], metavar="ID", help="run this mutation only"
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per pytest run"
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the run on the unmutated copy"
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter running pytest")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        mutations = load_mutations(args.list)
    except (OSError, yaml.YAMLError, MutationListError) as e:
        print(f"mutate: {e}", file=sys.stderr)
        return 2
    problems = list_problems(mutations)
    unknown = sorted(set(args.only) - {m.id for m in mutations})
    problems += [f"--only {name}: no such mutation" for name in unknown]
    if problems:
        print("mutate: the list does not match the tree:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    selected = [m for m in mutations if not args.only or m.id in args.only]

    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="rr-mutate-") as tmp:
        source_copy = _copy_sources(REPO_ROOT, Path(tmp))
        env = _environment(source_copy)
        _check_import(env, source_copy, args.python)
        if not args.no_baseline:
            tests = list(dict.fromkeys(t for m in selected for t in m.tests))
            code, output, seconds = _pytest(tests, env, args.python, args.timeout * 2)
            print(f"baseline ({len(tests)} test paths): exit {code}, {seconds:.1f} s")
            if code != PYTEST_OK:
                print(output, file=sys.stderr)
                print("mutate: the listed tests fail without any mutation", file=sys.stderr)
                return 2
        for number, mutation in enumerate(selected, start=1):
            outcome = run_mutation(mutation, source_copy, env, args.python, args.timeout)
            outcomes.append(outcome)
            print(
                f"[{number}/{len(selected)}] {outcome.status:8} {mutation.id} "
                f"({outcome.seconds:.1f} s) {outcome.detail}",
                flush=True,
            )

    print("\n| mutation | file | status | seconds | note |")
    print("|---|---|---|---:|---|")
    for o in outcomes:
        print(
            f"| {o.mutation.id} | {o.mutation.file} | {o.status} | {o.seconds:.1f} | "
            f"{o.mutation.note} |"
        )
    counts = {s: sum(o.status == s for o in outcomes) for s in (CAUGHT, SURVIVED, TIMEOUT, ERROR)}
    print(
        f"\n{len(outcomes)} mutations: {counts[CAUGHT]} caught, {counts[SURVIVED]} survived, "
        f"{counts[TIMEOUT]} timed out, {counts[ERROR]} errors"
    )
    return 0 if counts[CAUGHT] == len(outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
