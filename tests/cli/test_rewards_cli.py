"""``regionreasoner rewards``: output rows, stdout/--out, summary, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from regionreasoner.cli.main import main
from regionreasoner.rewards import REWARD_KEYS, score_completion
from regionreasoner.rewards.hacking import GOOD_COMPLETION, PROBLEM, SOLUTION

ROWS = [
    {
        "id": "good",
        "problem": PROBLEM,
        "solution": json.dumps(SOLUTION),
        "completion": GOOD_COMPLETION,
    },
    {"id": 2, "problem": PROBLEM, "solution": SOLUTION, "completion": "<answer>[{]</answer>"},
    {"id": "no-problem", "problem": None, "solution": SOLUTION, "completion": ""},
]


def write_rows(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("profile", ["paper", "official"])
def test_rewards_to_stdout_adds_rewards_and_prints_means(tmp_path, capsys, profile):
    src = write_rows(tmp_path / "in.jsonl", ROWS)
    assert main(["rewards", str(src), "--profile", profile]) == 0
    captured = capsys.readouterr()
    out = [json.loads(line) for line in captured.out.splitlines()]
    assert [o["id"] for o in out] == ["good", 2, "no-problem"]
    for row, result in zip(ROWS, out, strict=True):
        assert tuple(result["rewards"]) == REWARD_KEYS
        expected = score_completion(
            row["completion"], problem=row["problem"], solution=row["solution"], profile=profile
        )
        assert result["rewards"] == expected.to_dict()
        assert result["completion"] == row["completion"]
        assert "reward_issues" not in result
    mean_total = sum(o["rewards"]["total"] for o in out) / 3
    assert f"rewards ({profile}, 3 rows)" in captured.err
    assert f"total={mean_total:.4f}" in captured.err


def test_rewards_out_file_alpha_beta_and_issues(tmp_path, capsys):
    src = write_rows(tmp_path / "in.jsonl", ROWS[:1])
    dst = tmp_path / "sub" / "out.jsonl"
    code = main(
        ["rewards", str(src), "--out", str(dst), "--alpha", "0", "--beta", "2", "--with-issues"]
    )
    assert code == 0
    assert capsys.readouterr().out == ""
    (row,) = [json.loads(line) for line in dst.read_text().splitlines()]
    expected = score_completion(
        GOOD_COMPLETION, problem=PROBLEM, solution=SOLUTION, alpha=0, beta=2
    )
    assert row["rewards"]["total"] == expected.total
    assert row["reward_issues"] == list(expected.issues)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [{"id": "a", "problem": "x", "solution": "[]", "completion": "c"}],
            "id a (line 1): solution",
        ),
        ([{"id": "a", "problem": "x", "completion": "c"}], "missing 'solution'"),
        ([{"id": "a", "problem": "x", "solution": SOLUTION, "completion": 5}], "completion"),
        ([{"id": "a", "problem": 3, "solution": SOLUTION, "completion": "c"}], "problem"),
        (["just a string"], "expected a JSON object"),
    ],
)
def test_rewards_bad_rows_exit_2_and_write_nothing(tmp_path, capsys, rows, message):
    src = write_rows(tmp_path / "in.jsonl", rows)
    dst = tmp_path / "out.jsonl"
    assert main(["rewards", str(src), "--out", str(dst)]) == 2
    assert message in capsys.readouterr().err
    assert not dst.exists()


def test_rewards_missing_file_and_bad_weights_exit_2(tmp_path, capsys):
    assert main(["rewards", str(tmp_path / "nope.jsonl")]) == 2
    src = write_rows(tmp_path / "in.jsonl", ROWS[:1])
    assert main(["rewards", str(src), "--beta", "-1"]) == 2
    assert "beta" in capsys.readouterr().err


def test_rewards_normalisation_option(tmp_path, capsys):
    src = write_rows(tmp_path / "in.jsonl", ROWS[:1])
    assert main(["rewards", str(src), "--normalisation", "base"]) == 0
    captured = capsys.readouterr()
    (row,) = [json.loads(line) for line in captured.out.splitlines()]
    expected = score_completion(
        GOOD_COMPLETION, problem=PROBLEM, solution=SOLUTION, normalisation="base"
    )
    assert row["rewards"] == expected.to_dict()
    assert "rewards (paper, normalisation base, 1 rows)" in captured.err
    dst = tmp_path / "out.jsonl"
    code = main(
        ["rewards", str(src), "--profile", "official", "--normalisation", "base", "--out", str(dst)]
    )
    assert code == 2
    assert "not available with the 'official'" in capsys.readouterr().err
    assert not dst.exists()


def test_rewards_help_has_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["rewards", "--help"])
    assert "regionreasoner rewards completions.jsonl" in capsys.readouterr().out
