"""What produced a result: the software versions a run records beside its outputs.

``regionreasoner eval`` writes them into ``config.json``, ``regionreasoner train`` into
``train_config.json`` and ``regionreasoner serve`` into each exported record's ``meta``.
"""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Iterable

from regionreasoner import __version__

PACKAGE_NAME = "regionreasoner"


def software_versions(packages: Iterable[str] = ()) -> dict[str, str | None]:
    """Python's version, this package's and each of ``packages``' (``None``: not installed).

    This package's version is the running code's own ``regionreasoner.__version__``, not
    the installed distribution's metadata, which a stale editable install or a source
    tree on ``PYTHONPATH`` would misreport.

    >>> versions = software_versions(["no-such-package-here"])
    >>> versions["regionreasoner"] == __version__, versions["no-such-package-here"]
    (True, None)
    """
    found: dict[str, str | None] = {"python": platform.python_version(), PACKAGE_NAME: __version__}
    for package in packages:
        if package in found:
            continue
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found
