"""``rounds.png``: the curves, their intervals and the given-reference split."""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image

from regionreasoner.evaluation.plots import render_rounds_png, round_series


def _metrics(with_new_keys: bool) -> dict:
    rounds = {
        "1": {"acc@0.5": 0.9, "gIoU": 0.7, "turns": 10},
        "2": {"acc@0.5": 0.6, "gIoU": None, "turns": 8},
    }
    if with_new_keys:
        rounds["1"].update({"acc@0.5_ci": [0.8, 1.0], "gIoU_ci": [0.6, 0.8]})
        rounds["2"].update(
            {
                "acc@0.5_ci": [0.4, 0.75],
                "gIoU_ci": None,
                "given_reference_hit": {"acc@0.5": 0.8, "gIoU": None, "turns": 5},
                "given_reference_miss": {"acc@0.5": 1 / 3, "gIoU": None, "turns": 3},
            }
        )
    return {"overall": {}, "rounds": rounds}


def test_series_without_the_new_keys_are_the_plain_curves() -> None:
    series = round_series(_metrics(False))
    assert [s.label for s in series] == ["acc@0.5 (this run)", "gIoU (this run)"]
    assert series[0].values == (90.0, 60.0) and series[0].low is None
    assert series[1].values[0] == 70.0 and math.isnan(series[1].values[1])


def test_series_carry_intervals_and_the_given_reference_split() -> None:
    series = {s.key: s for s in round_series(_metrics(True))}
    acc = series["acc@0.5"]
    assert acc.low == (80.0, 40.0) and acc.high == (100.0, 75.0)
    giou = series["gIoU"]
    assert giou.low[0] == 60.0 and math.isnan(giou.low[1])  # no interval for round 2
    hit, miss = series["given_reference_hit"], series["given_reference_miss"]
    assert hit.rounds == miss.rounds == (2,)
    assert hit.values == (80.0,) and miss.values[0] == pytest.approx(100 / 3)
    assert hit.style == miss.style == "split"


def test_png_renders_with_and_without_the_new_keys() -> None:
    pngs = [render_rounds_png(_metrics(flag), "refcocog") for flag in (False, True)]
    for png in pngs:
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG" and image.size[0] > 100
    assert pngs[0] != pngs[1]
