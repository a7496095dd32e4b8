"""The library entry point :func:`regionreasoner.evaluate`: the same run directory as the
``eval`` command, its defaults, interruption and resume, a caller's engine, the docs."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

import regionreasoner
from regionreasoner import EvalSettings, evaluate
from regionreasoner.backends.oracle import OracleBackend
from regionreasoner.cli.commands.eval import eval_settings
from regionreasoner.cli.main import build_parser, main
from regionreasoner.dialogue.engine import Engine, EngineSettings
from regionreasoner.errors import ConfigError, UserInputError

REPO = Path(__file__).resolve().parents[2]
TURNS = 47  # of the session's synth_bench


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


def _cli_then_library(bench: Path, out: Path, *argv: str) -> tuple[dict, dict]:
    """Run ``eval`` with ``argv``, keep its files, then :func:`evaluate` the settings the
    same flags parse to, into the same directory (``overwrite``), and keep those."""
    args = ["eval", "--data", str(bench), "--out", str(out), "--segmenter", "box-fill", *argv]
    assert main(args) == 0
    by_cli = _files(out)
    settings = eval_settings(build_parser().parse_args(args))
    result = evaluate(dataclasses.replace(settings, overwrite=True))
    assert result.out == out
    return by_cli, _files(out)


def test_evaluate_writes_byte_identical_predictions_and_metrics_to_the_cli(
    synth_bench: Path, tmp_path: Path
) -> None:
    """The replay backend records latency 0, so its whole run directory is comparable."""
    source = tmp_path / "source"
    assert main(["eval", "--data", str(synth_bench), "--model", "oracle:noise=150,seed=3",
                 "--segmenter", "box-fill", "--out", str(source)]) == 0  # fmt: skip
    replay = f"replay:{source / 'predictions.jsonl'}"
    by_cli, by_library = _cli_then_library(synth_bench, tmp_path / "run", "--model", replay)
    assert (
        set(by_cli)
        == set(by_library)
        == {
            "config.json",
            "predictions.jsonl",
            "metrics.json",
            "report.md",
            "report.html",
            "rounds.png",
            "card.json",
        }
    )
    assert by_library["predictions.jsonl"] == by_cli["predictions.jsonl"]
    assert by_library["card.json"] == by_cli["card.json"]
    assert len(by_cli["predictions.jsonl"].splitlines()) == TURNS
    assert by_library["metrics.json"] == by_cli["metrics.json"]
    metrics = json.loads(by_cli["metrics.json"])
    assert 0 < metrics["overall"]["acc@0.5"] < 1  # noisy boxes: hits and misses
    assert by_library["report.md"] == by_cli["report.md"]
    assert by_library["config.json"] == by_cli["config.json"]


def test_evaluate_matches_the_cli_except_the_measured_latency(
    synth_bench: Path, tmp_path: Path
) -> None:
    """The oracle's ``latency_s`` is a measured time (it differs run to run); every other
    byte of every row, and metrics.json, are the same."""
    argv = ("--model", "oracle", "--reference", "oracle", "--frame", "native", "--limit", "5")
    by_cli, by_library = _cli_then_library(synth_bench, tmp_path / "run", *argv)

    def without_latency(data: bytes) -> list[bytes]:
        return [re.sub(rb'"latency_s":[0-9.e-]+', b"", line) for line in data.splitlines()]

    assert b'"latency_s":' in by_cli["predictions.jsonl"]
    cli_rows, library_rows = (without_latency(f["predictions.jsonl"]) for f in (by_cli, by_library))
    assert library_rows == cli_rows and len(cli_rows) > 5
    assert by_library["metrics.json"] == by_cli["metrics.json"]


def test_the_cli_defaults_are_the_library_defaults(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["eval", "--data", "b.jsonl", "--out", str(tmp_path), "--model", "oracle"]
    )
    assert eval_settings(args) == EvalSettings(data="b.jsonl", out=tmp_path, model="oracle")


def test_settings_take_strings_and_reject_bad_values() -> None:
    settings = EvalSettings(data="b.jsonl", out="runs/x", model="oracle", images_root="img")
    assert settings.data == Path("b.jsonl") and settings.out == Path("runs/x")
    assert settings.images_root == Path("img")
    assert settings.predictions_path == Path("runs/x/predictions.jsonl")
    for bad, message in (
        ({"shard": (4, 4)}, "--shard"),
        ({"limit": 0}, "--limit"),
        ({"batch_size": 0}, "--batch-size"),
        ({"window": 0}, "--window"),
        ({"max_retries": -1}, "--max-retries"),
        ({"max_new_tokens": 0}, "--max-new-tokens"),
    ):
        with pytest.raises(ConfigError, match=message):
            EvalSettings(data="b.jsonl", out="o", model="oracle", **bad)


class _StopAfter:
    """An ``EvalProgress`` that interrupts the run after ``turns`` turns."""

    def __init__(self, turns: int | None = None) -> None:
        self.turns = turns
        self.calls: list[tuple[str, Any]] = []
        self.seen = 0

    def start(self, *, todo: int, done: int, predictions: Path) -> None:
        self.calls.append(("start", (todo, done, predictions.name)))

    def update(self, turns: int) -> None:
        self.seen += turns
        self.calls.append(("update", turns))
        if self.turns is not None and self.seen >= self.turns:
            raise KeyboardInterrupt

    def close(self) -> None:
        self.calls.append(("close", None))


class _CountingOracle(OracleBackend):
    closed = 0

    def close(self) -> None:
        type(self).closed += 1
        super().close()


def test_an_interrupted_call_leaves_a_run_that_resumes_to_the_same_metrics(
    synth_bench: Path, tmp_path: Path
) -> None:
    whole = evaluate(
        EvalSettings(data=synth_bench, out=tmp_path / "whole", model="oracle", segmenter="none")
    )
    settings = EvalSettings(
        data=synth_bench, out=tmp_path / "cut", model="oracle", segmenter="none", batch_size=4
    )
    progress = _StopAfter(turns=10)
    with pytest.raises(KeyboardInterrupt):
        evaluate(settings, progress)
    assert progress.calls[0] == ("start", (TURNS, 0, "predictions.jsonl"))
    assert progress.calls[-1] == ("close", None)  # closed on the way out
    assert 10 <= len(_rows(tmp_path / "cut")) < TURNS
    assert not (tmp_path / "cut" / "metrics.json").exists()

    with pytest.raises(UserInputError, match="--resume"):
        evaluate(settings)  # the directory holds a run: resume or overwrite
    resumed_progress = _StopAfter()
    resumed = evaluate(dataclasses.replace(settings, resume=True), resumed_progress)
    start = resumed_progress.calls[0]
    assert start[0] == "start" and start[1][0] + start[1][1] == TURNS
    assert resumed.resumed_turns == start[1][1] and resumed.stats.turns == start[1][0]
    keys = [(r["dialogue_id"], r["turn_index"]) for r in _rows(tmp_path / "cut")]
    assert len(keys) == len(set(keys)) == TURNS  # nothing lost, nothing done twice
    assert resumed.metrics is not None and whole.metrics is not None
    assert resumed.metrics["overall"] == whole.metrics["overall"]
    assert resumed.metrics["rounds"] == whole.metrics["rounds"]


def test_a_callers_engine_is_used_and_left_open(synth_bench: Path, tmp_path: Path) -> None:
    settings = EvalSettings(
        data=synth_bench, out=tmp_path / "run", model="oracle", segmenter="box-fill", limit=3
    )
    _CountingOracle.closed = 0
    engine = Engine.load(settings, backend=_CountingOracle())
    for _ in range(2):
        result = evaluate(dataclasses.replace(settings, overwrite=True), engine=engine)
        assert result.config["backend"] == "oracle" and result.stats.turns > 3
    assert _CountingOracle.closed == 0
    engine.close()
    assert _CountingOracle.closed == 1

    other = dataclasses.replace(settings, prompt="plain", overwrite=True)
    with pytest.raises(ValueError, match="prompt 'regionreasoner'"):
        evaluate(other, engine=Engine.load(settings, backend=_CountingOracle()))


def test_an_engine_the_call_loads_is_closed_even_when_the_run_fails(
    synth_bench: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _CountingOracle.closed = 0
    real_load = Engine.load
    monkeypatch.setattr(
        Engine,
        "load",
        classmethod(lambda cls, s, **kw: real_load(s, backend=_CountingOracle(), **kw)),
    )
    settings = EvalSettings(data=synth_bench, out=tmp_path / "run", model="oracle")
    with pytest.raises(KeyboardInterrupt):
        evaluate(dataclasses.replace(settings, segmenter="none"), _StopAfter(turns=1))
    assert _CountingOracle.closed == 1


def test_frame_auto_is_resolved_by_the_probe_when_the_engine_loads(
    synth_bench: Path, tmp_path: Path
) -> None:
    settings = EvalSettings(
        data=synth_bench, out=tmp_path / "run", model="oracle:frame=native", frame="auto",
        segmenter="none", limit=3,
    )  # fmt: skip
    with pytest.raises(ConfigError, match="frame probe"):
        settings.protocol_and_prompt()  # nothing to build before the probe has run
    engine = Engine.load(settings)
    assert engine.protocol.frame_name == "native"
    assert engine.frame_probe is not None and engine.frame_probe.verdict == "native"
    result = evaluate(settings, engine=engine)  # a caller's engine brings its frame
    engine.close()
    assert result.config["frame"] == "native"
    assert result.config["frame_probe"] == engine.frame_probe.to_dict(answers=False)
    assert {row["frame"] for row in _rows(tmp_path / "run")} == {"native"}


def test_an_unclear_probe_releases_the_backend_and_the_segmenter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from regionreasoner.segmenters.box_fill import BoxFillSegmenter

    closed: list[str] = []
    monkeypatch.setattr(BoxFillSegmenter, "close", lambda self: closed.append("segmenter"))
    _CountingOracle.closed = 0
    settings = EngineSettings(model="oracle", frame="auto", segmenter="box-fill")
    with pytest.raises(UserInputError, match="no clear winner for oracle"):
        Engine.load(settings, backend=_CountingOracle())  # answers in any frame it is asked
    assert _CountingOracle.closed == 1 and closed == ["segmenter"]


def test_frame_auto_is_refused_by_a_protocol_with_a_fixed_frame() -> None:
    with pytest.raises(ConfigError, match="always uses the square840 frame"):
        EngineSettings(model="oracle", protocol="official", frame="auto")


def test_reports_off_leaves_config_and_predictions_only(synth_bench: Path, tmp_path: Path) -> None:
    result = evaluate(
        EvalSettings(
            data=synth_bench, out=tmp_path / "run", model="oracle", segmenter="none", reports=False
        )
    )
    assert result.metrics is None and result.stats.turns == TURNS
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "config.json",
        "predictions.jsonl",
    ]
    assert main(["score", str(tmp_path / "run")]) == 0  # scored later, as a shard would be


def test_bad_input_changes_nothing_in_an_existing_run(synth_bench: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    evaluate(EvalSettings(data=synth_bench, out=out, model="oracle", segmenter="none", limit=2))
    before = _files(out)
    resume = EvalSettings(
        data=synth_bench, out=out, model="oracle:noise=2", segmenter="none", limit=2, resume=True
    )
    with pytest.raises(UserInputError, match="cannot resume: model"):
        evaluate(resume)
    with pytest.raises(UserInputError, match="file not found"):
        evaluate(dataclasses.replace(resume, data=tmp_path / "none.jsonl"))
    assert _files(out) == before


def test_engine_settings_are_what_serve_loads_too() -> None:
    from regionreasoner.serve.app import ServeConfig

    config = ServeConfig(model="oracle")
    assert isinstance(config, EngineSettings)
    assert (config.segmenter, config.max_retries) == ("box-fill", 0)
    engine = Engine.load(config)
    assert (engine.backend.name, engine.protocol.name, engine.prompt.name) == (
        "oracle",
        "paper",
        "regionreasoner",
    )
    engine.close()


def test_serve_gets_frame_auto_from_the_engine() -> None:
    from regionreasoner.serve.app import ServeConfig

    engine = Engine.load(ServeConfig(model="oracle:frame=rel1", frame="auto"))
    assert engine.protocol.frame_name == "rel1" and engine.frame_probe is not None
    engine.close()


def test_the_top_level_exports_are_the_engine_module_names() -> None:
    from regionreasoner.dialogue import engine

    assert regionreasoner.evaluate is engine.evaluate
    assert regionreasoner.EvalSettings is engine.EvalSettings


def _python_blocks(markdown: str, marker: str) -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", markdown, re.DOTALL)
    return [b for b in blocks if marker in b]


def test_the_docs_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/evaluation.md, 'From Python': the snippet as written, in a fresh folder."""
    text = (REPO / "docs" / "evaluation.md").read_text(encoding="utf-8")
    (snippet,) = _python_blocks(text, "from regionreasoner import EvalSettings, evaluate")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(compile(snippet, "docs/evaluation.md", "exec"), namespace)
    result = namespace["result"]
    assert result.metrics["overall"]["acc@0.5"] == 1.0  # the oracle
    assert (tmp_path / "runs" / "oracle" / "report.html").is_file()
    shutil.rmtree(tmp_path / "runs")
