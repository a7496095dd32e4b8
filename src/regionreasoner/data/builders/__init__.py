"""Benchmark builders: RegionDial dialogues from RefCOCO-style sources or procedural scenes.

Builders are looked up by name in :data:`BUILDERS` (lazy, so importing this package
imports neither PIL drawing code nor pycocotools)::

    build = BUILDERS.get("synth")
    result = build(out_dir="data/synth", n_dialogues=50, seed=0)

* ``refcoco``: :func:`regionreasoner.data.builders.refcoco.build_refcoco`
* ``refcoco-single-round``: :func:`regionreasoner.data.builders.single_round.
  build_refcoco_single_round` (one-turn records, one per referring expression)
* ``synth``: :func:`regionreasoner.data.builders.synth.build_synth_benchmark`
  (:func:`regionreasoner.data.builders.synth.build_synth` returns only the path).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regionreasoner.data.builders.stats import BenchmarkStats
from regionreasoner.registry import Registry

Progress = Callable[[Iterable[Any], int], Iterable[Any]]
"""``progress(iterable, total) -> iterable``: wraps long loops (the CLI passes tqdm)."""


def no_progress(iterable: Iterable[Any], total: int) -> Iterable[Any]:
    """The default :data:`Progress`: no display."""
    return iterable


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What a builder wrote.

    Attributes:
        path: the RegionDial JSONL file.
        stats: counts of the written dialogues.
        skipped: human-readable notes on what was left out (e.g. images with one
            referred object), name -> count.
    """

    path: Path
    stats: BenchmarkStats
    skipped: dict[str, int]


BUILDERS: Registry[Callable[..., BuildResult]] = Registry("builder")
BUILDERS.register_lazy("refcoco", "regionreasoner.data.builders.refcoco:build_refcoco")
BUILDERS.register_lazy(
    "refcoco-single-round",
    "regionreasoner.data.builders.single_round:build_refcoco_single_round",
)
BUILDERS.register_lazy("synth", "regionreasoner.data.builders.synth:build_synth_benchmark")

__all__ = ["BUILDERS", "BuildResult", "Progress", "no_progress"]
