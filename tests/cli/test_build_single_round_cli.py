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


@pytest.mark.integration
def test_eval_and_score_run_unchanged_on_a_single_round_split(
    refcoco_source, tmp_path, capsys
) -> None:
    src = refcoco_source()
    bench = tmp_path / "testA.jsonl"
    assert _build(src, bench, "--split", "testA") == 0
    _images(src, tmp_path / "images")
    run = tmp_path / "run"
    argv = ["eval", "--data", str(bench), "--images-root", str(tmp_path / "images")]
    assert main([*argv, "--model", "oracle", "--segmenter", "box-fill", "--out", str(run)]) == 0
    assert main(["score", str(run), "--data", str(bench)]) == 0
    capsys.readouterr()
    metrics = json.loads((run / "metrics.json").read_text())
    expressions = sum(len(r["sentences"]) for r in src.refs if r["split"] == "testA")
    assert list(metrics["rounds"]) == ["1"]
    assert metrics["overall"]["turns"] == metrics["dialogues"] == expressions
    assert metrics["overall"]["acc@0.5"] == 1.0
    assert metrics["benchmark"] is None  # not compared with the multi-round tables
    assert len(read_dialogues(bench)) == expressions
