"""Rewards in the frame of evaluation: a completion written in another frame is rewarded
exactly like its square840 twin, through the same Frame conversion ``eval`` uses."""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

import pytest
from PIL import Image

from regionreasoner.errors import DataFormatError
from regionreasoner.geometry.frames import FRAMES
from regionreasoner.integrations.trl_rewards import (
    FRAME_COLUMN,
    IMAGE_WH_COLUMN,
    RegionReasonerReward,
    make_reward_funcs,
    score_text,
)
from regionreasoner.rewards import COMPONENTS
from regionreasoner.rewards.hacking import GOOD_COMPLETION, PROBLEM, SOLUTION
from regionreasoner.rewards.thresholds import COMPONENT_MAX

IMAGE_WH = (640, 480)
_NUMBER = re.compile(r"(?<![\w.])\d+(?![\w.])")  # not the 2 of bbox_2d


def _twin(text: str, to_grid) -> str:
    """``text`` (840-frame integers) with every number rewritten by ``to_grid``: the twin
    a model answering in another frame writes, computed independently of the library."""
    return _NUMBER.sub(lambda m: to_grid(int(m.group())), text)


def _rel1000(value: int) -> str:
    return str(int(value * 1000 / 840 + 0.5))


def _rel1(value: int) -> str:
    return f"{int(value / 840 * 1000 + 0.5) / 1000:.3f}"


def _call(func, completion: str, problem: str, solution: str, frame: str | None) -> float:
    kwargs = {
        "prompts": [[{"role": "user", "content": "q"}]],
        "completions": [[{"role": "assistant", "content": completion}]],
        "problem": [problem],
        "solution": [solution],
    }
    if frame is not None:
        kwargs[FRAME_COLUMN] = [frame]
        kwargs[IMAGE_WH_COLUMN] = [list(IMAGE_WH)]
    return func(**kwargs)[0]


