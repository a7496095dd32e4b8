"""``write_reports``: reading run directories, merging shards, the four output files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from regionreasoner.errors import DataFormatError, UserInputError
from regionreasoner.evaluation.published import DETECTION, REFCOCOG, SEGMENTATION, TURN_COUNTS
from regionreasoner.evaluation.report import write_reports
from regionreasoner.evaluation.run_dir import RunSettings
from regionreasoner.evaluation.scoring import size_of

IMAGE_WH = (40, 30)


def rle(mask: np.ndarray) -> dict:
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in encoded["size"]], "counts": encoded["counts"].decode()}


def box_mask(x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    mask = np.zeros((IMAGE_WH[1], IMAGE_WH[0]), bool)
    mask[y1:y2, x1:x2] = True
    return mask


def prediction(dialogue_id: str, turn_index: int, pred, gt, inter, union, **fields) -> dict:
    row = {
        "dialogue_id": dialogue_id,
        "turn_index": turn_index,
        "prompt": f"question {dialogue_id}/{turn_index}",
        "text": "<scene>a room</scene><think>look at bbox=[0,0,10,10]</think>"
        '<answer>[{"bbox_2d": [0, 0, 10, 10], "point_2d": [5, 5]}]</answer>',
        "pred_bboxes": pred,
        "pred_points": [],
        "reference_bbox": None,
        "reference_source": "none",
        "mask": None,
        "parse_issues": [],
        "latency_s": 0.01,
        "gt_bboxes": [gt],
        "gt_mask": None,
        "intersection": inter,
        "union": union,
        "failed": False,
        "cited_reference": None,
        "hallucinated_citation": None,
    }
    row.update(fields)
    return row


def scenario_rows() -> list[dict]:
    """Five turns of two dialogues; the expected metrics are computed by hand below."""
    return [
        prediction("a", 0, [[0, 0, 10, 10]], [0, 0, 10, 10], 100, 100),
        prediction(
            "a",
            1,
            [[0, 0, 5, 5], [20, 0, 30, 10]],
            [20, 0, 30, 10],
            50,
            100,
            parse_issues=["think lacks the reference"],
            reference_bbox=[0, 0, 10, 10],
            reference_source="predicted",
            cited_reference=True,
            hallucinated_citation=False,
        ),
        prediction("b", 0, [], [0, 10, 20, 30], 0, 400),
        prediction(
            "b",
            1,
            [],
            [0, 0, 10, 10],
            0,
            100,
            failed=True,
            text=None,
            reference_source="fallback_gt",
            reference_bbox=[0, 10, 20, 30],
        ),
        prediction(
            "b",
            2,
            [[10, 10, 20, 20]],
            [10, 10, 20, 20],
            90,
            110,
            reference_source="predicted",
            reference_bbox=[0, 0, 10, 10],
            cited_reference=False,
            hallucinated_citation=True,
        ),
    ]


# Hand-computed from scenario_rows():
#   R1: a/0 hit (100/100), b/0 miss (0/400)       -> acc 1/2, gIoU 0.5,  cIoU 100/500
#   R2: a/1 hit any, not top-1 (50/100), b/1 failed (0/100) -> acc 1/2, top1 0, gIoU 0.25
#   R3: b/2 hit (90/110)
EXPECTED = {
    "overall": {
        "acc@0.5": 3 / 5,
        "acc@0.5_top1": 2 / 5,
        "gIoU": (1 + 0.5 + 0 + 0 + 90 / 110) / 5,
        "cIoU": 240 / 810,
        "turns": 5,
        "format_ok": 3 / 5,
        "citation_rate": 1 / 2,
        "hallucinated_citation_rate": 1 / 2,
        "failed_turns": 1,
    },
    "1": {"acc@0.5": 0.5, "acc@0.5_top1": 0.5, "gIoU": 0.5, "cIoU": 0.2, "turns": 2},
    "2": {"acc@0.5": 0.5, "acc@0.5_top1": 0.0, "gIoU": 0.25, "cIoU": 0.25, "turns": 2},
    "3": {"acc@0.5": 1.0, "acc@0.5_top1": 1.0, "gIoU": 90 / 110, "cIoU": 90 / 110, "turns": 1},
}

CONFIG = {
    "protocol": "paper",
    "reference_policy": "predicted",
    "model": "oracle",
    "prompt": "regionreasoner",
    "segmenter": "box-fill",
    "data": None,
    "seed": 0,
}


def write_run(
    run_dir: Path, rows: list[dict], config: dict | None = None, *, tail: str = ""
) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config or CONFIG), encoding="utf-8")
    text = "".join(json.dumps(r) + "\n" for r in rows) + tail
    (run_dir / "predictions.jsonl").write_text(text, encoding="utf-8")
    return run_dir


def assert_matches(metrics: dict, expected: dict = EXPECTED) -> None:
    for name, value in expected["overall"].items():
        assert metrics["overall"][name] == pytest.approx(value), name
    for round_key in ("1", "2", "3"):
        for name, value in expected[round_key].items():
            assert metrics["rounds"][round_key][name] == pytest.approx(value), (round_key, name)


def write_bench(path: Path, source: str, *, with_masks: bool = True) -> Path:
    """A RegionDial JSONL with the scenario's dialogues and a drawn image for "a"."""
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "images").mkdir(exist_ok=True)
    Image.new("RGB", IMAGE_WH, (90, 120, 200)).save(path.parent / "images" / "a.png")

    def target(box):
        out = {"bbox": box}
        if with_masks:
            out["mask"] = rle(box_mask(*box))
        return out

    dialogues = [
        {
            "schema_version": 1,
            "dialogue_id": "a",
            "image": "images/a.png",
            "image_wh": list(IMAGE_WH),
            "source": source,
            "turns": [
                {
                    "turn_index": 0,
                    "question": "the blue square",
                    "refers_to": None,
                    "relation": None,
                    "targets": [target([0, 0, 10, 10])],
                },
                {
                    "turn_index": 1,
                    "question": "the box right of {ref}",
                    "refers_to": 0,
                    "relation": "right_of",
                    "targets": [target([20, 0, 30, 10])],
                },
            ],
        },
        {
            "schema_version": 1,
            "dialogue_id": "b",
            "image": "images/missing.png",
            "image_wh": list(IMAGE_WH),
            "source": source,
            "turns": [
                {
                    "turn_index": 0,
                    "question": "the big one",
                    "refers_to": None,
                    "relation": None,
                    "targets": [target([0, 10, 20, 30])],
                },
                {
                    "turn_index": 1,
                    "question": "the one above {ref}",
                    "refers_to": 0,
                    "relation": "above",
                    "targets": [target([0, 0, 10, 10])],
                },
                {
                    "turn_index": 2,
                    "question": "the one right of {ref}",
                    "refers_to": 1,
                    "relation": "right_of",
                    "targets": [target([10, 10, 20, 20])],
                },
            ],
        },
    ]
    path.write_text("".join(json.dumps(d) + "\n" for d in dialogues), encoding="utf-8")
    return path


