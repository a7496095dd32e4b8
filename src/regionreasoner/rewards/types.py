"""Reward result type and the reward-profile protocol."""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class RewardBreakdown:
    """The reward of one completion, per component.

    ``total = tag_format + answer_format + alpha * ref_citation + accuracy + non_repeat
    + beta * consistency`` (both profiles; ``alpha = beta = 1`` by default).

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
    ) -> RewardBreakdown:
        """The breakdown of these components with ``total`` from :func:`weighted_total`."""
        total = weighted_total(
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


class RewardProfile(Protocol):
    """A named reward definition (``official`` or ``paper``)."""

    name: str

    def score(
        self,
        completion: str,
        *,
        problem: str | None,
        ground_truth: GroundTruth,
        alpha: float = 1.0,
        beta: float = 1.0,
    ) -> RewardBreakdown:
        """Score one completion against a validated ground truth. Never raises on the
        completion's content."""
        ...
