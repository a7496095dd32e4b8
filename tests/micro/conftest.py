"""Shared fixtures of the micro tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    from regionreasoner.data.builders.synth import build_synth

    out = tmp_path_factory.mktemp("synth")
    build_synth(out, 2, seed=5, max_turns=3)
    return out