def test_write_reports_writes_all_files_with_the_design_schema(tmp_path):
    run = write_run(tmp_path / "run", scenario_rows())
    metrics = write_reports([run])
    for name in ("metrics.json", "report.md", "rounds.png", "report.html"):
        assert (run / name).is_file(), name
    stored = json.loads((run / "metrics.json").read_text())
    assert stored == json.loads(json.dumps(metrics))
    # DESIGN 3.4 keys.
    assert {"overall", "rounds", "protocol", "reference_policy"} <= set(stored)
    assert {
        "acc@0.5",
        "gIoU",
        "cIoU",
        "turns",
        "format_ok",
        "citation_rate",
        "hallucinated_citation_rate",
    } <= set(stored["overall"])
    for entry in stored["rounds"].values():
        assert {"acc@0.5", "gIoU", "cIoU", "turns"} <= set(entry)
    # Extra keys of the brief.
    assert {"acc@0.5_top1", "pass@0.3", "pass@0.5", "pass@0.7", "pass@0.9"} <= set(
        stored["overall"]
    )
    assert {"failed_turns", "backend", "prompt", "segmenter"} <= set(stored)
    assert (stored["protocol"], stored["reference_policy"]) == ("paper", "predicted")
    assert (stored["backend"], stored["failed_turns"]) == ("oracle", 1)
    for entry in [stored["overall"], *stored["rounds"].values()]:
        for key, value in entry.items():
            if key.endswith("_ci") and value is not None:
                low, high = value
                assert 0.0 <= low <= entry[key.removesuffix("_ci")] <= high <= 1.0, key
            elif key.startswith("given_reference_"):
                assert set(value) == {"acc@0.5", "gIoU", "turns"}, key
            elif not key.endswith("turns") and value is not None:
                assert 0.0 <= value <= 1.0, key
    assert stored["bootstrap"] == {
        "resamples": 1000,
        "seed": 0,
        "confidence": 0.95,
        "unit": "dialogue",
    }
    assert json.loads((run / "card.json").read_text())["model"]["spec"] == "oracle"
    assert_matches(stored)
    with Image.open(run / "rounds.png") as png:
        assert png.format == "PNG" and png.size[0] > 100


