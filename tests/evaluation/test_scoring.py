"""The intervals of ``metrics.json`` on a real ``eval`` run: reproducible with their seed,
recorded with their settings, independent of row order and shards."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from regionreasoner.cli.main import main
from regionreasoner.evaluation.plots import round_series
from regionreasoner.evaluation.scoring import BootstrapSettings, compute_metrics, score_run

NOISY_ORACLE = "oracle:noise=40,seed=3"


def _intervals(metrics: dict) -> dict[tuple[str, str, str], list[float] | None]:
    """Every ``*_ci`` of metrics.json, keyed by (section, entry, key)."""
    found = {("overall", "", k): v for k, v in metrics["overall"].items() if k.endswith("_ci")}
    for section in ("rounds", "relations", "sizes"):
        for name, entry in metrics[section].items():
            found.update({(section, name, k): v for k, v in entry.items() if k.endswith("_ci")})
    return found


@pytest.fixture(scope="module")
def noisy_run(synth_bench: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scoring") / "run"
    argv = ["eval", "--data", str(synth_bench), "--model", NOISY_ORACLE]
    assert main([*argv, "--segmenter", "box-fill", "--out", str(out)]) == 0
    return out


@pytest.mark.integration
def test_every_group_gets_intervals_and_the_settings_are_recorded(noisy_run: Path) -> None:
    metrics = json.loads((noisy_run / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["bootstrap"] == {
        "resamples": 1000,
        "seed": 0,
        "confidence": 0.95,
        "unit": "dialogue",
    }
    intervals = _intervals(metrics)
    entries = 1 + sum(len(metrics[s]) for s in ("rounds", "relations", "sizes"))
    assert len(intervals) == 3 * entries  # acc@0.5, gIoU and cIoU of every entry
    assert metrics["relations"] and metrics["sizes"]
    for (section, name, key), interval in intervals.items():
        entry = metrics["overall"] if section == "overall" else metrics[section][name]
        low, high = interval
        assert low <= entry[key.removesuffix("_ci")] <= high, (section, name, key)
    # 12 dialogues with misses: the overall interval has width
    low, high = metrics["overall"]["acc@0.5_ci"]
    assert 0 < low < high < 1
    # rounds.png draws them: error bars, and the two given-reference curves
    series = {one.key: one for one in round_series(metrics)}
    assert series["acc@0.5"].low is not None and series["gIoU"].high is not None
    assert {"given_reference_hit", "given_reference_miss"} <= set(series)


@pytest.mark.integration
def test_intervals_are_reproducible_with_their_seed_whatever_the_row_order(
    noisy_run: Path,
) -> None:
    run = score_run([noisy_run])
    first = compute_metrics(run)
    # rows in another order, as a resumed or merged file may hold them
    reversed_rows = dataclasses.replace(run, rows=run.rows[::-1], scores=run.scores[::-1])
    assert _intervals(compute_metrics(reversed_rows)) == _intervals(first)
    assert _intervals(compute_metrics(run)) == _intervals(first)
    reseeded = compute_metrics(run, BootstrapSettings(seed=1))
    assert reseeded["bootstrap"]["seed"] == 1
    assert _intervals(reseeded) != _intervals(first)
    assert reseeded["overall"]["acc@0.5"] == first["overall"]["acc@0.5"]  # the estimate stays
    narrow = compute_metrics(run, BootstrapSettings(confidence=0.5))["overall"]["acc@0.5_ci"]
    wide = first["overall"]["acc@0.5_ci"]
    assert wide[0] <= narrow[0] <= narrow[1] <= wide[1]


@pytest.mark.integration
def test_merged_shards_get_the_intervals_of_the_whole_run(
    synth_bench: Path, noisy_run: Path, tmp_path: Path, capsys
) -> None:
    argv = ["eval", "--data", str(synth_bench), "--model", NOISY_ORACLE, "--segmenter"]
    shards = [tmp_path / f"s{i}" for i in range(3)]
    for i, shard in enumerate(shards):
        assert main([*argv, "box-fill", "--shard", f"{i}/3", "--out", str(shard)]) == 0
    merged = tmp_path / "merged"
    assert main(["score", *map(str, shards), "--out", str(merged)]) == 0
    capsys.readouterr()
    whole = json.loads((noisy_run / "metrics.json").read_text(encoding="utf-8"))
    combined = json.loads((merged / "metrics.json").read_text(encoding="utf-8"))
    assert _intervals(combined) == _intervals(whole)
    assert combined["rounds"] == whole["rounds"]  # the split of rounds >= 2 too
