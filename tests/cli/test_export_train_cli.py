"""``regionreasoner export-train``: exit codes and outputs through the CLI."""

from __future__ import annotations

import json

import pytest

from regionreasoner.cli.main import main


def test_export_train_easyr1_through_the_cli(synth_bench, tmp_path, capsys):
    out = tmp_path / "train.jsonl"
    rc = main(
        [
            "export-train",
            str(synth_bench),
            "--out",
            str(out),
            "--format",
            "easyr1",
            "--frame",
            "112",
        ]
    )
    assert rc == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows and all(json.loads(r["solution"])["problem"] == r["problem"] for r in rows)
    assert f"wrote {len(rows)} samples" in capsys.readouterr().err


def test_export_train_parquet_through_the_cli(synth_bench, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "train.parquet"
    assert (
        main(
            [
                "export-train",
                str(synth_bench),
                "--out",
                str(out),
                "--format",
                "verl",
                "--frame",
                "112",
            ]
        )
        == 0
    )
    assert pq.read_table(out).num_rows > 12


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--format", "verl", "--out", "x.jsonl"], ".parquet"),
        (["--format", "easyr1", "--out", "x.jsonl", "--frame", "0"], "frame"),
    ],
)
def test_export_train_bad_arguments_exit_2(synth_bench, tmp_path, capsys, argv, match):
    argv = [a if not a.startswith("x.") else str(tmp_path / a) for a in argv]
    assert main(["export-train", str(synth_bench), *argv]) == 2
    assert match in capsys.readouterr().err


def test_export_train_missing_bench_exits_2(tmp_path, capsys):
    rc = main(
        [
            "export-train",
            str(tmp_path / "nope.jsonl"),
            "--out",
            str(tmp_path / "o.jsonl"),
            "--format",
            "easyr1",
        ]
    )
    assert rc == 2
    assert "nope.jsonl" in capsys.readouterr().err


def test_export_train_unknown_format_is_a_usage_error(synth_bench, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["export-train", str(synth_bench), "--out", str(tmp_path / "o"), "--format", "csv"])
    assert info.value.code == 2
