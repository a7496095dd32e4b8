"""The round-synchronous runner: batching, image reuse, references, failures, resume."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from eval_bench import make_bench
from PIL import Image

from regionreasoner.backends.base import (
    META_DIALOGUE_ID,
    META_TURN_INDEX,
    Generation,
    GenerationRequest,
)
from regionreasoner.backends.oracle import OracleBackend
from regionreasoner.data.io import read_dialogues
from regionreasoner.dialogue import runner as runner_module
from regionreasoner.dialogue.policy import get_reference_policy
from regionreasoner.dialogue.prompts import get_prompt
from regionreasoner.dialogue.protocols import get_protocol
from regionreasoner.dialogue.runner import DialogueRunner, RunStats
from regionreasoner.errors import DataFormatError
from regionreasoner.geometry.rle import rle_area
from regionreasoner.segmenters.base import NoSegmenter
from regionreasoner.segmenters.box_fill import BoxFillSegmenter


class Scripted:
    """A backend that records its calls; answers come from the oracle unless overridden."""

    name: ClassVar[str] = "scripted"

    def __init__(
        self,
        *,
        needs_image: bool = False,
        answer: Callable[[GenerationRequest], Generation | None] | None = None,
    ) -> None:
        self.needs_image = needs_image
        self.calls: list[list[tuple[str, int]]] = []
        self.images: dict[str, set[int]] = {}
        self.answer = answer
        self._oracle = OracleBackend()

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        self.calls.append([(r.meta(META_DIALOGUE_ID), r.meta(META_TURN_INDEX)) for r in requests])
        out = []
        for r in requests:
            if r.image is not None:
                self.images.setdefault(r.meta(META_DIALOGUE_ID), set()).add(id(r.image))
                assert r.image.size == (840, 840)
            custom = self.answer(r) if self.answer else None
            out.append(custom or self._oracle.generate([r])[0])
        return out

    def describe(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


class CountingSegmenter(BoxFillSegmenter):
    def __init__(self) -> None:
        self.opened: Counter[tuple[int, int]] = Counter()
        self.segments = 0
        self.live = 0
        self.max_live = 0

    def open(self, image, *, image_wh):  # type: ignore[no-untyped-def]
        self.opened[image_wh] += 1
        self.live += 1
        self.max_live = max(self.max_live, self.live)
        session = super().open(image, image_wh=image_wh)
        parent, inner_segment = self, session.segment

        def segment(regions):  # type: ignore[no-untyped-def]
            parent.segments += 1
            return inner_segment(regions)

        def close() -> None:
            parent.live -= 1

        session.segment, session.close = segment, close  # type: ignore[method-assign]
        return session


def _runner(
    bench: Path, backend: Any, *, protocol: str = "paper", segmenter: Any = None, **kwargs: Any
) -> DialogueRunner:
    return DialogueRunner(
        backend,
        segmenter or BoxFillSegmenter(),
        get_protocol(protocol),
        get_reference_policy("predicted"),
        get_prompt("regionreasoner"),
        data_path=bench,
        **kwargs,
    )


def _run(runner: DialogueRunner, bench: Path, **kwargs: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    runner.run(read_dialogues(bench), emit=rows.append, **kwargs)
    return rows


def test_rounds_are_batched_across_dialogues(bench: Path) -> None:
    backend = Scripted()
    rounds: list[int] = []
    runner = _runner(bench, backend, batch_size=4)
    rows = []
    stats = runner.run(
        read_dialogues(bench), emit=rows.append, end_round=lambda: rounds.append(len(rows))
    )
    # turns per dialogue: 2,3,4,2,3,4 -> rounds of 6, 6, 4, 2 turns in batches of 4
    assert [len(c) for c in backend.calls] == [4, 2, 4, 2, 4, 2]
    assert [{t for _, t in c} for c in backend.calls] == [{0}, {0}, {1}, {1}, {2}, {3}]
    assert rounds == [6, 12, 16, 18]  # end_round after each round, rows already emitted
    assert stats.turns == 18 and stats.model_calls == 6 and stats.rounds == 4


def test_image_is_decoded_and_segmented_once_per_dialogue(
    bench: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: Counter[str] = Counter()
    real_open = Image.open

    def counting_open(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened[Path(path).name] += 1
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)  # the loader reads Image.open
    backend, segmenter = Scripted(needs_image=True), CountingSegmenter()
    rows = _run(_runner(bench, backend, segmenter=segmenter), bench)
    assert len(rows) == 18
    assert all(count == 2 for count in opened.values())  # header + one decode per image
    assert len(opened) == 6
    assert all(len(ids) == 1 for ids in backend.images.values())  # one resized copy reused
    assert sum(segmenter.opened.values()) == 6 and segmenter.segments == 18


def test_header_only_when_nothing_needs_pixels(
    bench: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: Counter[str] = Counter()
    real_open = Image.open
    monkeypatch.setattr(
        Image,
        "open",
        lambda p, *a, **k: opened.update([Path(p).name]) or real_open(p, *a, **k),
    )
    _run(_runner(bench, Scripted(needs_image=False)), bench)
    assert set(opened.values()) == {1}


class PixelSegmenter(BoxFillSegmenter):
    """Box-fill masks that, like ``sam2``, need the pixels: records the sizes it gets."""

    needs_pixels = True

    def __init__(self) -> None:
        self.sizes: list[tuple[int, int]] = []

    def open(self, image, *, image_wh):  # type: ignore[no-untyped-def]
        self.sizes.append(image.size)
        assert image.mode == "RGB"
        return super().open(image, image_wh=image_wh)


def _large_image_bench(root: Path) -> Path:
    """One dialogue on a 3,400 x 3,400 JPEG: more than twice the 840x840 frame."""
    bench = make_bench(root, dialogues=1)
    record = json.loads(bench.read_text())
    record["image_wh"] = [3400, 3400]
    for turn in record["turns"]:
        turn["targets"][0].pop("mask")
    Image.new("RGB", (3400, 3400), (90, 140, 200)).save(root / "images" / "0.jpg")
    bench.write_text(json.dumps(record) + "\n")
    return bench


def test_a_large_image_is_decoded_reduced_unless_the_segmenter_needs_its_pixels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _large_image_bench(tmp_path)
    decoded: list[tuple[int, int]] = []
    real_load = runner_module.load_image

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        loaded = real_load(*args, **kwargs)
        decoded.append(loaded.pixels.size)
        return loaded

    monkeypatch.setattr(runner_module, "load_image", spy)
    backend = Scripted(needs_image=True)
    rows = _run(_runner(bench, backend), bench)
    # JPEG draft mode at 1/2 scale: still at least twice the 840x840 frame
    assert decoded == [(1700, 1700)] and backend.calls and len(rows) == 2

    decoded.clear()
    segmenter = PixelSegmenter()
    rows = _run(_runner(bench, Scripted(needs_image=True), segmenter=segmenter), bench)
    assert decoded == [(3400, 3400)] and segmenter.sizes == [(3400, 3400)]
    assert {tuple(r["mask"]["size"]) for r in rows} == {(3400, 3400)}


def test_window_bounds_the_open_sessions(bench: Path) -> None:
    segmenter = CountingSegmenter()
    rows = _run(_runner(bench, Scripted(), segmenter=segmenter, window=2, batch_size=8), bench)
    assert len(rows) == 18 and segmenter.max_live <= 2 and segmenter.live == 0


def _nothing_on_turn0(request: GenerationRequest) -> Generation | None:
    if request.meta(META_TURN_INDEX) == 0:
        return Generation("<scene>s</scene><think>none</think><answer>[]</answer>", 0.0)
    return None


def test_paper_missing_reference_is_asked_and_scored(bench: Path) -> None:
    rows = _run(_runner(bench, Scripted(answer=_nothing_on_turn0)), bench)
    turn1 = [r for r in rows if r["turn_index"] == 1]
    assert len(turn1) == 6
    for row in turn1:
        assert row["reference_source"] == "none" and row["reference_missing"] is True
        assert "[missing]" in row["question"] and "[missing]" in row["prompt"]
        assert row["cited_reference"] is None and not row["failed"]
        assert row["pred_bboxes"]  # the oracle still answered, and it was scored


def test_official_missing_reference_falls_back_to_gt(bench: Path) -> None:
    dialogues = {d.dialogue_id: d for d in read_dialogues(bench)}
    rows = _run(_runner(bench, Scripted(answer=_nothing_on_turn0), protocol="official"), bench)
    for row in (r for r in rows if r["turn_index"] == 1):
        gt = [int(v) for v in dialogues[row["dialogue_id"]].turns[0].targets[0].bbox]
        assert row["reference_source"] == "fallback_gt" and row["reference_bbox"] == gt
        assert str(gt) in row["question"]


def test_failed_turn_is_recorded_as_miss(bench: Path) -> None:
    def fail_turn0(request: GenerationRequest) -> Generation | None:
        if request.meta(META_TURN_INDEX) == 0:
            return Generation("", 1.5, error="HTTP 500 after 4 attempts", attempts=4)
        return None

    rows = _run(_runner(bench, Scripted(answer=fail_turn0)), bench)
    failed = [r for r in rows if r["failed"]]
    assert len(failed) == 6
    for row in failed:
        assert row["error"] == "HTTP 500 after 4 attempts" and row["attempts"] == 4
        assert row["pred_bboxes"] == [] and row["mask"] is None and not row["format_ok"]
        assert row["intersection"] == 0 and row["union"] == rle_area(row["gt_mask"])
    assert all(r["reference_missing"] for r in rows if r["turn_index"] == 1)


def test_resume_skips_done_turns_and_uses_their_boxes(bench: Path) -> None:
    full = _run(_runner(bench, Scripted()), bench)
    by_key = {(r["dialogue_id"], r["turn_index"]): r for r in full}
    done = {k: dict(v) for k, v in list(by_key.items())[:8]}  # round 0 and part of round 1
    # A stored box that differs from what the oracle would say must drive the reference.
    done[("d0", 0)]["pred_bboxes"] = [[10, 20, 110, 220]]
    if ("d0", 1) in done:
        del done[("d0", 1)]
    backend = Scripted()
    rows = _run(_runner(bench, backend), bench, done=done)
    asked = [key for call in backend.calls for key in call]
    assert not set(asked) & set(done) and len(asked) == len(set(asked))
    assert {(r["dialogue_id"], r["turn_index"]) for r in rows} == set(by_key) - set(done)
    d0_turn1 = next(r for r in rows if (r["dialogue_id"], r["turn_index"]) == ("d0", 1))
    assert d0_turn1["reference_bbox"] == [10, 20, 110, 220]  # from the stored row


def test_no_segmenter_stores_no_masks(bench: Path) -> None:
    rows = _run(_runner(bench, Scripted(), segmenter=NoSegmenter()), bench)
    assert all(r["mask"] is None and r["intersection"] is None for r in rows)


def test_rows_are_json_serialisable_and_complete(bench: Path) -> None:
    rows = _run(_runner(bench, Scripted()), bench)
    required = {
        "dialogue_id",
        "turn_index",
        "prompt",
        "text",
        "pred_bboxes",
        "pred_points",
        "reference_bbox",
        "reference_source",
        "mask",
        "parse_issues",
        "latency_s",
        "question",
        "gt_bboxes",
        "gt_mask",
        "intersection",
        "union",
        "failed",
        "error",
        "format_ok",
        "cited_reference",
        "hallucinated_citation",
        "model_wh",
        "image_wh",
        "protocol",
        "reference_policy",
        "refers_to",
        "relation",
    }
    for row in rows:
        assert required <= set(row)
        json.dumps(row, allow_nan=False)
    assert {r["reference_source"] for r in rows} == {"none", "predicted"}
    assert all(r["cited_reference"] is True for r in rows if r["turn_index"] > 0)
    # The data's relation travels with the row (the report's per-relation table).
    assert {r["relation"] for r in rows if r["turn_index"] == 0} == {None}
    assert {r["relation"] for r in rows if r["turn_index"] > 0} == {"next_to"}


def test_mask_size_mismatch_is_a_data_error(tmp_path: Path) -> None:
    bench = make_bench(tmp_path / "b", dialogues=1)
    record = json.loads(bench.read_text())
    record["turns"][0]["targets"][0]["mask"]["size"] = [10, 10]
    bench.write_text(json.dumps(record) + "\n")
    with pytest.raises(DataFormatError, match=r"turns\[0\]\.targets\[0\]\.mask"):
        _run(_runner(bench, Scripted()), bench)


def test_missing_image_fails_before_any_model_call(bench: Path) -> None:
    (bench.parent / "images" / "3.jpg").unlink()
    backend = Scripted()
    runner = _runner(bench, backend)
    with pytest.raises(DataFormatError, match="dialogue d3"):
        runner.check_images(read_dialogues(bench))
    assert backend.calls == []


def test_overhead_stats_are_reported(bench: Path) -> None:
    rows: list[dict[str, Any]] = []
    stats = _runner(bench, Scripted()).run(read_dialogues(bench), emit=rows.append)
    assert stats.turns == len(rows) > 0
    assert stats.wall_s >= stats.model_s > 0
    overhead = stats.overhead_ms_per_turn
    assert overhead is not None and overhead >= 0
    # the run's own figures: the time outside the model, per turn, in milliseconds
    assert overhead * stats.turns / 1000 + stats.model_s == pytest.approx(stats.wall_s)


@pytest.mark.parametrize(
    ("turns", "model_s", "wall_s", "expected_ms"),
    [
        (4, 1.5, 2.0, 125.0),  # (2.0 - 1.5) s / 4 turns
        (1, 0.0, 0.25, 250.0),
        (10, 3.0, 3.0, 0.0),  # all the time in the model
        (0, 0.0, 0.5, None),  # no turn: undefined
    ],
)
def test_overhead_per_turn_is_the_time_outside_the_model(
    turns: int, model_s: float, wall_s: float, expected_ms: float | None
) -> None:
    stats = RunStats(turns=turns, model_s=model_s, wall_s=wall_s)
    assert stats.overhead_ms_per_turn == (
        None if expected_ms is None else pytest.approx(expected_ms)
    )
