"""The run directory: file names, config.json, the checks before a run and a resume,
shard settings, metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from regionreasoner.errors import DataFormatError, UserInputError
from regionreasoner.evaluation import run_dir
from regionreasoner.evaluation.run_dir import (
    RESUME_KEYS,
    RunSettings,
    check_resume_compatible,
    merge_settings,
    prepare_run_dir,
    read_config,
    read_metrics,
    require_run_dir,
    write_config,
)


def test_the_file_names_are_the_design_contract() -> None:
    assert run_dir.RUN_FILES == (
        "config.json",
        "predictions.jsonl",
        "metrics.json",
        "report.md",
        "report.html",
        "rounds.png",
        "card.json",
    )
    assert set(run_dir.REPORT_FILES) == set(run_dir.RUN_FILES) - {
        "config.json",
        "predictions.jsonl",
    }


def test_prepare_run_dir_refuses_non_empty_without_flags(tmp_path: Path) -> None:
    out = tmp_path / "run"
    prepare_run_dir(out, resume=False, overwrite=False)  # creates it
    (out / "predictions.jsonl").write_text('{"dialogue_id": "a", "turn_index": 0}\n')
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserInputError, match="--resume"):
        prepare_run_dir(out, resume=False, overwrite=False)
    prepare_run_dir(out, resume=True, overwrite=False)  # allowed
    prepare_run_dir(out, resume=False, overwrite=True)
    assert not (out / "predictions.jsonl").exists()
    assert (out / "notes.txt").read_text() == "mine"  # only eval's own files are removed
    with pytest.raises(UserInputError, match="exclude"):
        prepare_run_dir(out, resume=True, overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserInputError, match="not a directory"):
        prepare_run_dir(tmp_path / "file", resume=False, overwrite=False)


def test_config_round_trip_and_errors(tmp_path: Path) -> None:
    assert read_config(tmp_path) is None
    write_config(tmp_path, {"model": "oracle", "path": tmp_path})  # default=str for paths
    assert read_config(tmp_path) == {"model": "oracle", "path": str(tmp_path)}
    assert (tmp_path / "config.json").read_text().endswith("}\n")
    (tmp_path / "config.json").write_text("[1]")
    with pytest.raises(DataFormatError, match="JSON object"):
        read_config(tmp_path)
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(DataFormatError, match="invalid JSON") as info:
        read_config(tmp_path)
    assert info.value.path == str(tmp_path / "config.json")


def test_require_run_dir_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="not a directory"):
        require_run_dir(tmp_path / "none")
    with pytest.raises(UserInputError, match=r"no predictions\.jsonl"):
        require_run_dir(tmp_path)
    (tmp_path / "predictions.jsonl").write_text("")
    with pytest.raises(UserInputError, match=r"no config\.json"):
        require_run_dir(tmp_path)
    write_config(tmp_path, {"protocol": "paper"})
    assert require_run_dir(tmp_path) == {"protocol": "paper"}


# Every setting that changes a run's outputs, with the value it had and another value.
# Written out here (not read from RESUME_KEYS) so that dropping a key from the check fails.
OUTPUT_SETTINGS = {
    "data": ("/runs/bench.jsonl", "/runs/other.jsonl"),
    "model": ("hf:/models/rr-7b", "hf:/models/rr-3b"),
    "protocol": ("paper", "official"),
    "reference_policy": ("predicted", "oracle"),
    "prompt": ("regionreasoner", "visionreasoner"),
    "frame": ("square840", "native"),
    "segmenter": ("sam2", "box-fill"),
    "shard": ("0/4", "1/4"),
    "max_new_tokens": (1024, 512),
    "temperature": (0.0, 0.7),
    "seed": (0, 1),
    "limit": (None, 10),
}
THROUGHPUT_SETTINGS = {"batch_size": (8, 16), "concurrency": (4, 32), "window": (256, 64)}


def _config(**changed: object) -> dict[str, object]:
    base = {key: old for key, (old, _) in {**OUTPUT_SETTINGS, **THROUGHPUT_SETTINGS}.items()}
    return {**base, **changed}


@pytest.mark.parametrize("key", list(OUTPUT_SETTINGS))
def test_resume_refuses_each_setting_that_changes_the_outputs(key: str) -> None:
    old, new = OUTPUT_SETTINGS[key]
    with pytest.raises(UserInputError) as caught:
        check_resume_compatible(_config(), _config(**{key: new}))
    message = str(caught.value)
    assert message.startswith(f"cannot resume: {key} was {old!r}")
    assert f"now {new!r}" in message


def test_resume_compares_exactly_the_output_settings() -> None:
    assert set(RESUME_KEYS) == set(OUTPUT_SETTINGS)


@pytest.mark.parametrize("key", list(THROUGHPUT_SETTINGS))
def test_resume_accepts_other_throughput_settings(key: str) -> None:
    check_resume_compatible(_config(), _config(**{key: THROUGHPUT_SETTINGS[key][1]}))


def test_shards_merge_only_when_their_output_settings_agree() -> None:
    a = RunSettings(protocol="paper", model="oracle", shard="0/2")
    b = RunSettings(protocol="paper", model="oracle", shard="1/2")
    assert merge_settings([a, b], [Path("s0"), Path("s1")]) is a
    other = RunSettings(protocol="official", model="oracle", shard="1/2")
    with pytest.raises(UserInputError, match="differ in 'protocol'"):
        merge_settings([a, other], [Path("s0"), Path("s1")])


def test_missing_or_broken_metrics(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"metrics\.json: not found"):
        read_metrics(tmp_path)
    (tmp_path / "metrics.json").write_text("{", encoding="utf-8")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        read_metrics(tmp_path)
    for text in ('{"overall": {}}', "[]"):
        (tmp_path / "metrics.json").write_text(text, encoding="utf-8")
        with pytest.raises(DataFormatError, match="rounds"):
            read_metrics(tmp_path)
    (tmp_path / "metrics.json").write_text(json.dumps({"rounds": {}}), encoding="utf-8")
    assert read_metrics(tmp_path) == {"rounds": {}}


HF_CHECKPOINT_MODULES = {
    # a Hugging Face model folder also has a config.json (the model's, not a run's)
    "regionreasoner.assets",
    "regionreasoner.micro.model",
    "regionreasoner.integrations.train",
    "regionreasoner.cli.commands.micro",
    "regionreasoner.evaluation.card",  # hashes the evaluated checkpoint's config.json
}


def test_the_run_file_names_are_spelled_in_one_module() -> None:
    """No module but run_dir writes a run file's name as a string of its own."""
    import ast

    src = Path(run_dir.__file__).resolve().parents[2]
    found = []
    for path in sorted((src / "regionreasoner").rglob("*.py")):
        module = ".".join(path.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        if module == run_dir.__name__:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in run_dir.RUN_FILES:
                if node.value == "config.json" and module in HF_CHECKPOINT_MODULES:
                    continue
                found.append(f"{module}:{node.lineno} {node.value}")
    assert found == []
