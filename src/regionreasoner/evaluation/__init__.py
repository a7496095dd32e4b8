"""Evaluation: functional metrics, per-round accumulators, published numbers, reports.

Importing this package loads numpy and pycocotools only; matplotlib and PIL load when a
report is written (:func:`regionreasoner.evaluation.report.write_reports`).
"""

from regionreasoner.evaluation.accumulators import (
    MetricsAccumulator,
    RoundAccumulator,
    TurnScore,
    TurnTruth,
    round_of,
    score_row,
)
from regionreasoner.evaluation.metrics import (
    IOU_HIT_THRESHOLD,
    PASS_THRESHOLDS,
    box_hit_any,
    box_hit_top1,
    cumulative_iou,
    mean_iou,
    pass_rates,
)
