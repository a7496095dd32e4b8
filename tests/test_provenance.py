"""The versions a run records: this package's own version comes from the running code."""

from __future__ import annotations

import importlib.metadata
import platform

import pytest

import regionreasoner
from regionreasoner.provenance import software_versions


def test_versions_of_python_this_package_and_the_named_packages() -> None:
    versions = software_versions(["numpy", "no-such-package-here"])
    assert list(versions) == ["python", "regionreasoner", "numpy", "no-such-package-here"]
    assert versions["python"] == platform.python_version()
    assert versions["numpy"] == importlib.metadata.version("numpy")
    assert versions["no-such-package-here"] is None


@pytest.mark.parametrize("installed", [None, "0.0.1"])  # not installed / a stale install
def test_own_version_ignores_the_installed_metadata(
    monkeypatch: pytest.MonkeyPatch, installed: str | None
) -> None:
    real = importlib.metadata.version

    def version(name: str) -> str:
        if name != "regionreasoner":
            return real(name)
        if installed is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed

    monkeypatch.setattr(importlib.metadata, "version", version)
    versions = software_versions(["regionreasoner", "numpy"])
    assert versions["regionreasoner"] == regionreasoner.__version__
    assert versions["numpy"] == real("numpy")
