"""The transformers backend with the tiny offline Qwen2.5-VL (CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from regionreasoner.backends import BackendOptions, load_backend
from regionreasoner.backends.base import GenerationRequest
from regionreasoner.backends.hf import TransformersBackend
from regionreasoner.errors import ConfigError
from regionreasoner.micro.tiny import SYSTEM_PROMPT_DEFAULT, build_tiny_model

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="module")
def backend(tiny_model: Path) -> TransformersBackend:
    loaded = load_backend(f"hf:{tiny_model}", BackendOptions(device="cpu", dtype="float32"))
    assert isinstance(loaded, TransformersBackend)
    # Random weights of the default scale emit the same token whatever the input; large
    # ones make the output depend on the prompt, so batching mistakes become visible.
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in loaded.model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return loaded


def _requests(n: int, max_new_tokens: int = 12) -> list[GenerationRequest]:
    rng = np.random.default_rng(1)
    return [
        GenerationRequest(
            Image.fromarray(rng.integers(0, 255, (840, 840, 3), dtype=np.uint8)),
            "find the object" + " next to the other one" * i,  # prompts of different lengths
            max_new_tokens=max_new_tokens,
        )
        for i in range(n)
    ]


def test_batch_equals_one_by_one_with_left_padding(backend: TransformersBackend) -> None:
    requests = _requests(3)
    batched = backend.generate(requests)
    singles = [backend.generate([r])[0] for r in requests]
    assert [g.text for g in batched] == [g.text for g in singles]
    assert len({g.text for g in batched}) == 3  # outputs depend on the prompt
    assert all(not g.failed and g.latency_s > 0 for g in batched)
    assert backend.processor.tokenizer.padding_side == "left"


def test_system_message_is_sent_in_the_system_turn(
    backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prompt the processor renders (its own chat template) holds the request's
    system message as the system turn, replacing the template's default one."""
    rendered: list[str] = []
    render = backend.processor.apply_chat_template

    def spy(*args: object, **kwargs: object) -> str:
        text = render(*args, **kwargs)
        rendered.append(text)
        return text

    monkeypatch.setattr(backend.processor, "apply_chat_template", spy)
    (request,) = _requests(1)
    plain = backend.generate([request])[0].text
    system = GenerationRequest(
        request.image, request.user_text, system="Answer in JSON.", max_new_tokens=12
    )
    with_system = backend.generate([system])[0].text
    assert len(rendered) == 2
    default_turn = f"<|im_start|>system\n{SYSTEM_PROMPT_DEFAULT}<|im_end|>\n"
    assert rendered[0].startswith(default_turn + "<|im_start|>user\n")
    assert rendered[1].startswith(
        "<|im_start|>system\nAnswer in JSON.<|im_end|>\n<|im_start|>user\n"
    )
    assert SYSTEM_PROMPT_DEFAULT not in rendered[1]
    assert rendered[1].count("Answer in JSON.") == 1
    assert plain != with_system  # and the model sees the difference


def test_mixed_budgets_are_generated_per_group(backend: TransformersBackend) -> None:
    short, long = _requests(1, max_new_tokens=2)[0], _requests(1, max_new_tokens=12)[0]
    out = backend.generate([long, short])
    assert len(out) == 2
    assert len(out[1].text) < len(out[0].text)


def test_describe_and_errors(backend: TransformersBackend, tmp_path: Path) -> None:
    described = backend.describe()
    assert described["dtype"] == "float32" and described["device"] == "cpu"
    assert described["model_class"] == "Qwen2_5_VLForConditionalGeneration"
    with pytest.raises(ConfigError, match="cannot load"):
        load_backend(f"hf:{tmp_path / 'nothing'}", BackendOptions(device="cpu"))
    with pytest.raises(ConfigError, match="dtype"):
        load_backend(f"hf:{tmp_path}", BackendOptions(dtype="float8"))
    with pytest.raises(ConfigError, match="hf:<path"):
        load_backend("hf:")


def test_eval_runs_end_to_end_with_the_tiny_model(
    tiny_model: Path, synth_bench: Path, tmp_path: Path
) -> None:

    import json

    from regionreasoner.cli.main import main

    out = tmp_path / "run"
    code = main(
        [
            "eval",
            "--data",
            str(synth_bench),
            "--model",
            f"hf:{tiny_model}",
            "--out",
            str(out),
            "--segmenter",
            "box-fill",
            "--limit",
            "4",
            "--batch-size",
            "4",
            "--max-new-tokens",
            "8",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 20 and not any(r["failed"] for r in rows)
    assert all(r["parse_issues"] and r["pred_bboxes"] == [] for r in rows)  # random weights
    config = json.loads((out / "config.json").read_text())
    assert config["backend"] == "hf" and config["backend_settings"]["device"] == "cpu"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["overall"]["turns"] == 20 and metrics["overall"]["acc@0.5"] == 0.0
