"""Reward result type and the reward-profile protocol."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from regionreasoner.rewards.ground_truth import GroundTruth

COMPONENTS: tuple[str, ...] = (
    "tag_format",
    "answer_format",
    "ref_citation",
    "accuracy",
    "non_repeat",
    "consistency",
)
"""The reward components, in the order they are summed."""

REWARD_KEYS: tuple[str, ...] = ("total", *COMPONENTS)
"""Keys of :meth:`RewardBreakdown.to_dict` (and of the CLI's ``"rewards"`` object)."""

BASE_COMPONENTS: tuple[str, ...] = ("tag_format", "answer_format", "accuracy", "non_repeat")
"""The components that make up R_base in Eq. 7 (the paper's "base rewards")."""

DEFAULT_NORMALISATION = "components"
"""How R_base enters Eq. 7 unless told otherwise (see :data:`EQ7_TOTALS`)."""


@dataclass(frozen=True, slots=True)
class RewardBreakdown:
    """The reward of one completion, per component.

    ``total = tag_format + answer_format + alpha * ref_citation + accuracy + non_repeat
    + beta * consistency`` (both profiles; ``alpha = beta = 1`` by default), or with the
    ``paper`` profile's ``normalisation="base"`` the four base components' mean in place
    of their sum. The components themselves are the same under both readings.

    Attributes:
        total: the weighted sum that is optimised.
        tag_format: the four tagged blocks (official: per-tag heuristics).
        answer_format: the answer JSON schema.
        ref_citation: R_ref, citing the reference box in ``<think>`` (Eq. 4), unweighted.
        accuracy: Hungarian-matched box IoU / box L1 / point hits.
        non_repeat: absence of repeated sentences.
        consistency: R_cons, scene/focus/think keyword overlap + logic prior (Eqs. 5-6),
            unweighted.
        issues: why components lost points, each ``"<component>: <reason>"``.
    """

    total: float
    tag_format: float
    answer_format: float
    ref_citation: float
    accuracy: float
    non_repeat: float
    consistency: float
    issues: tuple[str, ...] = ()

    @classmethod
    def weighted(
        cls,
        *,
        tag_format: float,
        answer_format: float,
        ref_citation: float,
        accuracy: float,
        non_repeat: float,
        consistency: float,
        alpha: float,
        beta: float,
        issues: tuple[str, ...] = (),
        normalisation: str = DEFAULT_NORMALISATION,
    ) -> RewardBreakdown:
        """The breakdown of these components with ``total`` from the Eq. 7 reading
        ``normalisation`` (a key of :data:`EQ7_TOTALS`; :func:`weighted_total` by
        default)."""
        total = EQ7_TOTALS[normalisation](
            tag_format,
            answer_format,
            ref_citation,
            accuracy,
            non_repeat,
            consistency,
            alpha=alpha,
            beta=beta,
        )
        return cls(
            total=total,
            tag_format=tag_format,
            answer_format=answer_format,
            ref_citation=ref_citation,
            accuracy=accuracy,
            non_repeat=non_repeat,
            consistency=consistency,
            issues=issues,
        )

    def to_dict(self, total_key: str = "total") -> dict[str, float]:
        """The seven values keyed by :data:`REWARD_KEYS` (issues excluded); ``total_key``
        renames the total (``"score"`` for veRL, ``"overall"`` for EasyR1)."""
        return {
            total_key: self.total,
            "tag_format": self.tag_format,
            "answer_format": self.answer_format,
            "ref_citation": self.ref_citation,
            "accuracy": self.accuracy,
            "non_repeat": self.non_repeat,
            "consistency": self.consistency,
        }


def weighted_total(
    tag_format: float,
    answer_format: float,
    ref_citation: float,
    accuracy: float,
    non_repeat: float,
    consistency: float,
    *,
    alpha: float,
    beta: float,
) -> float:
    """``tag + answer_format + alpha * ref + accuracy + non_repeat + beta * consistency``.

    The additions happen in the released code's order (format block first), so that with
    ``alpha = beta = 1`` the official total is bit-for-bit the released sum.
    """
    total = tag_format + answer_format
    total = total + alpha * ref_citation
    total = total + accuracy
    total = total + non_repeat
    return total + beta * consistency


def normalised_base_total(
    tag_format: float,
    answer_format: float,
    ref_citation: float,
    accuracy: float,
    non_repeat: float,
    consistency: float,
    *,
    alpha: float,
    beta: float,
) -> float:
    """``mean(tag, answer_format, accuracy, non_repeat) + alpha * ref + beta * consistency``:
    R_base itself normalised to ``[0, 2]`` (each base component lies in ``[0, 2]``, so
    their mean does), the second reading of Eq. 7.

    >>> normalised_base_total(2.0, 2.0, 2.0, 2.0, 2.0, 2.0, alpha=1.0, beta=1.0)
    6.0
    """
    base = (tag_format + answer_format + accuracy + non_repeat) / len(BASE_COMPONENTS)
    return base + alpha * ref_citation + beta * consistency


TotalFunction = Callable[..., float]
"""``f(tag, answer_format, ref, accuracy, non_repeat, consistency, *, alpha, beta)``."""

EQ7_TOTALS: dict[str, TotalFunction] = {
    "components": weighted_total,
    "base": normalised_base_total,
}
"""The two readings of Eq. 7's "each component is normalized to [0, 2]", by name:
``components`` (each base component in ``[0, 2]``, R_base their sum, up to 8) and
``base`` (R_base itself in ``[0, 2]``: the mean of the base components). See
``docs/rewards.md``."""


class RewardProfile(Protocol):
    """A named reward definition (``official`` or ``paper``).

    Attributes:
        name: the registry name.
        normalisations: the Eq. 7 readings (keys of :data:`EQ7_TOTALS`) it supports,
            the default first.
    """

    name: str
    normalisations: tuple[str, ...]

    def score(
        self,
        completion: str,
        *,
        problem: str | None,
        ground_truth: GroundTruth,
        alpha: float = 1.0,
        beta: float = 1.0,
        normalisation: str = DEFAULT_NORMALISATION,
    ) -> RewardBreakdown:
        """Score one completion against a validated ground truth. Never raises on the
        completion's content."""
        ...