def test_report_md_has_the_per_round_table_in_percent(tmp_path):
    run = write_run(tmp_path / "run", scenario_rows())
    write_reports([run])
    report = (run / "report.md").read_text()
    assert "| method | R1 | R2 | R3 | Avg |" in report
    # acc@0.5: R1 50.0, R2 50.0, R3 100.0, Avg 60.0, each with the interval of
    # TWO_DIALOGUE_INTERVALS (a draw of dialogues aa, ab or bb)
    assert (
        "| **this run: acc@0.5 (any hit)** | **50.0 [0.0, 100.0]** | **50.0 [0.0, 100.0]** "
        "| **100.0 [100.0, 100.0]** | **60.0 [33.3, 100.0]** |" in report
    )
    # gIoU Avg = 46.36... -> 46.4
    assert (
        "| **this run: gIoU** | **50.0 [0.0, 100.0]** | **25.0 [0.0, 50.0]** "
        "| **81.8 [81.8, 81.8]** | **46.4 [27.3, 75.0]** |" in report
    )
    assert "| **this run: acc@0.5 (top-1)** | **50.0** | **0.0** | **100.0** | **40.0** |" in report
    for fact in (
        "| protocol | paper |",
        "| reference policy | predicted |",
        "| backend / model | oracle / oracle |",
        "| segmenter | box-fill |",
        "| prompt | regionreasoner |",
    ):
        assert fact in report
    assert "Failed turns (backend failure after retries): 1 of 5" in report
    assert "fallback_gt: 1" in report and "leak ground truth" in report
    assert "(paper, Table" not in report  # not RegionDial-Bench data


def test_rewrites_in_place_and_honours_out_dir(tmp_path):
    run = write_run(tmp_path / "run", scenario_rows())
    (run / "metrics.json").write_text("{}")
    first = write_reports([run])
    second = write_reports([run])
    assert first == second == json.loads((run / "metrics.json").read_text())
    out = tmp_path / "elsewhere"
    write_reports([run], out_dir=out)
    assert json.loads((out / "metrics.json").read_text()) == first


def test_shard_merge_equals_the_unsharded_result(tmp_path):
    rows = scenario_rows()
    whole = write_reports([write_run(tmp_path / "whole", rows)])
    shard0 = write_run(
        tmp_path / "s0", [r for r in rows if r["dialogue_id"] == "a"], {**CONFIG, "shard": "0/2"}
    )
    shard1 = write_run(
        tmp_path / "s1", [r for r in rows if r["dialogue_id"] == "b"], {**CONFIG, "shard": "1/2"}
    )
    merged = write_reports([shard0, shard1], out_dir=tmp_path / "merged")
    assert merged["overall"] == whole["overall"]
    assert merged["rounds"] == whole["rounds"]
    assert merged["shards"] == ["0/2", "1/2"]
    assert (tmp_path / "merged" / "report.md").is_file()
    assert not (shard1 / "metrics.json").exists()
    # Without --out the outputs go to the first shard.
    write_reports([shard0, shard1])
    assert json.loads((shard0 / "metrics.json").read_text())["overall"] == whole["overall"]


@pytest.mark.parametrize("key", ["protocol", "model", "data", "segmenter"])
def test_merging_runs_with_different_configs_is_refused(tmp_path, key):
    rows = scenario_rows()
    first = write_run(tmp_path / "s0", rows[:2])
    second = write_run(tmp_path / "s1", rows[2:], {**CONFIG, key: "something-else"})
    with pytest.raises(UserInputError, match=key):
        write_reports([first, second])


