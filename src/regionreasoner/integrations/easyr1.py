"""EasyR1 reward function: ``compute_score`` for ``worker.reward.reward_function``.

EasyR1's function reward managers pass only the response and the ground truth:
``reward_type=sequential`` calls ``compute_score({"response", "response_length",
"ground_truth"})`` and expects ``{"overall": float, ...}``; ``reward_type=batch`` calls
it with a list of such dicts and expects a list. Both are supported here. Every key
besides ``overall`` is logged as a metric.

Since the question (with its ``bbox=[...]`` references) is not passed, it travels inside
the ground truth: the ``solution`` column of ``regionreasoner export-train --format
easyr1`` is the JSON string ``{"solution": [{"bbox_2d": ..., "point_2d": ...}],
"problem": "..."}`` (see :func:`regionreasoner.rewards.pack_solution`). A plain
solution list is accepted too, scored as a question without references. A row exported
in another frame than the reward frame (``export-train --format easyr1 --frame
rel1000``) packs ``"frame"`` and ``"image_wh"`` beside them, and the response, question
and solution are rewritten into the 840x840 reward frame before scoring
(:mod:`regionreasoner.rewards.frames`). Configure::

    worker.reward.reward_function=<site-packages>/regionreasoner/integrations/easyr1.py:compute_score
    worker.reward.reward_function_kwargs.profile=paper   # or official; alpha / beta too
    worker.reward.reward_function_kwargs.normalisation=base   # paper only; default components

This module imports nothing from EasyR1 and no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from regionreasoner.errors import DataFormatError
from regionreasoner.rewards import (
    COMPONENTS,
    DEFAULT_NORMALISATION,
    DEFAULT_PROFILE,
    pack_solution,
    score_completion,
    unpack_ground_truth,
)
from regionreasoner.rewards.frames import row_frame

SCORE_KEYS: tuple[str, ...] = ("overall", *COMPONENTS)
"""Keys of every score dict."""

__all__ = ["SCORE_KEYS", "compute_score", "pack_solution", "score_one"]


def score_one(
    response: str,
    ground_truth: Any,
    *,
    profile: str = DEFAULT_PROFILE,
    alpha: float = 1.0,
    beta: float = 1.0,
    normalisation: str = DEFAULT_NORMALISATION,
) -> dict[str, float]:
    """Score one response against a packed ground truth (settings as
    :func:`regionreasoner.rewards.score_completion`).

    Returns:
        ``{"overall": total, "tag_format": ..., ..., "consistency": ...}``.

    Raises:
        DataFormatError: a malformed ground truth (one in another frame without its
            image size included).
        UnknownComponentError: an unknown frame name.
    """
    packed = unpack_ground_truth(ground_truth)
    text = response if isinstance(response, str) else ""
    breakdown = score_completion(
        text,
        problem=packed.problem,
        solution=packed.solution,
        profile=profile,
        alpha=alpha,
        beta=beta,
        normalisation=normalisation,
        frame=row_frame(packed.frame, packed.image_wh, where="the ground truth"),
    )
    return breakdown.to_dict(total_key=SCORE_KEYS[0])


def _one(reward_input: Any, index: int | None, **settings: Any) -> dict[str, float]:
    where = "reward_input" if index is None else f"reward_inputs[{index}]"
    if not isinstance(reward_input, Mapping) or "ground_truth" not in reward_input:
        raise DataFormatError("expected a dict with 'response' and 'ground_truth'", field=where)
    return score_one(reward_input.get("response", ""), reward_input["ground_truth"], **settings)


def compute_score(
    reward_input: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    profile: str = DEFAULT_PROFILE,
    alpha: float = 1.0,
    beta: float = 1.0,
    normalisation: str = DEFAULT_NORMALISATION,
) -> dict[str, float] | list[dict[str, float]]:
    """EasyR1 entry point, for ``reward_type=sequential`` (one dict) or ``batch`` (a list).

    >>> gt = pack_solution([{"bbox_2d": [0, 0, 5, 5], "point_2d": [2, 2]}], "find bbox=[9,9,20,20]")
    >>> out = compute_score({"response": "", "response_length": 0, "ground_truth": gt})
    >>> sorted(out) == sorted(SCORE_KEYS), out["overall"]
    (True, 0.0)
    """
    settings = {"profile": profile, "alpha": alpha, "beta": beta, "normalisation": normalisation}
    if isinstance(reward_input, Mapping):
        return _one(reward_input, None, **settings)
    if isinstance(reward_input, str | bytes) or not isinstance(reward_input, Sequence):
        raise DataFormatError("expected a dict or a list of dicts", field="reward_input")
    return [_one(item, i, **settings) for i, item in enumerate(reward_input)]
