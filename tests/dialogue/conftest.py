"""Fixtures of the engine tests: a tiny RegionDial benchmark written to disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_bench import make_bench


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    """Six dialogues of 2-4 turns over images of three sizes, with masks."""
    return make_bench(tmp_path / "bench")
