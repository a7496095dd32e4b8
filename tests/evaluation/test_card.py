"""The reproducibility card: prompt hashes, data hash and counts, git revision, checkpoint
config hash, published figures and the Markdown rendering."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from regionreasoner.cli.main import main
from regionreasoner.data.io import read_dialogues, write_dialogues
from regionreasoner.data.schema import Dialogue, Target, Turn
from regionreasoner.dialogue.prompts import get_prompt
from regionreasoner.evaluation import card as card_module
from regionreasoner.evaluation.card import (
    CARD_SCHEMA_VERSION,
    Environment,
    PromptText,
    build_card,
    checkpoint_config_hash,
    git_revision,
    make_card,
    published_comparison,
    summarize_data,
)
from regionreasoner.evaluation.tables import render_card_markdown


def _eval(bench: Path, out: Path, prompt: str, *extra: str) -> Path:
    argv = ["eval", "--data", str(bench), "--model", "oracle", "--segmenter", "box-fill"]
    assert main([*argv, "--limit", "2", "--prompt", prompt, "--out", str(out), *extra]) == 0
    return out


def _card(run: Path) -> dict[str, Any]:
    return json.loads((run / "card.json").read_text(encoding="utf-8"))


@pytest.mark.integration
def test_two_runs_differing_only_in_prompt_have_different_prompt_hashes(
    synth_bench: Path, tmp_path: Path, capsys
) -> None:
    """The cards ``eval`` writes: the prompt hash is of the text the run asked."""
    first = _card(_eval(synth_bench, tmp_path / "a", "regionreasoner"))
    second = _card(_eval(synth_bench, tmp_path / "b", "regionreasoner-train"))
    again = _card(_eval(synth_bench, tmp_path / "c", "regionreasoner"))
    assert first["prompt"]["name"] == "regionreasoner"
    assert second["prompt"]["name"] == "regionreasoner-train"
    assert len(first["prompt"]["sha256"]) == 64
    assert first["prompt"]["sha256"] != second["prompt"]["sha256"]
    assert first["prompt"]["text_source"] == "config.json"
    # the hash is of the rendered template (as a card built from the registry says)
    template = PromptText.from_template(get_prompt("regionreasoner-train"))
    assert second["prompt"]["sha256"] == template.sha256
    assert again == first  # same settings, same card
    differing = {k for k in first if first[k] != second[k]}
    assert differing == {"prompt"}
    capsys.readouterr()


@pytest.mark.integration
def test_eval_writes_the_card_and_score_rebuilds_it_byte_for_byte(
    synth_bench: Path, tmp_path: Path, capsys
) -> None:
    """No field of the card depends on the time: the same run and code give the same
    bytes (``software`` would differ only if the code changed in between)."""
    run = _eval(synth_bench, tmp_path / "run", "regionreasoner", "--reference", "oracle")
    written = (run / "card.json").read_bytes()
    card = json.loads(written)
    assert card["reference_policy"] == "oracle" and card["model"]["spec"] == "oracle"
    assert card["data"]["path"] == str(synth_bench.resolve())
    assert card["data"]["counts"]["dialogues"] == len(read_dialogues(synth_bench))
    assert (
        card["software"]["run_versions"]
        == json.loads((run / "config.json").read_text(encoding="utf-8"))["versions"]
    )
    assert set(card["software"]["versions"]) == set(card["software"]["run_versions"])
    (run / "card.json").unlink()
    assert main(["score", str(run)]) == 0
    assert (run / "card.json").read_bytes() == written
    assert "card.json" in capsys.readouterr().out
    report = (run / "report.md").read_text(encoding="utf-8")
    assert report.index("## Reproducibility card") < report.index("| setting | value |")
    assert f"(sha256 {card['prompt']['sha256'][:12]})" in report
    assert "Reproducibility card" in (run / "report.html").read_text(encoding="utf-8")


@pytest.mark.integration
def test_score_hashes_the_current_template_for_a_run_without_prompt_text(
    synth_bench: Path, tmp_path: Path, capsys
) -> None:
    """A run written before config.json recorded ``prompt_text``: the card says so."""
    run = _eval(synth_bench, tmp_path / "old", "regionreasoner-train")
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    del config["prompt_text"]
    (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
    assert main(["score", str(run)]) == 0
    capsys.readouterr()
    prompt = _card(run)["prompt"]
    assert prompt["text_source"] == "template"
    assert prompt["sha256"] == PromptText.from_template(get_prompt("regionreasoner-train")).sha256
    assert "hashed from the current template" in (run / "report.md").read_text(encoding="utf-8")


def test_make_card_counts_records_already_read_and_records_the_runs_packages(
    synth_bench: Path,
) -> None:
    config = {"model": "oracle", "versions": {"python": "3", "numpy": "1", "no-such-pkg": "2"}}
    from_file = make_card(config, data_path=synth_bench)
    given = make_card(config, data_path=synth_bench, dialogues=read_dialogues(synth_bench))
    assert given == from_file
    assert from_file["data"]["counts"] == summarize_data(synth_bench).counts()
    # the packages the run recorded, as installed now (None: not installed)
    versions = from_file["software"]["versions"]
    assert set(versions) == {"python", "regionreasoner", "numpy", "no-such-pkg"}
    assert versions["no-such-pkg"] is None and versions["numpy"] is not None
    assert make_card(config, data_path=None)["data"] == {"path": None}


def test_prompt_hash_covers_the_system_message_and_the_question_normalisation() -> None:
    base = PromptText("p", None, 'Find "the question".')
    assert PromptText("p", "You are a helpful assistant.", base.user).sha256 != base.sha256
    assert PromptText("p", None, 'Find "the question?".').sha256 != base.sha256
    assert PromptText("other name", None, base.user).sha256 == base.sha256  # text, not name
    # the two released RegionReasoner prompts normalise the probe question differently
    users = {n: PromptText.from_template(get_prompt(n)).user for n in ("regionreasoner", "plain")}
    assert '"the question"' in users["regionreasoner"] and '"the question"' in users["plain"]
    assert '"the question?"' in PromptText.from_template(get_prompt("regionreasoner-train")).user


def test_prompt_hash_falls_back_to_the_text_stored_in_the_config() -> None:
    config = {"prompt": "custom", "prompt_text": {"system": None, "user": "Find {q}."}}
    env = Environment({"regionreasoner": "0"})
    card = build_card(config, data=None, prompt=None, environment=env)
    assert card["prompt"] == {
        "name": "custom",
        "sha256": PromptText("custom", None, "Find {q}.").sha256,
        "text_source": "config.json",
    }
    bare = build_card({"prompt": "custom"}, data=None, prompt=None, environment=env)
    assert bare["prompt"] == {"name": "custom", "sha256": None, "text_source": None}
    given = build_card(config, data=None, prompt=PromptText("custom", "S", "U"), environment=env)
    assert given["prompt"]["text_source"] == "template"
    assert given["prompt"]["sha256"] == PromptText("custom", "S", "U").sha256


def test_data_summary_hashes_the_bytes_and_counts_instances_and_expressions(
    synth_bench: Path,
) -> None:
    summary = summarize_data(synth_bench)
    assert summary.sha256 == hashlib.sha256(synth_bench.read_bytes()).hexdigest()
    assert summary.size_bytes == synth_bench.stat().st_size
    dialogues = read_dialogues(synth_bench)
    turns = [t for d in dialogues for t in d.turns]
    assert (summary.dialogues, summary.turns, summary.expressions) == (
        len(dialogues),
        len(turns),
        len(turns),
    )
    objects = {
        (d.image, t.targets[0].ann_id if t.targets[0].ann_id is not None else t.targets[0].bbox)
        for d in dialogues
        for t in d.turns
    }
    assert summary.instances == len(objects)
    assert summary.images == len({d.image for d in dialogues})
    assert summary.counting_unit == "turn"


def test_several_expressions_of_one_object_are_one_instance(tmp_path: Path) -> None:
    target = Target((0, 0, 10, 10), ann_id=7)
    meta = {"task": "single-round", "counting_unit": "expression"}
    records = [
        Dialogue(f"7_{k}", "a.jpg", (Turn(0, text, (target,)),), source="x", meta=meta)
        for k, text in enumerate(("the dog", "brown dog", "dog on the left"))
    ]
    path = tmp_path / "single.jsonl"
    write_dialogues(path, records)
    summary = summarize_data(path)
    assert (summary.dialogues, summary.expressions, summary.instances) == (3, 3, 1)
    assert summary.counting_unit == "expression"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_revision_of_a_tracked_file_and_none_elsewhere(tmp_path: Path, monkeypatch) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "pkg.py").write_text("x = 1\n")
    _git(repo, "add", "pkg.py")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = _git(repo, "rev-parse", "HEAD")
    assert git_revision(repo / "pkg.py") == (head, False)
    (repo / "pkg.py").write_text("x = 2\n")
    assert git_revision(repo / "pkg.py") == (head, True)
    (repo / "untracked.py").write_text("y = 1\n")  # e.g. a venv inside another repo
    assert git_revision(repo / "untracked.py") == (None, None)
    outside = tmp_path / "plain"
    outside.mkdir()
    (outside / "pkg.py").write_text("")
    assert git_revision(outside / "pkg.py") == (None, None)
    monkeypatch.setattr(card_module.shutil, "which", lambda name: None)  # git absent
    assert git_revision(repo / "pkg.py") == (None, None)


def test_checkpoint_config_hash_of_a_local_hf_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    digest = hashlib.sha256(b'{"model_type": "qwen2_5_vl"}').hexdigest()
    assert checkpoint_config_hash(f"hf:{tmp_path}") == {
        "sha256": digest,
        "path": str(tmp_path / "config.json"),
    }
    assert checkpoint_config_hash("oracle:noise=3") is None
    assert checkpoint_config_hash(None) is None
    missing = checkpoint_config_hash(f"hf:{tmp_path / 'nowhere'}")
    assert missing == {"sha256": None, "path": None}
    assert checkpoint_config_hash("hf:no-such-org/no-such-model-xyz")["sha256"] is None


def test_card_records_the_settings_of_the_config() -> None:
    config = {
        "data": "bench.jsonl",
        "model": "hf:some/model",
        "protocol": "official",
        "reference_policy": "oracle",
        "prompt": "regionreasoner",
        "frame": "square840",
        "segmenter": "sam2",
        "max_new_tokens": 2048,
        "temperature": 0.0,
        "seed": 5,
        "versions": {"python": "3.11.0", "regionreasoner": "0.0.9"},
        "backend_settings": {"dtype": "bfloat16"},
    }
    env = Environment({"python": "3.11.7", "regionreasoner": "0.1.0"}, "abc123", False)
    card = build_card(
        config,
        data=None,
        prompt=PromptText("regionreasoner", None, "u"),
        environment=env,
        checkpoint={"sha256": "f" * 64, "path": "x"},
    )
    assert card["schema_version"] == CARD_SCHEMA_VERSION
    assert card["software"]["regionreasoner"] == "0.1.0"
    assert card["software"]["git_revision"] == "abc123"
    assert card["software"]["run_versions"] == config["versions"]
    assert card["model"]["backend"] == "hf"
    assert card["model"]["checkpoint_config_sha256"] == "f" * 64
    assert (card["protocol"], card["reference_policy"], card["frame"]) == (
        "official",
        "oracle",
        "square840",
    )
    assert card["decoding"] == {"temperature": 0.0, "greedy": True, "max_new_tokens": 2048}
    assert card["seed"] == 5 and card["data"] == {"path": "bench.jsonl"}
    assert card["published"] is None
    json.dumps(card, allow_nan=False)  # JSON-ready


def test_published_figures_of_the_multi_round_benchmark_with_the_gap() -> None:
    metrics = {"overall": {"acc@0.5": 0.75, "gIoU": 0.60}}
    comparison = published_comparison(["refcocog/test"], metrics)
    assert comparison["benchmark"] == "refcocog" and comparison["task"] == "multi-round"
    ours = {
        (f["method"], f["metric"]): f
        for f in comparison["figures"]
        if "RegionReasoner" in f["method"]
    }
    detection = ours[("RegionReasoner-7B", "acc@0.5")]
    assert detection["published"] == pytest.approx(0.782) and detection["table"] == "Table 1"
    assert detection["gap"] == pytest.approx(0.75 - 0.782)
    assert ours[("RegionReasoner-7B", "gIoU")]["published"] == pytest.approx(0.665)
    assert published_comparison(["refcocog/test", "synth"], metrics) is None
    assert published_comparison(["synth"], metrics) is None


def test_published_figures_of_a_single_round_test_split() -> None:
    metrics = {"overall": {"acc@0.5": 0.9, "gIoU": None}}
    comparison = published_comparison(["refcoco+/testB/single-round"], metrics)
    assert comparison["task"] == "single-round" and comparison["split"] == "testB"
    by_key = {(f["method"], f["metric"]): f for f in comparison["figures"]}
    assert by_key[("Qwen2.5-VL-7B", "acc@0.5")]["published"] == pytest.approx(0.882)
    assert by_key[("Qwen2.5-VL-7B", "acc@0.5")]["gap"] == pytest.approx(0.9 - 0.882)
    assert by_key[("VisionReasoner-7B", "gIoU")]["gap"] is None  # no gIoU measured
    assert all("without naming the split" in f["note"] for f in comparison["figures"])
    assert published_comparison(["refcoco+/val/single-round"], metrics) is None
    assert published_comparison(["refcoco/testA/single-round"], metrics) is None


def test_markdown_rendering_names_the_card_and_the_gap() -> None:
    env = Environment({"regionreasoner": "0.1.0"}, None, None)
    card = build_card(
        {"model": "oracle", "prompt": "plain", "temperature": 0.0, "seed": 0},
        data=None,
        prompt=PromptText("plain", None, "u"),
        environment=env,
    )
    card["published"] = published_comparison(
        ["refcocog/test/single-round"], {"overall": {"acc@0.5": 0.8}}
    )
    text = render_card_markdown(card)
    assert "not a git checkout" in text and "| model | oracle |" in text
    assert "| RegionReasoner-7B (Table 10) | acc@0.5 | 88.4 | 80.0 | -8.4 |" in text
    assert "Note: the paper reports" in text
