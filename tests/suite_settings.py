"""Session-wide settings of the suite, used by ``tests/conftest.py`` (kept here so tests
can import them: ``conftest`` is not a unique module name).

* Hypothesis profiles: ``ci`` (derandomised, no example database) when the ``CI``
  environment variable is set, else ``dev`` (random, with the local ``.hypothesis/``
  database that replays past failures); ``HYPOTHESIS_PROFILE=ci|dev`` picks one.
* :class:`BrowserSkips`: skipped browser tests are reported in a loud line above the
  closing line, and under ``CI`` they fail the session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

CI_ENV = "CI"
HYPOTHESIS_PROFILE_ENV = "HYPOTHESIS_PROFILE"
HYPOTHESIS_CI_PROFILE = "ci"
HYPOTHESIS_DEV_PROFILE = "dev"
BROWSER_MARK = "browser"

_COMMON_HYPOTHESIS = {
    # example counts are set per test; wall-time limits do not belong in unit tests
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
}
# Both start from hypothesis' own "default" profile: a profile registered without a parent
# inherits whatever is loaded at the time, and under ``CI`` hypothesis has already loaded
# its built-in (derandomised, database-less) CI profile.
_HYPOTHESIS_BASE = settings.get_profile("default")
settings.register_profile(
    HYPOTHESIS_CI_PROFILE,
    parent=_HYPOTHESIS_BASE,
    derandomize=True,
    database=None,
    print_blob=True,
    **_COMMON_HYPOTHESIS,
)
settings.register_profile(HYPOTHESIS_DEV_PROFILE, parent=_HYPOTHESIS_BASE, **_COMMON_HYPOTHESIS)


def hypothesis_profile(environ: Mapping[str, str]) -> str:
    """The profile for an environment: ``HYPOTHESIS_PROFILE``, else ``ci`` under ``CI``."""
    chosen = environ.get(HYPOTHESIS_PROFILE_ENV)
    if chosen:
        return chosen
    return HYPOTHESIS_CI_PROFILE if environ.get(CI_ENV) else HYPOTHESIS_DEV_PROFILE


def load_hypothesis_profile(environ: Mapping[str, str]) -> str:
    """Load (and return the name of) the profile :func:`hypothesis_profile` picks."""
    name = hypothesis_profile(environ)
    settings.load_profile(name)
    return name


class BrowserSkips:
    """Makes skipped browser tests visible, and fatal under ``CI``.

    Each skipped ``@pytest.mark.browser`` test is counted; the terminal summary then
    prints one loud line above pytest's closing line, and under ``CI`` the session
    fails (exit code 1) even when every test that ran passed. Deselecting them with
    ``-m "not browser"`` is a choice, not a skip, and is not reported.
    """

    def __init__(self, *, ci: bool) -> None:
        self.ci = ci
        self.skipped: list[tuple[str, str]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and BROWSER_MARK in report.keywords:
            longrepr = report.longrepr
            reason = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
            self.skipped.append((report.nodeid, reason.removeprefix("Skipped: ")))

    def message(self) -> str:
        reasons = sorted({reason for _, reason in self.skipped})
        return f"{len(self.skipped)} BROWSER TEST(S) SKIPPED: {'; '.join(reasons)}" + (
            " -- CI requires them, failing the run" if self.ci else ""
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.skipped:
            terminalreporter.write_sep("!", self.message(), red=True, bold=True)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.ci and self.skipped and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
