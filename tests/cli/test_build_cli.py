"""``regionreasoner build refcoco|synth``: exit codes, outputs, --stats, the pickle refusal."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pytest

from regionreasoner.cli.main import main
from regionreasoner.data.io import read_dialogues


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_build_synth_writes_jsonl_and_images_and_prints_stats(tmp_path, capsys):
    out = tmp_path / "synth"
    rc = main(
        [
            "build",
            "synth",
            "--out",
            str(out),
            "--dialogues",
            "3",
            "--image-size",
            "96",
            "--seed",
            "4",
            "--max-turns",
            "4",
            "--stats",
        ]
    )
    assert rc == 0
    dialogues = read_dialogues(out / "synth.jsonl")
    assert len(dialogues) == 3 and all(2 <= len(d.turns) <= 4 for d in dialogues)
    assert len(list((out / "images").glob("*.png"))) == 3
    captured = capsys.readouterr()
    assert "| Round | Turns |" in captured.out and "| 1 | 3 |" in captured.out
    assert "| Relation | Turns |" in captured.out and "| Category | Turns |" in captured.out
    assert "wrote 3 dialogues" in captured.err


def test_build_refcoco_writes_bench_and_stats(refcoco_source, tmp_path, capsys):
    src = refcoco_source(protocol=0, py2=True)
    out = tmp_path / "bench.jsonl"
    rc = main(
        [
            "build",
            "refcoco",
            "--refs",
            str(src.refs_path),
            "--instances",
            str(src.instances_path),
            "--split",
            "testA",
            "--out",
            str(out),
            "--stats",
        ]
    )
    assert rc == 0
    dialogues = read_dialogues(out)
    assert {d.dialogue_id for d in dialogues} >= {"101"}
    captured = capsys.readouterr()
    assert "| Total |" in captured.out
    assert "later turns cite an earlier turn" in captured.err


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_build_refcoco_malicious_pickle_exits_2_names_file_runs_nothing(
    refcoco_source, tmp_path, capsys, protocol
):
    src = refcoco_source()
    marker = tmp_path / "PWNED"
    src.refs_path.write_bytes(
        pickle.dumps([{"ref_id": 1}, _Payload(str(marker))], protocol=protocol)
    )
    out = tmp_path / "bench.jsonl"
    rc = main(
        [
            "build",
            "refcoco",
            "--refs",
            str(src.refs_path),
            "--instances",
            str(src.instances_path),
            "--split",
            "test",
            "--out",
            str(out),
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert str(src.refs_path) in err and "refused" in err
    assert not marker.exists()
    assert not out.exists()


def test_build_refcoco_malicious_pickle_in_a_subprocess_runs_nothing(refcoco_source, tmp_path):
    """End to end through the installed entry point: exit 2, message on stderr, no side effect."""
    src = refcoco_source()
    marker = tmp_path / "PWNED"
    src.refs_path.write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "regionreasoner",
            "build",
            "refcoco",
            "--refs",
            str(src.refs_path),
            "--instances",
            str(src.instances_path),
            "--split",
            "test",
            "--out",
            str(tmp_path / "bench.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert str(src.refs_path) in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not marker.exists()


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--split", "testZ"], "unknown split"),
        (["--split", "test", "--max-turns", "1"], "max-turns"),
    ],
)
def test_build_refcoco_bad_arguments_exit_2(refcoco_source, tmp_path, capsys, argv, match):
    src = refcoco_source()
    rc = main(
        [
            "build",
            "refcoco",
            "--refs",
            str(src.refs_path),
            "--instances",
            str(src.instances_path),
            "--out",
            str(tmp_path / "b.jsonl"),
            *argv,
        ]
    )
    assert rc == 2
    assert match in capsys.readouterr().err


def test_build_refcoco_missing_refs_file_exits_2(tmp_path, capsys):
    rc = main(
        [
            "build",
            "refcoco",
            "--refs",
            str(tmp_path / "refs(unc).p"),
            "--instances",
            str(tmp_path / "instances.json"),
            "--split",
            "test",
            "--out",
            str(tmp_path / "b.jsonl"),
        ]
    )
    assert rc == 2
    assert "refs(unc).p" in capsys.readouterr().err


def test_build_without_source_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["build"])
    assert info.value.code == 2
    assert "SOURCE" in capsys.readouterr().err


@pytest.mark.parametrize("source", ["refcoco", "synth"])
def test_build_help_has_a_runnable_example(source, capsys):
    with pytest.raises(SystemExit):
        main(["build", source, "--help"])
    out = capsys.readouterr().out
    assert f"regionreasoner build {source} --" in out


def test_build_synth_dialogues_zero_exits_2(tmp_path, capsys):
    assert main(["build", "synth", "--out", str(tmp_path / "s"), "--dialogues", "0"]) == 2
    assert "--dialogues" in capsys.readouterr().err