def test_duplicate_rows_keep_the_last_complete_row(tmp_path):
    rows = scenario_rows()
    stale = prediction("b", 2, [], [10, 10, 20, 20], 0, 110)  # an earlier miss
    partial = {"dialogue_id": "b", "turn_index": 2}  # incomplete: ignored
    run = write_run(tmp_path / "run", [stale, *rows, partial])
    metrics = write_reports([run])
    assert_matches(metrics)
    assert (metrics["duplicate_rows"], metrics["incomplete_rows"]) == (1, 1)
    # The LAST complete row wins, so a later miss replaces the hit.
    run2 = write_run(tmp_path / "run2", [*rows, stale])
    assert write_reports([run2])["rounds"]["3"]["acc@0.5"] == 0.0


def test_torn_last_line_is_ignored_with_a_warning(tmp_path, caplog):
    run = write_run(tmp_path / "run", scenario_rows(), tail='{"dialogue_id": "c", "turn_in')
    with caplog.at_level(logging.WARNING):
        metrics = write_reports([run])
    assert_matches(metrics)
    assert metrics["torn_lines"] == 1
    assert "torn last line" in caplog.text


def test_invalid_json_before_the_last_line_is_an_error(tmp_path):
    run = write_run(tmp_path / "run", scenario_rows())
    lines = (run / "predictions.jsonl").read_text().splitlines(keepends=True)
    lines.insert(2, "{not json\n")
    (run / "predictions.jsonl").write_text("".join(lines))
    with pytest.raises(DataFormatError, match="line 3"):
        write_reports([run])


def test_detection_only_data_reports_null_segmentation(tmp_path):
    rows = [{**r, "intersection": None, "union": None} for r in scenario_rows()]
    run = write_run(tmp_path / "run", rows, {**CONFIG, "segmenter": "none"})
    metrics = write_reports([run])
    assert metrics["overall"]["gIoU"] is None and metrics["overall"]["cIoU"] is None
    assert all(r["gIoU"] is None for r in metrics["rounds"].values())
    assert json.loads((run / "metrics.json").read_text())["overall"]["gIoU"] is None
    assert metrics["overall"]["acc@0.5"] == pytest.approx(3 / 5)
    assert "Segmentation metrics are not available" in (run / "report.md").read_text()


@pytest.mark.parametrize("missing", ["predictions.jsonl", "config.json"])
def test_a_run_dir_without_its_files_is_a_user_error(tmp_path, missing):
    run = write_run(tmp_path / "run", scenario_rows())
    (run / missing).unlink()
    with pytest.raises(UserInputError, match=missing):
        write_reports([run])


def test_data_file_supplies_missing_ground_truth(tmp_path):
    bench = write_bench(tmp_path / "data" / "bench.jsonl", "synth")
    bare = [
        {k: v for k, v in r.items() if k not in ("gt_bboxes", "gt_mask")} for r in scenario_rows()
    ]
    run = write_run(tmp_path / "run", bare)
    assert_matches(write_reports([run], data_path=bench))
    with pytest.raises(DataFormatError, match="--data") as info:
        write_reports([write_run(tmp_path / "nodata", bare)])
    assert info.value.field == "gt_bboxes" and "dialogue a turn 0" in str(info.value)


def test_masks_are_recomputed_from_rles_when_counts_are_absent(tmp_path):
    bench = write_bench(tmp_path / "data" / "bench.jsonl", "synth")
    rows = []
    for r in scenario_rows():
        r = {k: v for k, v in r.items() if k not in ("intersection", "union", "gt_mask")}
        if r["pred_bboxes"] and not r["failed"]:
            r["mask"] = rle(box_mask(*[int(v) for v in r["pred_bboxes"][0]]))
        rows.append(r)
    metrics = write_reports([write_run(tmp_path / "run", rows)], data_path=bench)
    # Box-filled masks: a/0 100/100, a/1 first box [0,0,5,5] vs GT [20,0,30,10]: 0/125,
    # b/0 no mask: 0/400, b/1 failed: 0/100, b/2 100/100.
    assert metrics["overall"]["cIoU"] == pytest.approx(200 / 825)
    assert metrics["overall"]["gIoU"] == pytest.approx(2 / 5)


