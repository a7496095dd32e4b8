"""Helpers of the dialogue-level GRPO experiment (recipes/micro/dialogue_ab.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytest.importorskip("trl")


@pytest.fixture(scope="module")
def ab():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "dialogue_ab", REPO / "recipes/micro/dialogue_ab.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_steps_match_the_turn_budget_in_the_samplers_order(ab, synth_bench: Path) -> None:  # type: ignore[no-untyped-def]
    from trl.trainer.utils import RepeatSampler

    turns = [len(json.loads(line)["turns"]) for line in synth_bench.read_text().splitlines()]
    target = 40
    steps = ab.dialogue_steps(synth_bench, seed=3, target=target, generations=4)
    # the dialogues TRL hands a run of this seed, one per step (4 trajectories each)
    sampler = RepeatSampler(turns, mini_repeat_count=4, batch_size=1, shuffle=True, seed=3)
    order = list(sampler)[::4]
    done = 4 * sum(turns[i] for i in order[:steps])
    assert abs(done - target) <= 4 * turns[order[steps]]  # within one dialogue
    assert abs(done - target) <= abs(4 * sum(turns[i] for i in order[: steps + 1]) - target)
    assert abs(done - target) <= abs(4 * sum(turns[i] for i in order[: steps - 1]) - target)


def _metrics(path: Path, rounds: dict[str, tuple[float, int]]) -> None:
    path.mkdir(parents=True)
    body = {"rounds": {r: {"acc@0.5": v, "turns": n} for r, (v, n) in rounds.items()}}
    (path / "metrics.json").write_text(json.dumps(body))


def test_gap_is_predicted_minus_oracle_per_seed(ab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for seed, (p2, o2) in enumerate([(0.6, 0.8), (0.7, 0.8)]):
        _metrics(tmp_path / f"A-s{seed}/eval-demo-predicted", {"1": (0.9, 10), "2": (p2, 10)})
        _metrics(tmp_path / f"A-s{seed}/eval-demo-oracle", {"1": (0.9, 10), "2": (o2, 10)})
    table = ab.gap_table(tmp_path, "demo")
    row = next(line for line in table.splitlines() if line.startswith("| A:"))
    # gaps -20 and -10 points: mean -15.0, sample std 7.1
    assert "| -15.0 ± 7.1 | -15.0 ± 7.1 |" in row
    assert "R1" not in table  # round 1 cites nothing
