"""Reward functions for TRL's ``GRPOTrainer``: one callable per component plus the total.

TRL calls every reward function as ``f(prompts=..., completions=..., completion_ids=...,
**kwargs)`` where ``kwargs`` holds each other dataset column as a list aligned with the
completions (here ``problem`` and ``solution``) plus ``trainer_state``, ``log_extra`` and
``log_metric``. Completions are plain strings or conversational
``[{"role": "assistant", "content": "..."}]``. TRL names each function by its
``__name__`` and logs ``rewards/<name>/mean`` and ``/std``.

TRL SUMS the functions with ``GRPOConfig.reward_weights`` (zero weights are accepted
and the function is still computed and logged; checked against trl 1.16's
``GRPOTrainer``). :func:`make_trl_reward_setup` therefore returns weight 1 for the
``total`` function and 0 for the per-component ones: the optimised reward is exactly the
profile total and every component is logged::

    funcs, weights = make_trl_reward_setup("paper", alpha=1.0, beta=1.0)  # normalisation too
    config = GRPOConfig(..., reward_weights=weights)
    trainer = GRPOTrainer(model=..., reward_funcs=funcs, args=config, train_dataset=ds)

Each completion is scored once for all callables (a module-level LRU cache keyed by
completion, problem, solution, profile, weights and Eq. 7 normalisation). The callables
are plain classes holding only their settings, so they pickle (closures would not;
TRL's async rollout workers pickle reward functions).

Frames: the rewards' pixel thresholds (box L1 10 px, point 30 px) are pixels of the
released 840x840 frame (:data:`~regionreasoner.rewards.frames.REWARD_FRAME`). A row whose
optional ``frame`` column names another frame (with its ``image_wh``) is converted into
the reward frame before it is scored (:func:`~regionreasoner.rewards.frames.to_reward_frame`,
the :class:`~regionreasoner.geometry.frames.Frame` arithmetic of the evaluation, shared
with the veRL and EasyR1 adapters). A ``rel1000`` completion is therefore rewarded
exactly like its ``square840`` twin. Rows without the column are scored as they are (the
datasets ``export-train`` writes in the default frame).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from regionreasoner.errors import ConfigError, DataFormatError
from regionreasoner.geometry.frames import Frame
from regionreasoner.rewards import (
    COMPONENTS,
    DEFAULT_NORMALISATION,
    DEFAULT_PROFILE,
    REWARD_KEYS,
    RewardBreakdown,
    check_normalisation,
    check_weights,
    score_completion,
)
from regionreasoner.rewards.frames import (
    FRAME_KEY,
    IMAGE_WH_KEY,
    row_frame,
    solution_text,
    to_reward_frame,
)

PROBLEM_COLUMN = "problem"
SOLUTION_COLUMN = "solution"
"""Dataset columns the reward functions read (TRL passes them as keyword arguments)."""

RAW_COMPLETION_COLUMN = "completion_text"
"""Optional column with each completion's raw decoded text. When present it is scored
instead of TRL's ``completions``: for a tokenizer with a response template, TRL parses
completions with ``parse_response`` first, which can split ``<think>`` out of the text
the rewards see. The dialogue trainer fills it with the very text it parsed the turn's
boxes from."""

FRAME_COLUMN = FRAME_KEY
IMAGE_WH_COLUMN = IMAGE_WH_KEY
"""Optional dataset columns: the frame a row's problem, solution and completions are
written in (a ``--frame`` name) and the original image size ``[W, H]`` it needs."""

_CACHE_SIZE = 4096
"""Scored completions kept; must exceed one generation batch so that the second to the
last callable of a batch hit the cache."""


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _score_cached(
    completion: str,
    problem: str | None,
    solution: str,
    profile: str,
    alpha: float,
    beta: float,
    normalisation: str,
) -> RewardBreakdown:
    return score_completion(
        completion,
        problem=problem,
        solution=solution,
        profile=profile,
        alpha=alpha,
        beta=beta,
        normalisation=normalisation,
    )


def score_text(
    completion: str,
    problem: str | None,
    solution: Any,
    *,
    profile: str = DEFAULT_PROFILE,
    alpha: float = 1.0,
    beta: float = 1.0,
    normalisation: str = DEFAULT_NORMALISATION,
    frame: Frame | None = None,
) -> RewardBreakdown:
    """The reward breakdown of one completion, through the cache the callables share.

    Args:
        frame: the frame ``completion``, ``problem`` and ``solution`` are written in;
            ``None`` (or the reward frame) scores them as they are.
    """
    if frame is not None:
        completion, problem, solution = to_reward_frame(frame, completion, problem, solution)
    return _score_cached(
        completion, problem, solution_text(solution), profile, alpha, beta, normalisation
    )


def row_frames(columns: Mapping[str, Any], n: int) -> list[Frame | None]:
    """The frame of each of ``n`` rows from the optional ``frame`` and ``image_wh``
    columns of a reward call's keyword arguments (``None``: score the row as written).

    Raises:
        DataFormatError: a misaligned column, or a row in another frame without a valid
            ``image_wh``.
        UnknownComponentError: an unknown frame name.
    """
    frames, image_whs = columns.get(FRAME_COLUMN), columns.get(IMAGE_WH_COLUMN)
    if frames is None:
        return [None] * n
    if len(frames) != n:
        raise DataFormatError(
            f"column {FRAME_COLUMN!r} has {len(frames)} values for {n} completions",
            field=FRAME_COLUMN,
        )
    aligned = image_whs is not None and len(image_whs) == n
    return [
        row_frame(name, image_whs[index] if aligned else None, where=f"row {index}")
        for index, name in enumerate(frames)
    ]


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or the concatenated ``content`` of a
    conversational completion (string contents or ``{"type": "text", "text": ...}`` parts).

    >>> completion_text([{"role": "assistant", "content": "<answer>[]</answer>"}])
    '<answer>[]</answer>'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        completion = [completion]
    if not isinstance(completion, Sequence):
        raise TypeError(f"unsupported completion type {type(completion).__name__}")
    parts: list[str] = []
    for message in completion:
        content = message.get("content") if isinstance(message, Mapping) else message
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, Sequence):
            parts.extend(
                p["text"]
                for p in content
                if isinstance(p, Mapping)
                and p.get("type") == "text"
                and isinstance(p.get("text"), str)
            )
    return "".join(parts)


class RegionReasonerReward:
    """One TRL reward function: a component of a profile, or its weighted total.

    Args:
        component: one of ``total, tag_format, answer_format, ref_citation, accuracy,
            non_repeat, consistency``; also the function's ``__name__``.
        profile: reward profile name (``"paper"`` or ``"official"``).
        alpha: weight of ref_citation in the total.
        beta: weight of consistency in the total.
        normalisation: the Eq. 7 reading, ``"components"`` or ``"base"`` (paper only).

    Raises:
        ConfigError: unknown component, invalid weights or normalisation.
        UnknownComponentError: unknown profile.
    """

    __name__ = "total"

    def __init__(
        self,
        component: str = "total",
        *,
        profile: str = DEFAULT_PROFILE,
        alpha: float = 1.0,
        beta: float = 1.0,
        normalisation: str = DEFAULT_NORMALISATION,
    ) -> None:
        if component not in REWARD_KEYS:
            raise ConfigError(
                f"unknown reward component {component!r}; choose from {', '.join(REWARD_KEYS)}"
            )
        check_normalisation(profile, normalisation)  # fail now on an unknown profile too
        self.component = component
        self.profile = profile
        self.alpha, self.beta = check_weights(alpha, beta)
        self.normalisation = normalisation
        self.__name__ = component

    def __repr__(self) -> str:
        return (
            f"RegionReasonerReward({self.component!r}, profile={self.profile!r}, "
            f"alpha={self.alpha}, beta={self.beta}, normalisation={self.normalisation!r})"
        )

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        completion_ids: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        """Score a batch; returns one float per completion.

        Raises:
            DataFormatError: the ``problem``/``solution`` columns are missing or not
                aligned with the completions, or a solution is malformed.
        """
        completions = list(completions or [])
        problems = kwargs.get(PROBLEM_COLUMN)
        solutions = kwargs.get(SOLUTION_COLUMN)
        for name, column in ((PROBLEM_COLUMN, problems), (SOLUTION_COLUMN, solutions)):
            if column is None or len(column) != len(completions):
                raise DataFormatError(
                    f"the reward needs a dataset column {name!r} with one value per completion "
                    f"(got {'none' if column is None else len(column)} for {len(completions)})",
                    field=name,
                )
        raw = kwargs.get(RAW_COMPLETION_COLUMN)
        if raw is not None and len(raw) != len(completions):
            raise DataFormatError(
                f"column {RAW_COMPLETION_COLUMN!r} has {len(raw)} values for "
                f"{len(completions)} completions",
                field=RAW_COMPLETION_COLUMN,
            )
        texts = list(raw) if raw is not None else [completion_text(c) for c in completions]
        frames = row_frames(kwargs, len(completions))
        out = []
        for text, problem, solution, frame in zip(texts, problems, solutions, frames, strict=True):
            breakdown = score_text(
                text,
                problem,
                solution,
                profile=self.profile,
                alpha=self.alpha,
                beta=self.beta,
                normalisation=self.normalisation,
                frame=frame,
            )
            out.append(float(getattr(breakdown, self.component)))
        return out


def make_reward_funcs(
    profile: str = DEFAULT_PROFILE,
    components: Sequence[str] | None = None,
    alpha: float = 1.0,
    beta: float = 1.0,
    include_total: bool = True,
    normalisation: str = DEFAULT_NORMALISATION,
) -> list[RegionReasonerReward]:
    """Reward callables for ``GRPOTrainer(reward_funcs=...)``.

    Args:
        profile: ``"paper"`` or ``"official"``.
        components: the components to expose (default: all six, in summation order).
        alpha: weight of ref_citation in the total.
        beta: weight of consistency in the total.
        include_total: append the ``total`` callable.
        normalisation: the Eq. 7 reading, ``"components"`` or ``"base"`` (paper only).

    Returns:
        The callables; their ``__name__`` is the component name.

    Raises:
        ConfigError: unknown or repeated component names.

    >>> [f.__name__ for f in make_reward_funcs(components=["accuracy"])]
    ['accuracy', 'total']
    """
    names = list(COMPONENTS if components is None else components)
    for name in names:
        if name not in COMPONENTS:
            raise ConfigError(
                f"unknown reward component {name!r}; choose from {', '.join(COMPONENTS)}"
            )
    if len(set(names)) != len(names):
        raise ConfigError(f"repeated reward components in {names}")
    if include_total:
        names.append("total")
    return [
        RegionReasonerReward(
            n, profile=profile, alpha=alpha, beta=beta, normalisation=normalisation
        )
        for n in names
    ]


def make_trl_reward_setup(
    profile: str = DEFAULT_PROFILE,
    alpha: float = 1.0,
    beta: float = 1.0,
    normalisation: str = DEFAULT_NORMALISATION,
) -> tuple[list[RegionReasonerReward], list[float]]:
    """Reward callables and ``reward_weights`` whose weighted sum is the profile total.

    Every component is logged (weight 0); ``total`` carries weight 1.

    >>> funcs, weights = make_trl_reward_setup("official")
    >>> [f.__name__ for f in funcs][-1], weights
    ('total', [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    """
    funcs = make_reward_funcs(
        profile, None, alpha, beta, include_total=True, normalisation=normalisation
    )
    weights = [0.0] * (len(funcs) - 1) + [1.0]
    return funcs, weights


def clear_cache() -> None:
    """Drop the shared score cache (e.g. between evaluation runs)."""
    _score_cached.cache_clear()