def test_regiondial_bench_data_shows_the_published_numbers(tmp_path):
    bench = write_bench(tmp_path / "data" / "bench.jsonl", "refcocog/test")
    run = write_run(tmp_path / "run", scenario_rows(), {**CONFIG, "data": str(bench)})
    metrics = write_reports([run])
    assert metrics["benchmark"] == REFCOCOG
    report = (run / "report.md").read_text()
    ours_det = next(r for r in DETECTION[REFCOCOG].rows if r.method == "RegionReasoner-7B")
    ours_seg = next(r for r in SEGMENTATION[REFCOCOG].rows if r.method == "RegionReasoner-7B")
    assert "| RegionReasoner-7B (paper, Table 1) | 87.1 | 73.7 | 71.8 | 78.2 |" in report
    assert "| RegionReasoner-7B (paper, Table 2) | 73.9 | 62.9 | 60.7 | 66.5 |" in report
    assert (ours_det.avg, ours_seg.avg) == (78.2, 66.5)
    assert "| turns (paper, Table 6) | 1580 | 1580 | 570 | 4405 |" in report
    assert sum(TURN_COUNTS[REFCOCOG]) == 4405
    assert "RefCOCOg multi-turn" in report
    assert "does not cover exactly R1..R7" in report
    assert "Table 1" in (run / "report.html").read_text()


def test_report_html_is_self_contained_with_a_seeded_gallery(tmp_path):
    bench = write_bench(tmp_path / "data" / "bench.jsonl", "synth")
    run = write_run(tmp_path / "run", scenario_rows())
    write_reports([run], data_path=bench)
    page = (run / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "data:image/png;base64," in page  # the plot
    assert page.count("data:image/jpeg;base64,") == 2  # dialogue a: two turns drawn
    assert "image not found: missing.png" in page  # dialogue b's image is absent
    assert "the box right of [ref]" in page  # question with the reference marked
    assert "look at bbox=[0,0,10,10]" in page  # <think> text
    assert 'src="http' not in page and "<script" not in page
    write_reports([run], data_path=bench)
    assert (run / "report.html").read_text() == page  # same seed, same gallery
    write_reports([run], data_path=bench, gallery_dialogues=1)
    assert (run / "report.html").read_text().count('<section class="dialogue">') == 1


def test_gallery_thumbnails_are_small_and_show_the_regions(tmp_path):
    import base64
    import io
    import re

    bench = write_bench(tmp_path / "data" / "bench.jsonl", "synth")
    big = Image.new("RGB", (800, 600), (90, 120, 200))
    big.save(tmp_path / "data" / "images" / "a.png")
    rows = scenario_rows()
    rows[0] = {
        **rows[0],
        "pred_bboxes": [[100, 100, 300, 300]],
        "gt_bboxes": [[400, 100, 600, 300]],
    }
    run = write_run(tmp_path / "run", rows)
    write_reports([run], data_path=bench)
    page = (run / "report.html").read_text()
    first = re.search(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)", page).group(1)
    with Image.open(io.BytesIO(base64.b64decode(first))) as thumb:
        assert max(thumb.size) == 320
        pixels = np.asarray(thumb.convert("RGB")).astype(int)
    scale = 320 / 800
    red = pixels[int(200 * scale), int(100 * scale)]  # left edge of the predicted box
    green = pixels[int(200 * scale), int(400 * scale)]  # left edge of the GT box
    assert red[0] > 150 and red[1] < 110
    assert green[1] > 150 and green[0] < 110


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {
                "protocol": "paper",
                "reference": "oracle",
                "model": "openai:http://h:8000/v1#m",
                "segmenter": {"name": "sam2", "checkpoint": "x"},
                "shard": {"index": 1, "count": 4},
            },
            {
                "reference_policy": "oracle",
                "backend": "openai",
                "segmenter": "sam2",
                "shard": "1/4",
            },
        ),
        (
            {
                "model": {"spec": "hf:/m", "dtype": "bf16"},
                "backend": "hf",
                "shard": [0, 2],
                "data": {"path": "bench.jsonl"},
            },
            {
                "model": "hf:/m",
                "backend": "hf",
                "shard": "0/2",
                "data": "bench.jsonl",
                "protocol": None,
            },
        ),
        ({"segmenter": "none"}, {"segmenter": "none", "model": None, "backend": None}),
    ],
)
def test_run_settings_read_config_spellings(config, expected):
    settings = RunSettings.from_config(config)
    for key, value in expected.items():
        assert getattr(settings, key) == value, key
    assert settings.segmentation is (settings.segmenter != "none")


