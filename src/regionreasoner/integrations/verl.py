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

A row exported in another frame than the reward frame (``export-train --format verl
--frame rel1000``) names it in ``extra_info["frame"]`` with the image size in
``extra_info["image_wh"]`` (or inside a packed ground truth); the response, the question
and the solution are then rewritten into the 840x840 reward frame before scoring
(:mod:`regionreasoner.rewards.frames`), so a ``rel1000`` response scores exactly like
its ``square840`` twin.

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
    unpack_ground_truth,
)
from regionreasoner.rewards.frames import FRAME_KEY, IMAGE_WH_KEY, row_frame

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
        extra_info: per-row extras; ``extra_info["problem"]`` is the question text,
            ``extra_info["frame"]`` and ``["image_wh"]`` the frame the row is written in
            (absent: the reward frame).
        profile: ``"paper"`` (default) or ``"official"`` (via ``reward_kwargs``).
        alpha: weight of ref_citation in the score.
        beta: weight of consistency in the score.
        normalisation: the Eq. 7 reading, ``"components"`` or ``"base"`` (paper only).

    Returns:
        ``{"score": total, "tag_format": ..., ..., "consistency": ...}``.

    Raises:
        DataFormatError: a malformed ground truth, a non-string problem, or a row in
            another frame without its image size.
        UnknownComponentError: an unknown frame name.

    >>> out = compute_score("regiondial", "no tags",
    ...                     '[{"bbox_2d": [0, 0, 5, 5], "point_2d": [2, 2]}]', {"problem": "x"})
    >>> sorted(out) == sorted(SCORE_KEYS), out["score"]
    (True, 0.0)
    """
    packed = unpack_ground_truth(ground_truth)
    extra = extra_info or {}
    problem = extra["problem"] if extra.get("problem") is not None else packed.problem
    if problem is not None and not isinstance(problem, str):
        raise DataFormatError(f"problem must be a string, got {problem!r}", field="problem")
    if extra.get(FRAME_KEY) is not None:
        frame = row_frame(extra[FRAME_KEY], extra.get(IMAGE_WH_KEY), where="extra_info")
    else:
        frame = row_frame(packed.frame, packed.image_wh, where="the ground truth")
    text = solution_str if isinstance(solution_str, str) else ""
    breakdown = score_completion(
        text,
        problem=problem,
        solution=packed.solution,
        profile=profile,
        alpha=alpha,
        beta=beta,
        normalisation=normalisation,
        frame=frame,
    )
    return breakdown.to_dict(total_key=SCORE_KEYS[0])
