"""RegionReasoner rewards: two exact profiles over the same seven components.

* ``paper`` (default): the paper's equations (Sec. 4.3, Eqs. 4-7), each component in
  ``[0, 2]``, ``total = base + alpha * ref_citation + beta * consistency`` with base the
  sum of the four base components (``normalisation="components"``) or their mean
  (``"base"``).
* ``official``: the released reward code, value for value, quirks included.

Importing this package needs only numpy and scipy (and ``lemminflect`` for the paper
profile, loaded on first use); never torch. See ``docs/rewards.md``.

>>> from regionreasoner.rewards import score_completion
>>> score_completion("no tags at all", problem="find the cup",
...                  solution='[{"bbox_2d": [0, 0, 9, 9], "point_2d": [4, 4]}]').total
0.0
"""

from regionreasoner.rewards.api import (
    DEFAULT_PROFILE,
    REWARD_PROFILES,
    check_normalisation,
    check_weights,
    get_profile,
    score_batch,
    score_completion,
)
from regionreasoner.rewards.frames import REWARD_FRAME, to_reward_frame
from regionreasoner.rewards.ground_truth import (
    GroundTruth,
    PackedGroundTruth,
    pack_solution,
    parse_solution,
    unpack_ground_truth,
    unpack_solution,
)
from regionreasoner.rewards.types import (
    COMPONENTS,
    DEFAULT_NORMALISATION,
    EQ7_TOTALS,
    REWARD_KEYS,
    RewardBreakdown,
    RewardProfile,
)

__all__ = [
    "COMPONENTS",
    "DEFAULT_NORMALISATION",
    "DEFAULT_PROFILE",
    "EQ7_TOTALS",
    "REWARD_FRAME",
    "REWARD_KEYS",
    "REWARD_PROFILES",
    "GroundTruth",
    "PackedGroundTruth",
    "RewardBreakdown",
    "RewardProfile",
    "check_normalisation",
    "check_weights",
    "get_profile",
    "pack_solution",
    "parse_solution",
    "score_batch",
    "score_completion",
    "to_reward_frame",
    "unpack_ground_truth",
    "unpack_solution",
]