# Relations of scenario_rows(), as write_bench() stores them: a/1 and b/2 are right_of,
# b/1 is above, the first turns cite nothing. Hand-computed per relation:
#   right_of: a/1 hit (50/100, cited), b/2 hit (90/110, hallucinated) -> acc 1, cited 1/2
#   above: b/1 failed (0/100) -> acc 0, gIoU 0
#   no reference: a/0 hit (100/100), b/0 miss (0/400) -> acc 1/2, gIoU 1/2
SCENARIO_RELATIONS = {("a", 1): "right_of", ("b", 1): "above", ("b", 2): "right_of"}
EXPECTED_RELATIONS = {
    "right_of": {"turns": 2, "acc@0.5": 1.0, "gIoU": (0.5 + 90 / 110) / 2, "citation_rate": 0.5},
    "above": {"turns": 1, "acc@0.5": 0.0, "gIoU": 0.0, "citation_rate": None},
    "no reference": {"turns": 2, "acc@0.5": 0.5, "gIoU": 0.5, "citation_rate": None},
}


# The bootstrap intervals of scenario_rows(), by hand. A resample draws two dialogues
# with replacement: aa or bb (1/4 each) or one of each (1/2). With 1,000 resamples the
# 2.5 % and 97.5 % quantiles fall inside the runs of the lowest and the highest value.
#   overall acc@0.5: aa 4/4, ab 3/5, bb 2/6       -> [1/3, 1]
#   overall gIoU:    aa 1.5/2, ab (1.5 + 90/110)/5, bb 2 (90/110)/6 -> [(90/110)/3, 0.75]
#   overall cIoU:    aa 300/400, ab 240/810, bb 180/1220 -> [180/1220, 0.75]
#   R1 acc@0.5: a 1, b 0 -> [0, 1];  R2 gIoU: a 0.5, b 0 -> [0, 0.5]
#   R3 (b only): a draw without b has no R3 turn and is left out -> [90/110, 90/110]
TWO_DIALOGUE_INTERVALS = {
    ("overall", "acc@0.5_ci"): [1 / 3, 1.0],
    ("overall", "gIoU_ci"): [(90 / 110) / 3, 0.75],
    ("overall", "cIoU_ci"): [180 / 1220, 0.75],
    ("1", "acc@0.5_ci"): [0.0, 1.0],
    ("2", "gIoU_ci"): [0.0, 0.5],
    ("3", "gIoU_ci"): [90 / 110, 90 / 110],
}


def test_metrics_carry_the_hand_computed_bootstrap_intervals(tmp_path):
    metrics = write_reports([write_run(tmp_path / "run", scenario_rows())])
    for (group, key), expected in TWO_DIALOGUE_INTERVALS.items():
        entry = metrics["overall"] if group == "overall" else metrics["rounds"][group]
        assert entry[key] == pytest.approx(expected), (group, key)


def test_report_shows_the_given_reference_split_of_later_rounds(tmp_path):
    run = write_run(tmp_path / "run", rows_with_relations())
    metrics = write_reports([run])
    # R2: a/1 cites a/0 (its first box hits: right), b/1 cites b/0 (nothing: wrong)
    # R3: b/2 cites b/1 (failed: wrong)
    assert metrics["rounds"]["2"]["given_reference_hit"] == {
        "acc@0.5": 1.0,
        "gIoU": 0.5,
        "turns": 1,
    }
    assert metrics["rounds"]["2"]["given_reference_miss"] == {
        "acc@0.5": 0.0,
        "gIoU": 0.0,
        "turns": 1,
    }
    assert metrics["rounds"]["2"]["errors_with_wrong_reference"] == 1.0
    assert metrics["rounds"]["3"]["given_reference_hit"]["turns"] == 0
    assert metrics["rounds"]["3"]["errors_with_wrong_reference"] is None  # no error
    assert "given_reference_hit" not in metrics["rounds"]["1"]
    report = (run / "report.md").read_text()
    table = report.split("## Error propagation: rounds >= 2 by the given reference")[1]
    lines = table.split("##")[0].strip().splitlines()
    assert lines[0] == "| given reference (%) | R2 | R3 |"
    assert "| reference right: acc@0.5 | 100.0 | n/a |" in lines
    assert "| reference wrong: turns | 1 | 1 |" in lines
    assert "| errors with a wrong reference | 100.0 | n/a |" in lines
    assert "Error propagation" in (run / "report.html").read_text()


