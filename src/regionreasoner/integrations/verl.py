"""veRL custom reward: ``compute_score`` for ``reward.custom_reward_function``.

Configure veRL with::

    reward.custom_reward_function.path=<site-packages>/regionreasoner/integrations/verl.py
    reward.custom_reward_function.name=compute_score
    # optional: reward.custom_reward_function.reward_kwargs.profile=official
    # optional: ...reward_kwargs.normalisation=base   (alpha, beta too)

veRL calls ``compute_score(data_source=..., solution_str=..., ground_truth=...,
extra_info=...)`` once per response. ``ground_truth`` is the solution JSON
(``reward_model.ground_truth`` of ``regionreasoner export-train --format verl``) and the
question (with its ``bbox=[...]`` references) comes from ``extra_info["problem"]``; a
packed ground truth ``{"solution": [...], "problem": "..."}`` (the EasyR1 packing) is
accepted too, with ``extra_info["problem"]`` taking precedence.

The returned dict always has the same keys, ``score`` plus the six components (veRL
logs every non-``score`` key as a column, so the key set must never vary). This module
imports nothing from veRL and no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from regionreasoner.errors import DataFormatError
from regionreasoner.rewards import (
    COMPONENTS,
    DEFAULT_NORMALISATION,
    DEFAULT_PROFILE,
    score_completion,
    unpack_solution,
)

SCORE_KEYS: tuple[str, ...] = ("score", *COMPONENTS)
"""Keys of every :func:`compute_score` result."""


def compute_score(
    data_source: str | None,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    *,
    profile: str = DEFAULT_PROFILE,
    alpha: float = 1.0,
    beta: float = 1.0,
    normalisation: str = DEFAULT_NORMALISATION,
    **_: Any,
) -> dict[str, float]:
    """Score one response for veRL.

    Args:
        data_source: the dataset name (unused; every RegionReasoner row is scored alike).
        solution_str: the decoded response.
        ground_truth: the solution JSON (or list), or a packed
            ``{"solution": [...], "problem": "..."}``.
        extra_info: per-row extras; ``extra_info["problem"]`` is the question text.
        profile: ``"paper"`` (default) or ``"official"`` (via ``reward_kwargs``).
        alpha: weight of ref_citation in the score.
        beta: weight of consistency in the score.
        normalisation: the Eq. 7 reading, ``"components"`` or ``"base"`` (paper only).

    Returns:
        ``{"score": total, "tag_format": ..., ..., "consistency": ...}``.

    Raises:
        DataFormatError: a malformed ground truth or a non-string problem.

    >>> out = compute_score("regiondial", "no tags",
    ...                     '[{"bbox_2d": [0, 0, 5, 5], "point_2d": [2, 2]}]', {"problem": "x"})
    >>> sorted(out) == sorted(SCORE_KEYS), out["score"]
    (True, 0.0)
    """
    solution, packed_problem = unpack_solution(ground_truth)
    problem = packed_problem
    if extra_info is not None and extra_info.get("problem") is not None:
        problem = extra_info["problem"]
    if problem is not None and not isinstance(problem, str):
        raise DataFormatError(f"problem must be a string, got {problem!r}", field="problem")
    text = solution_str if isinstance(solution_str, str) else ""
    breakdown = score_completion(
        text,
        problem=problem,
        solution=solution,
        profile=profile,
        alpha=alpha,
        beta=beta,
        normalisation=normalisation,
    )
    return breakdown.to_dict(total_key=SCORE_KEYS[0])
