"""``benchmarks/mutations.yaml`` stays in step with the code: every snippet that
``benchmarks/mutate.py`` would replace occurs exactly once in its file (a refactor that
moves code makes this fail instead of leaving mutations that change nothing)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "benchmarks" / "mutate.py"

# The core modules the list must cover (issue 25), by a folder or file of their own.
COVERED = (
    "geometry/",
    "parsing/",
    "evaluation/metrics.py",
    "evaluation/accumulators.py",
    "dialogue/policy.py",
    "evaluation/run_dir.py",
    "evaluation/predictions.py",
    "rewards/",
)
# The surviving mutations the list was started from: each must stay on it.
REQUIRED_IDS = (
    "answer-zero-height",
    "answer-y-order-checks-x1",
    "resume-key-model",
    "resume-key-reference-policy",
    "eval-config-drops-model",
    "paper-accuracy-ignores-gt-count",
    "reference-copy-strict-pairwise",
    "reference-copy-strict-batch",
    "overhead-includes-model-time",
    "hf-system-message-as-user",
)


@pytest.fixture(scope="module")
def mutate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rr_benchmarks_mutate", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_snippet_occurs_exactly_once_and_every_test_exists(mutate: ModuleType) -> None:
    mutations = mutate.load_mutations()
    assert mutate.list_problems(mutations, REPO_ROOT) == []


def test_the_list_covers_the_core_modules_and_the_issue_mutations(mutate: ModuleType) -> None:
    mutations = mutate.load_mutations()
    files = {m.file.removeprefix("src/regionreasoner/") for m in mutations}
    for module in COVERED:
        assert any(f.startswith(module) for f in files), module
    assert set(REQUIRED_IDS) <= {m.id for m in mutations}


def test_a_moved_snippet_is_reported(mutate: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "src" / "regionreasoner").mkdir(parents=True)
    (tmp_path / "src" / "regionreasoner" / "m.py").write_text("a = 1\nb = a > 0\nc = a > 0\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_m.py").write_text("")
    listed = tmp_path / "list.yaml"
    listed.write_text(
        "- {id: twice, file: src/regionreasoner/m.py, original: 'a > 0', mutant: 'a >= 0',\n"
        "   tests: [tests/test_m.py], note: n}\n"
        "- {id: gone, file: src/regionreasoner/m.py, original: 'd = 2', mutant: 'd = 3',\n"
        "   tests: ['tests/test_x.py::test_y'], note: n}\n"
        "- {id: gone, file: src/regionreasoner/x.py, original: 'e', mutant: 'e',\n"
        "   tests: [tests/test_m.py], note: n}\n"
    )
    problems = mutate.list_problems(mutate.load_mutations(listed), tmp_path)
    assert problems == [
        "twice: the original snippet occurs 2 times in src/regionreasoner/m.py",
        "gone: the original snippet occurs 0 times in src/regionreasoner/m.py",
        "gone: test file tests/test_x.py::test_y does not exist",
        "gone: duplicate id",
        "gone: src/regionreasoner/x.py does not exist",
        "gone: the mutant equals the original",
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("- {id: a, file: f}", "missing ['original', 'mutant', 'tests', 'note']"),
        ("- {id: a, file: f, original: o, mutant: m, tests: t, note: n}", "tests must be a list"),
        ("- {id: a, file: f, original: '', mutant: m, tests: [t], note: n}", "original must be"),
        ("- {id: a, file: f, original: o, mutant: m, tests: [t], note: n, x: 1}", "unknown ['x']"),
        ("[]", "non-empty list"),
    ],
)
def test_malformed_entries_are_named(
    mutate: ModuleType, tmp_path: Path, entry: str, message: str
) -> None:
    listed = tmp_path / "list.yaml"
    listed.write_text(entry + "\n")
    with pytest.raises(mutate.MutationListError, match=re.escape(message)):
        mutate.load_mutations(listed)
