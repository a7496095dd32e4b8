"""``build refcoco --single-round`` through the CLI, then ``eval`` and ``score`` on a split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from regionreasoner.cli.main import main
from regionreasoner.data.io import read_dialogues


def _build(src, out: Path, *extra: str) -> int:
    return main(
        [
            "build",
            "refcoco",
            "--single-round",
            "--refs",
            str(src.refs_path),
            "--instances",
            str(src.instances_path),
            "--out",
            str(out),
            *extra,
        ]
    )


def test_single_round_writes_every_standard_split(refcoco_source, tmp_path, capsys) -> None:
    src = refcoco_source()
    assert _build(src, tmp_path / "single") == 0
    names = sorted(p.name for p in (tmp_path / "single").iterdir())
    assert names == [
        "refcoco+_testA_single-round.jsonl",
        "refcoco+_testB_single-round.jsonl",
        "refcoco+_val_single-round.jsonl",
    ]
    err = capsys.readouterr().err
    val = sum(len(r["sentences"]) for r in src.refs if r["split"] == "val")
    assert f"wrote {val} one-turn records (one per referring expression" in err


def test_multi_round_build_still_requires_a_split(refcoco_source, tmp_path, capsys) -> None:
    src = refcoco_source()
    argv = ["build", "refcoco", "--refs", str(src.refs_path), "--instances"]
    rc = main([*argv, str(src.instances_path), "--out", str(tmp_path / "b.jsonl")])
    assert rc == 2
    assert "--split is required" in capsys.readouterr().err
    assert not (tmp_path / "b.jsonl").exists()


def _images(src, root: Path) -> None:
    """Blank images of the instances' sizes, where the records expect them."""
    root.mkdir()
    for image in src.instances["images"]:
        Image.new("RGB", (image["width"], image["height"])).save(root / image["file_name"])


def _eval_split(src, tmp_path: Path, split: str, segmenter: str) -> tuple[Path, Path]:
    """Build one single-round split, draw its images and run the oracle on it."""
    bench = tmp_path / f"{split}.jsonl"
    assert _build(src, bench, "--split", split) == 0
    _images(src, tmp_path / "images")
    run = tmp_path / "run"
    argv = ["eval", "--data", str(bench), "--images-root", str(tmp_path / "images")]
    assert main([*argv, "--model", "oracle", "--segmenter", segmenter, "--out", str(run)]) == 0
    return bench, run


@pytest.mark.integration
def test_eval_and_score_run_unchanged_on_a_single_round_split(
    refcoco_source, tmp_path, capsys
) -> None:
    src = refcoco_source()
    bench, run = _eval_split(src, tmp_path, "testA", "box-fill")
    assert main(["score", str(run), "--data", str(bench)]) == 0
    capsys.readouterr()
    metrics = json.loads((run / "metrics.json").read_text())
    expressions = sum(len(r["sentences"]) for r in src.refs if r["split"] == "testA")
    assert list(metrics["rounds"]) == ["1"]
    assert metrics["overall"]["turns"] == metrics["dialogues"] == expressions
    assert metrics["overall"]["acc@0.5"] == 1.0
    assert metrics["benchmark"] is None  # not compared with the multi-round tables
    assert len(read_dialogues(bench)) == expressions
    # the card (rebuilt by score) puts the paper's single-round figures beside ours
    card = json.loads((run / "card.json").read_text())
    assert card["data"]["counting_unit"] == "expression"
    assert card["data"]["counts"]["expressions"] == expressions
    published = card["published"]
    assert (published["benchmark"], published["task"], published["split"]) == (
        "refcoco+",
        "single-round",
        "testA",
    )
    figures = {(f["method"], f["metric"]): f for f in published["figures"]}
    ours = figures[("RegionReasoner-7B", "acc@0.5")]
    assert (ours["table"], ours["published"], ours["ours"]) == ("Table 10", 0.886, 1.0)
    assert ours["gap"] == pytest.approx(1.0 - 0.886)
    assert ours["ours_ci"] == [1.0, 1.0]  # the oracle hits every expression
    assert figures[("Qwen2.5-VL-7B", "gIoU")]["published"] == 0.768
    report = (run / "report.md").read_text()
    assert (
        "| RegionReasoner-7B (Table 10) | acc@0.5 | 88.6 | 100.0 [100.0, 100.0] | +11.4 |" in report
    )
    assert "without naming the split" in report
    # compare shows the same published figures in its R1 column
    assert main(["compare", f"oracle={run}", "--metric", "acc@0.5"]) == 0
    out = capsys.readouterr().out
    assert "| oracle | 1 | 100.0 |" in out
    assert "| RegionReasoner-7B (Table 10) | paper | 88.6 |" in out
    assert "| Qwen2.5-VL-7B (Table 10) | paper | 88.2 |" in out


@pytest.mark.integration
def test_a_validation_split_has_no_published_figures(refcoco_source, tmp_path, capsys) -> None:
    _, run = _eval_split(refcoco_source(), tmp_path, "val", "none")
    capsys.readouterr()
    assert json.loads((run / "card.json").read_text())["published"] is None
    assert "(Table 10)" not in (run / "report.md").read_text()