def _variants(seed: int, n: int) -> list[str]:
    """GOOD_COMPLETION with its answer box and point moved at random (hits and misses)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        x1, y1 = rng.randint(0, 700), rng.randint(0, 700)
        x2, y2 = x1 + rng.randint(5, 140), y1 + rng.randint(5, 140)
        px, py = rng.randint(x1, x2), rng.randint(y1, y2)
        answer = json.dumps([{"bbox_2d": [x1, y1, x2, y2], "point_2d": [px, py]}])
        out.append(re.sub(r"<answer>.*</answer>", f"<answer>{answer}</answer>", GOOD_COMPLETION))
    return out


@pytest.mark.parametrize("profile", ["paper", "official"])
@pytest.mark.parametrize(("frame", "to_grid"), [("rel1000", _rel1000), ("rel1", _rel1)])
def test_a_relative_completion_is_rewarded_exactly_like_its_square840_twin(profile, frame, to_grid):
    solution = json.dumps(SOLUTION)
    funcs = make_reward_funcs(profile)
    completions = [GOOD_COMPLETION, *_variants(seed=7, n=40)]
    for completion in completions:
        for func in funcs:
            square = _call(func, completion, PROBLEM, solution, None)
            twin = _call(
                func,
                _twin(completion, to_grid),
                _twin(PROBLEM, to_grid),
                _twin(solution, to_grid),
                frame,
            )
            assert twin == square, (func.__name__, completion)


def test_the_conversion_is_what_makes_the_twins_equal():
    """Without the frame column, the 0-1000 twin is scored as 840-frame pixels: its
    answer no longer hits the ground truth (written on the same grid)."""
    solution = json.dumps(SOLUTION)
    accuracy = RegionReasonerReward("accuracy")
    twin = _twin(GOOD_COMPLETION, _rel1000)
    problem, twin_solution = _twin(PROBLEM, _rel1000), _twin(solution, _rel1000)
    converted = _call(accuracy, twin, problem, twin_solution, "rel1000")
    # a perfect answer: the paper profile's accuracy term at its cap
    assert converted == _call(accuracy, GOOD_COMPLETION, PROBLEM, solution, None) == COMPONENT_MAX
    # 1000-grid numbers against 840-grid ground truth: far off
    assert _call(accuracy, twin, PROBLEM, solution, None) < converted


def test_score_text_takes_the_frame_object():
    frame = FRAMES.get("rel1000")(IMAGE_WH)
    solution = json.dumps(SOLUTION)
    twin = score_text(
        _twin(GOOD_COMPLETION, _rel1000),
        _twin(PROBLEM, _rel1000),
        _twin(solution, _rel1000),
        frame=frame,
    )
    assert twin == score_text(GOOD_COMPLETION, PROBLEM, solution)
    assert all(
        getattr(twin, c) == getattr(score_text(GOOD_COMPLETION, PROBLEM, solution), c)
        for c in COMPONENTS
    )


def test_square840_rows_are_scored_as_written():
    solution = json.dumps(SOLUTION)
    total = RegionReasonerReward("total")
    assert _call(total, GOOD_COMPLETION, PROBLEM, solution, "square840") == _call(
        total, GOOD_COMPLETION, PROBLEM, solution, None
    )


@pytest.mark.parametrize("image_wh", [None, [640], [640, 0], ["a", "b"], "640x480"])
def test_a_row_in_another_frame_needs_its_image_size(image_wh):
    total = RegionReasonerReward("total")
    kwargs = {
        "completions": [GOOD_COMPLETION],
        "problem": [PROBLEM],
        "solution": [json.dumps(SOLUTION)],
        FRAME_COLUMN: ["rel1000"],
        IMAGE_WH_COLUMN: [image_wh],
    }
    with pytest.raises(DataFormatError, match=IMAGE_WH_COLUMN):
        total(**kwargs)


@pytest.mark.slow  # writes two datasets
def test_export_in_rel1000_writes_the_frame_columns_and_original_images(
    synth_bench: Path, tmp_path: Path
) -> None:
    datasets = pytest.importorskip("datasets")
    from regionreasoner.integrations.export import export_train

    export_train(synth_bench, tmp_path / "rel", "trl", frame="rel1000")
    export_train(synth_bench, tmp_path / "square", "trl", frame="square840")
    rel = datasets.load_from_disk(str(tmp_path / "rel"))
    square = datasets.load_from_disk(str(tmp_path / "square"))
    assert FRAME_COLUMN not in square.column_names  # the default export is unchanged
    assert set(rel.column_names) == set(square.column_names) | {FRAME_COLUMN, IMAGE_WH_COLUMN}
    for rel_row, square_row in zip(rel, square, strict=True):
        width, height = rel_row[IMAGE_WH_COLUMN]
        assert rel_row[FRAME_COLUMN] == "rel1000"
        assert rel_row["image"].size == (width, height)  # rel1000 shows the original
        assert square_row["image"].size == (840, 840)
        for item in json.loads(rel_row["solution"]):
            assert all(0 <= v <= 1000 for v in item["bbox_2d"])
        # a perfect answer in each export's own frame is rewarded as perfect
        answers = []
        for row, frame in ((rel_row, "rel1000"), (square_row, None)):
            completion = f"<answer>{row['solution']}</answer>"
            kwargs = {
                "completions": [completion],
                "problem": [row["problem"]],
                "solution": [row["solution"]],
            }
            if frame is not None:
                kwargs |= {FRAME_COLUMN: [frame], IMAGE_WH_COLUMN: [[width, height]]}
            answers.append(RegionReasonerReward("accuracy")(**kwargs)[0])
        assert answers[0] == answers[1] == COMPONENT_MAX


# --------------------------------------------------------------------------- every adapter


def _verl(completion: str, problem: str, solution: str, frame: str | None) -> dict:
    from regionreasoner.integrations.verl import compute_score

    extra = {"problem": problem}
    if frame is not None:
        extra |= {"frame": frame, "image_wh": list(IMAGE_WH)}
    return compute_score("regiondial", completion, solution, extra)


def _verl_packed(completion: str, problem: str, solution: str, frame: str | None) -> dict:
    """veRL fed the EasyR1 packing: the frame travels inside the ground truth."""
    from regionreasoner.integrations.verl import compute_score
    from regionreasoner.rewards import pack_solution

    packed = pack_solution(solution, problem, frame=frame, image_wh=IMAGE_WH)
    return compute_score("regiondial", completion, packed, None)


def _easyr1(completion: str, problem: str, solution: str, frame: str | None) -> dict:
    from regionreasoner.integrations.easyr1 import compute_score
    from regionreasoner.rewards import pack_solution

    packed = pack_solution(solution, problem, frame=frame, image_wh=IMAGE_WH)
    (out,) = compute_score([{"response": completion, "response_length": 1, "ground_truth": packed}])
    return out


def _verl_dialogue(completion: str, problem: str, solution: str, frame: str | None) -> dict:
    """A one-turn trajectory through the veRL dialogue reward."""
    from regionreasoner.integrations.verl_dialogue import TURNS_FIELD, compute_dialogue_score

    turn = {"round": 1, "text": completion, "problem": problem, "solution": solution, "hit": True}
    if frame is not None:
        turn |= {"frame": frame, "image_wh": list(IMAGE_WH)}
    return compute_dialogue_score("regiondial", "", "[]", {TURNS_FIELD: [turn]})


def _score_completion(completion: str, problem: str, solution: str, frame: str | None) -> dict:
    from regionreasoner.rewards import score_completion

    frame_obj = None if frame is None else FRAMES.get(frame)(IMAGE_WH)
    return score_completion(
        completion, problem=problem, solution=solution, frame=frame_obj
    ).to_dict()


ADAPTERS = {
    "verl": _verl,
    "verl-packed": _verl_packed,
    "easyr1": _easyr1,
    "verl-dialogue": _verl_dialogue,
    "score_completion": _score_completion,
}


@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
@pytest.mark.parametrize(("frame", "to_grid"), [("rel1000", _rel1000), ("rel1", _rel1)])
def test_every_adapter_rewards_a_relative_completion_exactly_like_its_square840_twin(
    adapter, frame, to_grid
):
    score = ADAPTERS[adapter]
    solution = json.dumps(SOLUTION)
    totals = set()
    for completion in [GOOD_COMPLETION, *_variants(seed=11, n=25)]:
        square = score(completion, PROBLEM, solution, None)
        twin = score(
            _twin(completion, to_grid), _twin(PROBLEM, to_grid), _twin(solution, to_grid), frame
        )
        assert twin == square, (adapter, completion)
        totals.add(next(iter(square.values())))
    assert len(totals) > 1  # hits and misses: the comparison is not between zeros


@pytest.mark.parametrize("adapter", ["verl", "easyr1", "verl-dialogue"])
def test_without_the_frame_a_0_1000_twin_is_scored_as_840_pixels(adapter):
    score = ADAPTERS[adapter]
    solution = json.dumps(SOLUTION)
    twin = _twin(GOOD_COMPLETION, _rel1000), _twin(PROBLEM, _rel1000), _twin(solution, _rel1000)
    converted = score(*twin, "rel1000")
    assert converted == score(GOOD_COMPLETION, PROBLEM, solution, None)
    # the twin's answer against the 840-frame ground truth: the accuracy term is lost
    unconverted = score(twin[0], PROBLEM, solution, None)
    assert unconverted["accuracy"] < converted["accuracy"]


@pytest.mark.parametrize(
    ("adapter", "message"),
    [("verl", "extra_info"), ("easyr1", "ground truth"), ("verl-dialogue", "round 1")],
)
def test_an_adapter_row_in_another_frame_needs_its_image_size(adapter, message, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "IMAGE_WH", (640, 0))
    with pytest.raises(DataFormatError, match=f"{message}.*image_wh"):
        ADAPTERS[adapter](GOOD_COMPLETION, PROBLEM, json.dumps(SOLUTION), "rel1000")


def _exported_verl_rows(path: Path) -> list[dict]:
    pq = pytest.importorskip("pyarrow.parquet")
    return pq.read_table(path).to_pylist()


@pytest.mark.slow  # writes four exports
def test_verl_and_easyr1_exports_in_rel1000_are_rewarded_in_their_own_frame(
    synth_bench: Path, tmp_path: Path
) -> None:
    pytest.importorskip("pyarrow")
    from regionreasoner.integrations import easyr1, verl
    from regionreasoner.integrations.export import export_train

    export_train(synth_bench, tmp_path / "rel.parquet", "verl", frame="rel1000")
    export_train(synth_bench, tmp_path / "square.parquet", "verl", frame="square840")
    rel, square = (_exported_verl_rows(tmp_path / f"{n}.parquet") for n in ("rel", "square"))
    assert set(square[0]["extra_info"]) == {
        "problem",
        "dialogue_id",
        "turn_index",
        "split",
        "index",
    }
    assert set(rel[0]["extra_info"]) == set(square[0]["extra_info"]) | {"frame", "image_wh"}
    for row in rel:
        info = row["extra_info"]
        assert info["frame"] == "rel1000" and info["image_wh"] == [160, 120]
        solution = row["reward_model"]["ground_truth"]
        assert all(0 <= v <= 1000 for item in json.loads(solution) for v in item["bbox_2d"])
        perfect = verl.compute_score("regiondial", f"<answer>{solution}</answer>", solution, info)
        assert perfect["accuracy"] == COMPONENT_MAX

    export_train(synth_bench, tmp_path / "rel.jsonl", "easyr1", frame="rel1000")
    rows = [json.loads(x) for x in (tmp_path / "rel.jsonl").read_text().splitlines()]
    for row in rows:
        assert (row["frame"], row["image_wh"]) == ("rel1000", [160, 120])
        packed = json.loads(row["solution"])
        assert packed["frame"] == "rel1000" and packed["image_wh"] == [160, 120]
        answer = f"<answer>{json.dumps(packed['solution'])}</answer>"
        out = easyr1.compute_score({"response": answer, "ground_truth": row["solution"]})
        assert out["accuracy"] == COMPONENT_MAX
        with Image.open(tmp_path / row["image"]) as image:
            assert image.size == (160, 120)  # rel1000 shows the original image
    export_train(synth_bench, tmp_path / "square.jsonl", "easyr1")
    first = json.loads((tmp_path / "square.jsonl").read_text().splitlines()[0])
    assert "frame" not in first and set(json.loads(first["solution"])) == {"solution", "problem"}
