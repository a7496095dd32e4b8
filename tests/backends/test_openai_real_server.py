"""The ``openai`` backend against a real OpenAI-compatible server: ``transformers serve``
hosting the bundled micro model on CPU, compared turn by turn with the ``hf`` backend.

``transformers serve`` applies a response parser to Qwen-family models: the ``<think>``
block arrives in ``reasoning_content`` and the text before it (``<scene>``) is dropped.
The run must say so (``text_lost``, null text metrics, a warning) instead of reporting
zeros, and the documented pass-through ``response_template`` must give back the whole
completion. The scripted fake server (``tests/fake_openai.py``) covers the failure modes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from real_server import PASS_THROUGH_RESPONSE_TEMPLATE, ServedModel, served_model

from regionreasoner.backends.base import GenerationRequest
from regionreasoner.backends.openai_compatible import OpenAICompatibleBackend
from regionreasoner.cli.main import main
from regionreasoner.parsing import extract_tag

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="session")
def transformers_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedModel]:
    """``transformers serve`` hosting the bundled micro model on 127.0.0.1 (a free port),
    started once per session and stopped with its whole process group.

    Needs the ``hf`` extra and ``transformers[serving]`` (the ``dev`` extra installs it);
    a missing serving dependency fails the tests with the server's own message.
    """
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from regionreasoner.assets import bundled_model_path

    model_dir = bundled_model_path()
    if model_dir is None:
        pytest.skip("this installation has no bundled micro model")
    log = tmp_path_factory.mktemp("transformers_serve") / "serve.log"
    with served_model(model_dir, log) as served:
        yield served


MAX_NEW_TOKENS = 96
"""Enough for every answer of the bundled model on these dialogues (30-70 tokens)."""

METRIC_TOLERANCE = 0.05
TEXT_METRICS = ("format_ok", "citation_rate", "hallucinated_citation_rate")


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    assert main(["build", "synth", "--out", str(out), "--dialogues", "4", "--seed", "0"]) == 0
    return out / "synth.jsonl"


def _eval(bench: Path, model: str, out: Path) -> int:
    return main(
        [
            "eval",
            "--data",
            str(bench),
            "--model",
            model,
            "--out",
            str(out),
            "--segmenter",
            "box-fill",
            "--max-new-tokens",
            str(MAX_NEW_TOKENS),
        ]
    )


def _run(out: Path) -> tuple[dict[tuple[str, int], dict[str, Any]], dict[str, Any]]:
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    metrics = json.loads((out / "metrics.json").read_text())
    return {(r["dialogue_id"], r["turn_index"]): r for r in rows}, metrics


@pytest.fixture(scope="module")
def hf_run(bench: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    from regionreasoner.assets import bundled_model_path

    model_dir = bundled_model_path()
    if model_dir is None:
        pytest.skip("this installation has no bundled micro model")
    out = tmp_path_factory.mktemp("hf") / "run"
    assert _eval(bench, f"hf:{model_dir}", out) == 0
    rows, metrics = _run(out)
    assert metrics["overall"]["format_ok"] > 0.5  # the model writes all four tags
    return rows, metrics


def _request(bench: Path) -> GenerationRequest:
    from PIL import Image

    record = json.loads(bench.read_text().splitlines()[0])
    image = Image.open(bench.parent / record["image"]).convert("RGB")
    return GenerationRequest(image, f"Find {record['turns'][0]['question']}.", max_new_tokens=24)


def test_the_request_body_is_accepted_and_the_fields_we_read_are_there(
    transformers_server: ServedModel, bench: Path
) -> None:
    backend = OpenAICompatibleBackend(transformers_server.base_url, transformers_server.model)
    body = backend.payload(_request(bench))
    backend.close()
    assert set(body) == {"model", "messages", "max_tokens", "temperature"}
    url = f"{transformers_server.base_url}/chat/completions"
    with httpx.Client(timeout=120) as client:
        reply = client.post(url, json=body)
        assert reply.status_code == 200, reply.text
        answer = reply.json()
        choice = answer["choices"][0]
        assert choice["finish_reason"] in ("stop", "length")
        assert isinstance(choice["message"]["content"], str)
        assert answer["usage"]["completion_tokens"] <= body["max_tokens"]
        # sampling with a seed: the fields the backend adds when --temperature > 0
        seeded = client.post(url, json={**body, "temperature": 0.7, "seed": 3})
        assert seeded.status_code == 200, seeded.text
        # chat_template_kwargs only reach the chat template: the parser still splits
        kwargs = {"chat_template_kwargs": {"enable_thinking": False}}
        same = client.post(url, json={**body, **kwargs})
        assert same.json()["choices"][0]["message"] == choice["message"]
        # other servers' switches are refused: the backend must not send them
        for extra in ("skip_special_tokens", "separate_reasoning", "include_reasoning"):
            refused = client.post(url, json={**body, extra: False})
            assert refused.status_code == 422 and extra in refused.text


def test_eval_through_the_server_matches_hf_or_says_what_the_server_dropped(
    transformers_server: ServedModel,
    bench: Path,
    hf_run: tuple[dict, dict],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hf_rows, hf_metrics = hf_run
    capsys.readouterr()
    assert _eval(bench, transformers_server.spec, tmp_path / "run") == 0
    err = capsys.readouterr().err
    rows, metrics = _run(tmp_path / "run")
    assert set(rows) == set(hf_rows)
    for key, row in rows.items():
        hf = hf_rows[key]
        assert row["pred_bboxes"] == hf["pred_bboxes"], key
        assert row["text_lost"] == "before_reasoning", key
        # what arrived is what the model wrote, back in its place
        for tag in ("think", "answer"):
            assert extract_tag(row["text"], tag) == extract_tag(hf["text"], tag), (key, tag)
        assert extract_tag(hf["text"], "scene")[0] and extract_tag(row["text"], "scene")[0] is None
    for key in ("acc@0.5", "gIoU", "cIoU"):
        assert abs(metrics["overall"][key] - hf_metrics["overall"][key]) <= METRIC_TOLERANCE
    for key in TEXT_METRICS:
        assert metrics["overall"][key] is None  # unavailable, not 0
        assert "the server dropped it" in metrics["unavailable"][key]
    assert "reported as null" in err and "text_lost=before_reasoning" in err
    assert "response_template" in err and "--reasoning-parser" in err


def test_a_pass_through_response_template_gives_back_the_whole_completion(
    bench: Path, hf_run: tuple[dict, dict], tmp_path: Path
) -> None:
    from regionreasoner.assets import bundled_model_path

    model_dir = tmp_path / "model"
    shutil.copytree(bundled_model_path(), model_dir)  # type: ignore[arg-type]
    config_path = model_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["response_template"] = PASS_THROUGH_RESPONSE_TEMPLATE
    config_path.write_text(json.dumps(config, indent=2))

    hf_rows, hf_metrics = hf_run
    with served_model(model_dir, tmp_path / "serve.log") as served:
        assert _eval(bench, served.spec, tmp_path / "run") == 0
    rows, metrics = _run(tmp_path / "run")
    assert {k: r["text"] for k, r in rows.items()} == {k: r["text"] for k, r in hf_rows.items()}
    assert all(r["text_lost"] is None for r in rows.values())
    assert metrics["unavailable"] == {} and metrics["overall"]["text_lost_turns"] == 0
    for key in ("acc@0.5", "gIoU", *TEXT_METRICS):
        assert abs(metrics["overall"][key] - hf_metrics["overall"][key]) <= METRIC_TOLERANCE
