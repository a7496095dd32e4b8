"""Public scoring API: ``score_completion`` / ``score_batch`` over registered profiles."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from regionreasoner.errors import ConfigError
from regionreasoner.geometry.frames import Frame
from regionreasoner.registry import Registry
from regionreasoner.rewards.frames import to_reward_frame
from regionreasoner.rewards.ground_truth import GroundTruth, parse_solution
from regionreasoner.rewards.types import (
    DEFAULT_NORMALISATION,
    EQ7_TOTALS,
    RewardBreakdown,
    RewardProfile,
)

REWARD_PROFILES: Registry[RewardProfile] = Registry("reward profile")
"""Reward profiles by name; entries load on first use."""
REWARD_PROFILES.register_lazy("official", "regionreasoner.rewards.official:OFFICIAL_PROFILE")
REWARD_PROFILES.register_lazy("paper", "regionreasoner.rewards.paper:PAPER_PROFILE")

DEFAULT_PROFILE = "paper"
"""The profile used when none is named."""

Solution = str | Sequence[Mapping[str, Any]] | GroundTruth
"""A ground truth: JSON text, decoded list of ``{"bbox_2d", "point_2d"}``, or validated."""


def get_profile(name: str) -> RewardProfile:
    """The registered profile ``name`` (``"official"`` or ``"paper"``).

    Raises:
        UnknownComponentError: no such profile (the message lists the valid names).
    """
    return REWARD_PROFILES.get(name)


def check_weights(alpha: float, beta: float) -> tuple[float, float]:
    """Validate the weights of R_ref (``alpha``) and R_cons (``beta``).

    Raises:
        ConfigError: a weight is not a finite number >= 0.
    """
    both_floats = type(alpha) is float and type(beta) is float
    if both_floats and 0.0 <= alpha < math.inf and 0.0 <= beta < math.inf:
        return alpha, beta  # the common case, without the loop below
    out = []
    for name, value in (("alpha", alpha), ("beta", beta)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{name} must be finite and >= 0, got {value!r}")
        out.append(float(value))
    return out[0], out[1]


def check_normalisation(profile: str, normalisation: str) -> RewardProfile:
    """The profile ``profile``, after checking that it supports the Eq. 7 reading
    ``normalisation``.

    Raises:
        UnknownComponentError: unknown profile.
        ConfigError: unknown reading, or one the profile does not offer (``official``
            has only ``components``: the released sum is unnormalised).

    >>> check_normalisation("paper", "base").name
    'paper'
    """
    scorer = get_profile(profile)
    if normalisation not in scorer.normalisations:
        if normalisation in EQ7_TOTALS:
            raise ConfigError(
                f"normalisation {normalisation!r} is not available with the {profile!r} "
                f"reward profile (it has: {', '.join(scorer.normalisations)}); "
                "use the paper profile"
            )
        raise ConfigError(
            f"unknown normalisation {normalisation!r}; choose from {', '.join(EQ7_TOTALS)}"
        )
    return scorer


def score_completion(
    completion: str,
    *,
    problem: str | None,
    solution: Solution,
    profile: str = DEFAULT_PROFILE,
    alpha: float = 1.0,
    beta: float = 1.0,
    normalisation: str = DEFAULT_NORMALISATION,
    frame: Frame | None = None,
) -> RewardBreakdown:
    """Score one completion.

    Args:
        completion: the model's text (four tagged blocks expected). Any string is
            accepted; malformed parts score 0 and are listed in ``issues``.
        problem: the raw question text, references written ``bbox=[x1,y1,x2,y2]``
            (model frame).
        solution: the ground truth, ``[{"bbox_2d": [...], "point_2d": [...]}, ...]`` as
            JSON text or decoded (model frame).
        profile: ``"paper"`` (default) or ``"official"``.
        alpha: weight of ref_citation in the total.
        beta: weight of consistency in the total.
        normalisation: the reading of Eq. 7: ``"components"`` (default; R_base is the
            sum of its components) or ``"base"`` (R_base is their mean, in ``[0, 2]``;
            ``paper`` profile only).
        frame: the frame ``completion``, ``problem`` and ``solution`` are written in
            when it is not the reward frame (840x840): they are rewritten into the
            reward frame first (:func:`~regionreasoner.rewards.frames.to_reward_frame`),
            so a ``rel1000`` completion scores exactly as its ``square840`` twin.

    Returns:
        The :class:`RewardBreakdown`.

    Raises:
        DataFormatError: the solution is malformed.
        UnknownComponentError: unknown profile.
        ConfigError: invalid ``alpha``/``beta`` or ``normalisation``.
        TypeError: ``completion`` or ``problem`` is not a string; a ``GroundTruth``
            solution with a ``frame``.

    >>> gt = '[{"bbox_2d": [10, 10, 50, 50], "point_2d": [30, 30]}]'
    >>> r = score_completion(
    ...     f"<scene>A table.</scene><think>The cup is on the table.</think><answer>{gt}</answer>",
    ...     problem="find the cup", solution=gt, profile="official")
    >>> r.accuracy, r.answer_format
    (3.0, 2.0)
    """
    if not isinstance(completion, str):
        raise TypeError(f"completion must be a str, got {type(completion).__name__}")
    if problem is not None and not isinstance(problem, str):
        raise TypeError(f"problem must be a str or None, got {type(problem).__name__}")
    alpha, beta = check_weights(alpha, beta)
    scorer = check_normalisation(profile, normalisation)
    if frame is not None:
        completion, problem, solution = to_reward_frame(frame, completion, problem, solution)
    ground_truth = parse_solution(solution)
    return scorer.score(
        completion,
        problem=problem,
        ground_truth=ground_truth,
        alpha=alpha,
        beta=beta,
        normalisation=normalisation,
    )


def score_batch(
    completions: Sequence[str],
    *,
    problems: Sequence[str | None],
    solutions: Sequence[Solution],
    profile: str = DEFAULT_PROFILE,
    alpha: float = 1.0,
    beta: float = 1.0,
    normalisation: str = DEFAULT_NORMALISATION,
) -> list[RewardBreakdown]:
    """Score aligned lists of completions, problems and solutions.

    Same arguments as :func:`score_completion`, one entry per completion.

    Raises:
        ValueError: the three sequences differ in length.
        DataFormatError: a solution is malformed (the message names its index).
    """
    if not (len(completions) == len(problems) == len(solutions)):
        raise ValueError(
            f"got {len(completions)} completions, {len(problems)} problems and "
            f"{len(solutions)} solutions; they must be aligned"
        )
    alpha, beta = check_weights(alpha, beta)
    scorer = check_normalisation(profile, normalisation)
    results = []
    for index, (completion, problem, solution) in enumerate(
        zip(completions, problems, solutions, strict=True)
    ):
        if not isinstance(completion, str):
            raise TypeError(f"completions[{index}] must be a str, got {type(completion).__name__}")
        if problem is not None and not isinstance(problem, str):
            raise TypeError(f"problems[{index}] must be a str or None")
        ground_truth = _parse_indexed(solution, index)
        results.append(
            scorer.score(
                completion,
                problem=problem,
                ground_truth=ground_truth,
                alpha=alpha,
                beta=beta,
                normalisation=normalisation,
            )
        )
    return results


def _parse_indexed(solution: Solution, index: int) -> GroundTruth:
    from regionreasoner.errors import DataFormatError

    try:
        return parse_solution(solution)
    except DataFormatError as e:
        raise DataFormatError(e.message, record=f"item {index}", field=e.field) from e