def rows_with_relations() -> list[dict]:
    rows = scenario_rows()
    for row in rows:
        key = (row["dialogue_id"], row["turn_index"])
        row["relation"] = SCENARIO_RELATIONS.get(key)
        row["refers_to"] = None if row["turn_index"] == 0 else row["turn_index"] - 1
    return rows


def assert_relations(relations: dict) -> None:
    assert set(relations) == set(EXPECTED_RELATIONS)
    for name, expected in EXPECTED_RELATIONS.items():
        for key, value in expected.items():
            assert relations[name][key] == pytest.approx(value), (name, key)


def test_metrics_break_accuracy_down_by_the_rows_relation(tmp_path):
    run = write_run(tmp_path / "run", rows_with_relations())
    metrics = write_reports([run])
    assert_relations(metrics["relations"])
    assert_relations(json.loads((run / "metrics.json").read_text())["relations"])
    report = (run / "report.md").read_text()
    table = report.split("## By relation (%, all rounds)")[1].split("##")[0]
    lines = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    # Most frequent relation first, the turns without a reference last.
    # right_of: a/1 and b/2; above: b/1 alone; no reference: a/0 and b/0
    assert lines[1:] == [
        "| right_of | 2 | 100.0 [100.0, 100.0] | 65.9 [50.0, 81.8] | 50.0 |",
        "| above | 1 | 0.0 [0.0, 0.0] | 0.0 [0.0, 0.0] | n/a |",
        "| no reference | 2 | 50.0 [0.0, 100.0] | 50.0 [0.0, 100.0] | n/a |",
    ]
    assert "By relation" in (run / "report.html").read_text()


def test_relations_of_old_rows_come_from_the_data_file(tmp_path):
    bench = write_bench(tmp_path / "data" / "bench.jsonl", "synth")
    run = write_run(tmp_path / "run", scenario_rows())  # rows without "relation"
    assert_relations(write_reports([run], data_path=bench)["relations"])


def test_without_relations_there_is_no_relation_table(tmp_path):
    run = write_run(tmp_path / "run", scenario_rows())  # no "relation", no data file
    assert write_reports([run])["relations"] == {}
    assert "By relation" not in (run / "report.md").read_text()


def test_a_reference_without_a_relation_name_is_unnamed(tmp_path):
    rows = rows_with_relations()
    rows[1]["relation"] = None  # a/1 still cites turn 0
    relations = write_reports([write_run(tmp_path / "run", rows)])["relations"]
    assert relations["unnamed"]["turns"] == 1 and relations["right_of"]["turns"] == 1
    assert relations["no reference"]["turns"] == 2


def test_size_classes_follow_cocos_area_bounds():
    assert [size_of(a) for a in (0, 32**2 - 1, 32**2, 96**2 - 1, 96**2, 10**6)] == [
        "small",
        "small",
        "medium",
        "medium",
        "large",
        "large",
    ]


def test_metrics_break_accuracy_down_by_target_size(tmp_path):
    rows = scenario_rows()  # every target box of the scenario is small (<= 400 px)
    rows[0].update(pred_bboxes=[[0, 0, 40, 30]], gt_bboxes=[[0, 0, 40, 30]])  # 1,200: medium, hit
    rows[2].update(gt_bboxes=[[0, 0, 100, 100]])  # 10,000: large, no prediction
    run = write_run(tmp_path / "run", rows)
    sizes = write_reports([run])["sizes"]
    # small: a/1 hit, b/1 failed, b/2 hit
    assert {k: (v["turns"], v["acc@0.5"]) for k, v in sizes.items()} == {
        "small": (3, pytest.approx(2 / 3)),
        "medium": (1, 1.0),
        "large": (1, 0.0),
    }
    report = (run / "report.md").read_text()
    table = report.split("## By target box size")[1].split("##")[0]
    assert [
        line.split(" | ")[0] for line in table.splitlines() if line[:3] in ("| s", "| m", "| l")
    ] == [
        "| small",
        "| medium",
        "| large",
    ]


