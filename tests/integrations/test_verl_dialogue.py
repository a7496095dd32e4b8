"""The veRL dialogue integration's framework-free parts: rows, sessions, trajectory reward.

veRL itself (the agent loop against veRL's base class and config schema) is checked in
the opt-in ``test_verl_compat.py``; nothing here imports veRL.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import sys
from pathlib import Path

import pytest
from PIL import Image

from hostile_images import write_bomb_png
from regionreasoner.data.io import read_dialogues
from regionreasoner.dialogue.prompts import get_prompt
from regionreasoner.dialogue.protocols import get_protocol
from regionreasoner.dialogue.rollout import GeneratedTurn
from regionreasoner.errors import ConfigError, DataFormatError, ImageError
from regionreasoner.integrations import verl_dialogue
from regionreasoner.integrations.verl_dialogue import (
    TURNS_FIELD,
    compute_dialogue_score,
    score_keys,
    start_session,
    turn_record,
    verl_dialogue_rows,
)
from regionreasoner.rewards import score_completion

SOLUTION = '[{"bbox_2d": [0, 0, 10, 10], "point_2d": [5, 5]}]'
RIGHT = '<answer>[{"bbox_2d": [0, 0, 10, 10], "point_2d": [5, 5]}]</answer>'


def _turns(*texts: str) -> list[dict]:
    return [
        {
            "round": r,
            "text": t,
            "problem": "the box",
            "solution": SOLUTION,
            "reference_source": "none",
            "hit": t == RIGHT,
        }
        for r, t in enumerate(texts, start=1)
    ]


def test_rows_hold_turn_one_and_the_dialogue(synth_bench: Path) -> None:
    dialogues = read_dialogues(synth_bench)
    rows = verl_dialogue_rows(synth_bench)
    assert len(rows) == len(dialogues)
    prompt = get_prompt("regionreasoner-train")
    for row, dialogue in zip(rows, dialogues, strict=True):
        assert row["agent_name"] == "regionreasoner_dialogue"
        (message,) = row["prompt"]
        assert message["content"] == "<image>" + prompt.render_user(dialogue.turns[0].question)
        with Image.open(io.BytesIO(row["images"][0]["bytes"])) as image:
            assert image.size == (840, 840)  # the model frame the answers are read in
        assert json.loads(row["extra_info"]["dialogue"])["dialogue_id"] == dialogue.dialogue_id
        assert row["extra_info"]["image_wh"] == [160, 120]


def test_session_plays_the_dialogue_on_the_policys_own_boxes(synth_bench: Path) -> None:
    protocol, prompt = get_protocol("paper"), get_prompt("regionreasoner-train")
    row = verl_dialogue_rows(synth_bench)[0]
    session = start_session(row["extra_info"], trajectory_id="t0")
    cited = 0
    while not session.done:
        request = session.next_request(protocol=protocol, prompt=prompt)
        if request.turn.refers_to is not None:
            x = 100 + 20 * request.turn.refers_to
            assert f"bbox=[{x},70,{x + 110},140]" in request.asked.user_text
            cited += 1
        x = 100 + 20 * request.turn.turn_index
        answer = f'<answer>[{{"bbox_2d": [{x}, 70, {x + 110}, 140]}}]</answer>'
        session.record(request, GeneratedTurn(answer), protocol=protocol, prompt=prompt)
    assert cited >= 1  # every synthetic dialogue has a citing turn
    records = [turn_record(s, session.frame, frame_name="square840") for s in session.steps]
    assert [r["round"] for r in records] == list(range(1, len(session.dialogue.turns) + 1))
    assert json.loads(records[0]["solution"])[0]["bbox_2d"]  # ground truth, model frame
    with pytest.raises(ValueError, match="every turn is answered"):
        session.next_request(protocol=protocol, prompt=prompt)


def test_session_needs_the_dialogue_record() -> None:
    with pytest.raises(DataFormatError, match=r"extra_info\.dialogue"):
        start_session({"index": 3})


def test_trajectory_score_is_the_mean_or_discounted_return() -> None:
    turns = _turns(RIGHT, "nothing", RIGHT)
    r = score_completion(RIGHT, problem="the box", solution=SOLUTION).total
    assert r > 0
    mean = compute_dialogue_score("regiondial", "", "[]", {TURNS_FIELD: turns})
    assert mean["score"] == pytest.approx(2 * r / 3)
    discounted = compute_dialogue_score(
        "regiondial", "", "[]", {TURNS_FIELD: turns}, advantage="discounted", gamma=0.5
    )
    assert discounted["score"] == pytest.approx(r + 0.5 * 0.0 + 0.25 * r)
    assert mean["acc@0.5"] == pytest.approx(2 / 3) and mean["turns"] == 3
    assert mean["round2/total"] == 0.0 and mean["round3/acc@0.5"] == 1.0
    assert math.isnan(mean["round4/total"]) and math.isnan(mean["round7/acc@0.5"])


def test_trajectory_score_keys_never_vary() -> None:
    """veRL logs every non-score key as a column: the set must be the same per sample."""
    short = compute_dialogue_score("d", "", "[]", {TURNS_FIELD: _turns(RIGHT, RIGHT)})
    long = compute_dialogue_score("d", "", "[]", {TURNS_FIELD: _turns(*["x"] * 7)})
    assert sorted(short) == sorted(long) == sorted(score_keys())


def test_trajectory_score_rejects_per_turn_advantages_and_missing_turns() -> None:
    with pytest.raises(ConfigError, match="one reward per trajectory"):
        compute_dialogue_score("d", "", "[]", {TURNS_FIELD: _turns(RIGHT)}, advantage="per_turn")
    with pytest.raises(DataFormatError, match="regionreasoner_turns"):
        compute_dialogue_score("d", RIGHT, SOLUTION, {"problem": "the box"})


def test_module_imports_without_verl_and_names_the_missing_package(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "verl", None)  # as if veRL were not installed
    monkeypatch.setattr(verl_dialogue, "_AGENT_LOOP", None)
    with pytest.raises(ImportError):
        verl_dialogue.RegionDialogueAgentLoop  # noqa: B018
    with pytest.raises(AttributeError):
        verl_dialogue.NoSuchThing  # noqa: B018


def test_export_command_writes_one_row_per_dialogue(synth_bench: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "d.parquet"
    assert verl_dialogue.main([str(synth_bench), str(out)]) == 0
    table = pq.read_table(out)
    assert table.num_rows == len(read_dialogues(synth_bench))
    assert {"prompt", "images", "extra_info", "agent_name", "reward_model"} <= set(
        table.column_names
    )
    assert verl_dialogue.main([str(tmp_path / "absent.jsonl"), str(out)]) == 2


def test_an_oversized_image_is_a_located_error(synth_bench: Path, tmp_path: Path) -> None:
    root = tmp_path / "bench"
    shutil.copytree(synth_bench.parent, root)
    bench = root / synth_bench.name
    first = read_dialogues(bench)[0]
    write_bomb_png(root / first.image, (12_000, 12_000))  # 144 MP: over the default limit
    with pytest.raises(ImageError) as info:
        verl_dialogue_rows(bench)
    assert info.value.problem == "too_large"
    assert str(info.value).startswith(f"{bench}: dialogue {first.dialogue_id}: image: ")
    assert "144,000,000 pixels" in str(info.value)


def test_rows_in_another_frame_carry_it_and_turns_are_rewarded_in_it(synth_bench: Path) -> None:
    """rel1000 rows: the original image, the frame in extra_info; a session in another
    frame is refused; a perfect rel1000 trajectory gets the reward of a perfect square840
    one (the reward converts each turn from the frame its record names)."""
    protocol, prompt = get_protocol("paper", frame="rel1000"), get_prompt("regionreasoner-train")
    row = verl_dialogue_rows(synth_bench, frame="rel1000")[0]
    assert row["extra_info"]["frame"] == "rel1000"
    with Image.open(io.BytesIO(row["images"][0]["bytes"])) as image:
        assert image.size == (160, 120)
    with pytest.raises(DataFormatError, match="exported in frame 'rel1000'"):
        start_session(row["extra_info"])  # the agent loop's default frame, square840
    scores = {}
    for frame, proto in (("rel1000", protocol), ("square840", get_protocol("paper"))):
        info = verl_dialogue_rows(synth_bench, frame=frame)[0]["extra_info"]
        session = start_session(info, frame=frame)
        while not session.done:
            request = session.next_request(protocol=proto, prompt=prompt)
            solution = json.loads(_solution_in(request, session.frame))
            session.record(
                request,
                GeneratedTurn(f"<answer>{json.dumps(solution)}</answer>"),
                protocol=proto,
                prompt=prompt,
            )
        records = [turn_record(s, session.frame, frame_name=frame) for s in session.steps]
        assert {r["frame"] for r in records} == {frame}
        scores[frame] = compute_dialogue_score("d", "", "[]", {TURNS_FIELD: records})
    assert scores["rel1000"]["acc@0.5"] == 1.0
    assert scores["rel1000"]["accuracy"] == scores["square840"]["accuracy"] > 0


def _solution_in(request, frame) -> str:
    """The ground truth of a request's turn, in ``frame`` (what a perfect policy answers)."""
    from regionreasoner.integrations.export import target_solution_item

    return json.dumps([target_solution_item(t, frame) for t in request.turn.targets])
