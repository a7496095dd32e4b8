"""The suite's own settings (``tests/conftest.py``): hypothesis profiles, collection of any
subset, and skipped browser tests that cannot pass unnoticed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from suite_settings import BrowserSkips, hypothesis_profile

pytest_plugins = ("pytester",)

TESTS = Path(__file__).resolve().parent
REPO_ROOT = TESTS.parent


def test_ci_profile_is_derandomised_and_keeps_no_database() -> None:
    assert hypothesis_profile({"CI": "1"}) == "ci"
    assert hypothesis_profile({"CI": "true", "HYPOTHESIS_PROFILE": "dev"}) == "dev"
    ci = settings.get_profile("ci")
    assert ci.derandomize is True and ci.database is None


def test_local_profile_is_random_and_keeps_the_example_database() -> None:
    assert hypothesis_profile({}) == "dev"
    assert hypothesis_profile({"CI": ""}) == "dev"
    dev = settings.get_profile("dev")
    assert dev.derandomize is False and dev.database is not None


def test_the_loaded_profile_follows_the_environment() -> None:
    expected = settings.get_profile(hypothesis_profile(os.environ))
    assert settings.default.derandomize == expected.derandomize
    assert settings.default.deadline is None  # no wall-time limit in unit tests


@pytest.mark.slow
@pytest.mark.parametrize(
    "paths",
    [
        ["tests/dialogue", "tests/serve"],  # two conftest.py files under --doctest-modules
        ["tests/serve", "tests/dialogue", "tests/data/builders"],
        ["src/regionreasoner"],  # the doctests alone
    ],
)
def test_a_subset_of_the_suite_collects(paths: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *paths],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "error" not in result.stdout.splitlines()[-1]


# ----------------------------------------------------------------------------------------
# Skipped browser tests
# ----------------------------------------------------------------------------------------

BROWSER_TESTS = """
import pytest

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    pytest.skip("/nowhere/chromium is missing")


def test_page(browser):
    pass


def test_upload(browser):
    pass
"""

OTHER_TEST = """
def test_plain():
    assert True
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A small suite with this project's ``conftest.py``, in which browser tests skip."""
    for name in ("conftest.py", "suite_settings.py"):
        pytester.path.joinpath(name).write_text((TESTS / name).read_text(encoding="utf-8"))
    pytester.makeini("[pytest]\nmarkers =\n    browser: drives a real headless Chromium\n")
    pytester.makepyfile(test_browser=BROWSER_TESTS, test_other=OTHER_TEST)
    return pytester


@pytest.mark.slow
def test_skipped_browser_tests_are_reported_loudly(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    result = suite.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(
        ["*!!! 2 BROWSER TEST(S) SKIPPED: /nowhere/chromium is missing !!!*"]
    )
    assert "CI requires them" not in result.stdout.str()


@pytest.mark.slow
def test_skipped_browser_tests_fail_the_run_under_ci(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "1")
    result = suite.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*2 BROWSER TEST(S) SKIPPED*CI requires them, failing the run*"])


@pytest.mark.slow
def test_deselected_browser_tests_are_not_skips(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "1")
    result = suite.runpytest_subprocess("-m", "not browser")
    assert result.ret == pytest.ExitCode.OK
    assert "BROWSER TEST(S) SKIPPED" not in result.stdout.str()


def test_the_browser_message_names_every_reason() -> None:
    skips = BrowserSkips(ci=False)
    skips.skipped = [("a", "no chromium"), ("b", "no playwright"), ("c", "no chromium")]
    assert skips.message() == "3 BROWSER TEST(S) SKIPPED: no chromium; no playwright"


CI_REQUIRED_MODULES = ("torch", "transformers", "trl", "datasets", "peft", "pyarrow")
"""What the tiny-model tests import or skip without (``pytest.importorskip``): the tiny
Qwen2.5-VL and Qwen3-VL built, evaluated through ``hf:`` and trained for two GRPO steps
(``tests/cli/test_frames_cli.py``, ``tests/micro``, ``tests/integrations/test_train.py``).
``make test`` installs them (``.[dev,all]``)."""


@pytest.mark.skipif(not os.environ.get("CI"), reason="only CI must run every tiny-model test")
@pytest.mark.parametrize("module", CI_REQUIRED_MODULES)
def test_ci_has_what_the_tiny_model_tests_need_so_none_is_skipped(module: str) -> None:
    __import__(module)