def test_sizes_of_rows_without_ground_truth_come_from_the_data_file(tmp_path):
    bench = write_bench(tmp_path / "data" / "bench.jsonl", "synth")
    bare = [
        {k: v for k, v in r.items() if k not in ("gt_bboxes", "gt_mask")} for r in scenario_rows()
    ]
    sizes = write_reports([write_run(tmp_path / "run", bare)], data_path=bench)["sizes"]
    # every target box of the scenario is at most 20 x 20 pixels
    assert {k: v["turns"] for k, v in sizes.items()} == {"small": 5}
    assert sizes["small"]["acc@0.5"] == pytest.approx(3 / 5)


def test_report_html_title_names_the_model_and_every_value_is_escaped(tmp_path):
    """The page's <title> is the report's title (it once showed the last breakdown
    table's title, a shadowed variable), and every value from the run is escaped the way
    html.escape does (a model spec or a completion could hold markup)."""
    import html
    import re

    rows = scenario_rows()
    rows[0] = {**rows[0], "text": '<think>it\'s <b>bold</b> & "quoted"</think>'}
    model = "hf:/m/<script>it's</script>"
    run = write_run(tmp_path / "run", rows, {**CONFIG, "model": model})
    bench = write_bench(tmp_path / "data" / "bench.jsonl", "synth")
    write_reports([run], data_path=bench)
    page = (run / "report.html").read_text()
    title = html.escape(f"Evaluation report: {model}")
    assert re.search(r"<title>(.*?)</title>", page).group(1) == title
    assert f"<h1>{title}</h1>" in page
    assert "<script>" not in page and "it&#x27;s" in page  # html.escape, not &#39;
    assert html.escape('it\'s <b>bold</b> & "quoted"') in page
    assert page.endswith("</body></html>\n")
    assert re.search(r">\s+<", page.split("</style>", 1)[1]) is None  # no template whitespace


def test_report_html_without_scored_turns_or_gallery(tmp_path):
    run = write_run(tmp_path / "run", [])
    metrics = write_reports([run], gallery_dialogues=0)
    assert metrics["rounds"] == {}
    page = (run / "report.html").read_text()
    assert "<p>No turns were scored.</p><h2>Notes</h2><ul><li>" in page
    assert "Gallery" not in page and "<table>" in page  # the settings table only


# --------------------------------------------------------------------------- the docs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "evaluation.md"
DOCS_SECTION = "### One report with these numbers"


def _fenced_blocks(text: str) -> list[str]:
    """The fenced code blocks of a Markdown text, in order."""
    parts = text.split("```")
    return [block.split("\n", 1)[1] for block in parts[1::2]]


def _table_row_label(line: str) -> str:
    return line.strip().strip("|").split("|")[0].strip()


@pytest.mark.slow
@pytest.mark.integration
def test_the_docs_report_excerpt_names_what_a_fresh_report_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """docs/evaluation.md section 10 shows a report: its commands, run again, write a
    report with every section, table header, row label and note of the excerpt."""
    import shlex

    from regionreasoner.cli.main import main

    section = DOCS.read_text(encoding="utf-8").split(DOCS_SECTION)[1]
    commands, excerpt = _fenced_blocks(section)[:2]
    monkeypatch.chdir(tmp_path)
    for command in commands.replace("\\\n", " ").strip().splitlines():
        argv = shlex.split(command)
        assert argv[0] == "regionreasoner"
        assert main(argv[1:]) == 0, command
    capsys.readouterr()
    report = (tmp_path / "runs" / "noisy" / "report.md").read_text(encoding="utf-8")
    report_lines = report.splitlines()
    labels = {_table_row_label(line) for line in report_lines if line.startswith("| ")}
    lines = excerpt.splitlines()
    checked = 0
    for index, line in enumerate(lines):
        if line.startswith("## ") or line.startswith("- "):
            assert line in report_lines, line
        elif line.startswith("| ") and index + 1 < len(lines) and lines[index + 1].startswith("|-"):
            assert line in report_lines, line  # a table's header, column by column
        elif line.startswith("| "):
            assert _table_row_label(line) in labels, line
        else:
            continue
        checked += 1
    assert checked > 30
    # the interval cells keep their shape: value [low, high]
    row = next(line for line in report_lines if line.startswith("| **this run: gIoU**"))
    cells = [cell.strip() for cell in row.split("|")[2:-1]]
    assert len(cells) == 8 and all(" [" in c and c.endswith("]**") for c in cells)
