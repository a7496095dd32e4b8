"""``regionreasoner demo`` as a library call: a fresh synthetic test set, evaluated.

:func:`run_demo` builds a synthetic RegionDial test set into ``OUT/data``, evaluates a
model on it with :func:`~regionreasoner.dialogue.engine.evaluate` (paper protocol;
later questions cite the region the model itself found earlier) into ``OUT/run``, and
writes the random-object baseline beside the metrics (``OUT/run/baseline.json``). By
default the model is the micro RegionReasoner bundled with the package
(:func:`demo_model`); an installation without it runs the ``oracle`` backend.

The module itself is light (the CLI reads its defaults when it builds ``--help``); the
engine loads when :func:`run_demo` runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from regionreasoner import assets
from regionreasoner.errors import UserInputError

if TYPE_CHECKING:
    from regionreasoner.dialogue.engine import EvalProgress, EvalResult

DEFAULT_DEMO_DIALOGUES = 100
"""About 360 turns: with 50 dialogues the last rounds have 6-15 turns each, too few for a
per-round figure; 100 still runs in under a minute on 2 CPU cores."""

DEFAULT_DEMO_SEED = 1000
"""Seed of the demo test set; training recipes use other seeds."""

DEFAULT_DEMO_SEGMENTER = "box-fill"
"""Masks of the demo (SAM2 needs a checkpoint that cannot be downloaded offline)."""

BUNDLED_MAX_NEW_TOKENS = 192
"""Generation budget per turn for the bundled micro model (its answers are ~30-70
tokens); bounds the demo's time even if a turn never closes its answer."""

DEMO_PROTOCOL = "paper"
ORACLE_MODEL = "oracle"
DATA_DIR, RUN_DIR = "data", "run"
BASELINE_FILE = "baseline.json"
"""``{"random_object": ...}`` beside the run's ``metrics.json``."""


@dataclass(frozen=True)
class DemoModel:
    """The model a demo evaluates.

    Attributes:
        spec: the model spec.
        max_new_tokens: the generation budget per turn (``None``: the engine's default).
        oracle_fallback: no model was named and none is bundled: the ``oracle`` runs.
    """

    spec: str
    max_new_tokens: int | None = None
    oracle_fallback: bool = False


def demo_model(model: str | None = None) -> DemoModel:
    """``model`` when given, else the bundled micro model (with
    :data:`BUNDLED_MAX_NEW_TOKENS`), else the ``oracle``."""
    if model is not None:
        return DemoModel(model)
    bundled = assets.bundled_model_spec()
    if bundled is None:
        return DemoModel(ORACLE_MODEL, oracle_fallback=True)
    return DemoModel(bundled, BUNDLED_MAX_NEW_TOKENS)


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` produced.

    Attributes:
        data: the test set (``OUT/data/synth.jsonl``).
        build: the builder's result (statistics of the test set).
        run: the evaluation (metrics, statistics, config) in ``OUT/run``.
        baseline: the random-object baseline, shaped like ``metrics.json``.
    """

    data: Path
    build: Any
    run: EvalResult
    baseline: dict[str, Any]


def run_demo(
    out: str | os.PathLike[str],
    *,
    model: DemoModel | None = None,
    dialogues: int = DEFAULT_DEMO_DIALOGUES,
    seed: int = DEFAULT_DEMO_SEED,
    segmenter: str = DEFAULT_DEMO_SEGMENTER,
    reference: str = "predicted",
    build_progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
    on_built: Callable[[Any], None] | None = None,
    progress: EvalProgress | None = None,
) -> DemoResult:
    """Build a fresh synthetic test set in ``out/data`` and evaluate ``model`` on it in
    ``out/run`` (replacing an earlier demo there).

    Args:
        out: the demo folder.
        model: what to evaluate (default :func:`demo_model`).
        dialogues: test dialogues (one image each).
        seed: seed of the test set.
        segmenter: segmenter spec.
        reference: reference policy (``predicted`` or ``oracle``).
        build_progress: wraps the builder's loop over dialogues.
        on_built: called with the builder's result before the evaluation starts.
        progress: the evaluation's progress.

    Raises:
        UserInputError: bad arguments.
    """
    from regionreasoner.data.builders import BUILDERS
    from regionreasoner.data.io import read_dialogues
    from regionreasoner.dialogue.engine import EvalSettings, evaluate
    from regionreasoner.evaluation.baselines import random_object_accuracy
    from regionreasoner.evaluation.run_dir import write_json

    if dialogues < 1:
        raise UserInputError(f"--dialogues must be >= 1, got {dialogues}")
    model = model if model is not None else demo_model()
    root = Path(out)
    build_kwargs = {"progress": build_progress} if build_progress is not None else {}
    built = BUILDERS.get("synth")(root / DATA_DIR, dialogues, seed, **build_kwargs)
    if on_built is not None:
        on_built(built)
    budget = {} if model.max_new_tokens is None else {"max_new_tokens": model.max_new_tokens}
    settings = EvalSettings(
        data=built.path,
        out=root / RUN_DIR,
        model=model.spec,
        overwrite=True,
        protocol=DEMO_PROTOCOL,
        reference=reference,
        segmenter=segmenter,
        **budget,
    )
    run = evaluate(settings, progress)
    baseline = random_object_accuracy(read_dialogues(built.path))
    write_json(root / RUN_DIR / BASELINE_FILE, {"random_object": baseline})
    return DemoResult(built.path, built, run, baseline)


__all__ = [
    "BUNDLED_MAX_NEW_TOKENS",
    "DEFAULT_DEMO_DIALOGUES",
    "DEFAULT_DEMO_SEED",
    "DemoModel",
    "DemoResult",
    "demo_model",
    "run_demo",
]
