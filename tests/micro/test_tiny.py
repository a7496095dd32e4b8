"""The tiny offline Qwen2.5-VL: loadable by the standard Auto classes, deterministic."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from regionreasoner.cli.main import main
from regionreasoner.micro.qwen import CHAT_TEMPLATE, SPECIAL_TOKENS
from regionreasoner.micro.tiny import build_tiny_model, build_tiny_tokenizer


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer(seed=0)


def test_tokenizer_special_tokens_are_single_ids(tokenizer) -> None:
    for token in SPECIAL_TOKENS:
        ids = tokenizer.encode(token, add_special_tokens=False)
        assert len(ids) == 1, token
    assert tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.pad_token == "<|endoftext|>"
    assert tokenizer.padding_side == "left"


@pytest.mark.parametrize(
    ("text", "expected_digit_tokens"),
    [
        ("840", ["8", "4", "0"]),  # a coordinate is one token per digit
        ("bbox=[12,345,6,7890]", ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"]),
    ],
)
def test_tokenizer_splits_numbers_into_single_digits(
    tokenizer, text: str, expected_digit_tokens: list[str]
) -> None:
    tokens = tokenizer.tokenize(text)
    assert [t for t in tokens if t.isdigit()] == expected_digit_tokens
    assert all(len(t) == 1 for t in tokens if any(c.isdigit() for c in t))


def test_tokenizer_round_trips_a_completion(tokenizer) -> None:
    text = '<think>near bbox=[1,2,3,4]</think>\n<answer>[{"bbox_2d": [5,6,7,8]}]</answer>'
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(ids) == text


def test_chat_template_renders_arrow_filled_image_parts_once(tokenizer) -> None:
    # Arrow gives every struct the union of keys, filling the missing ones with None.
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image", "text": None},
                {"type": "text", "text": "find it", "image": None},
            ],
        }
    ]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert prompt == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>find it<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    full = tokenizer.apply_chat_template(
        [*messages, {"role": "assistant", "content": "<answer>[]</answer>"}], tokenize=False
    )
    # TRL's prompt-completion SFT needs the prompt to be a prefix of the full rendering.
    assert full == prompt + "<answer>[]</answer><|im_end|>\n"


def test_chat_template_keeps_an_explicit_system_message(tokenizer) -> None:
    rendered = tokenizer.apply_chat_template(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}], tokenize=False
    )
    assert rendered == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
    assert "{%-" not in CHAT_TEMPLATE  # newlines must not depend on Jinja trim settings


@pytest.mark.slow
def test_build_tiny_model_loads_offline_through_auto_classes(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = AutoModelForImageTextToText.from_pretrained(tiny_dir)
    processor = AutoProcessor.from_pretrained(tiny_dir)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "x"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[text], images=[Image.new("RGB", (840, 840))], return_tensors="pt")
    # 840x840 is capped at 112x112 pixels -> 8x8 patches of 14 px -> 16 tokens after 2x2 merge.
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == 16
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert out.shape == (1, inputs["input_ids"].shape[1] + 8)


@pytest.mark.slow
def test_build_tiny_model_same_seed_gives_identical_files(tiny_dir: Path, tmp_path: Path) -> None:
    again = build_tiny_model(tmp_path / "again", seed=0)
    assert _digests(again) == _digests(tiny_dir)
    other = build_tiny_model(tmp_path / "other", seed=1)
    assert _digests(other)["model.safetensors"] != _digests(tiny_dir)["model.safetensors"]


@pytest.mark.slow
def test_make_tiny_model_cli_writes_a_loadable_folder(tmp_path: Path) -> None:
    out = tmp_path / "cli-model"
    assert main(["make-tiny-model", str(out), "--seed", "3"]) == 0
    names = set(os.listdir(out))
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= names
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no temp folder left


def test_make_tiny_model_cli_rejects_a_file_target(tmp_path: Path, capsys) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["make-tiny-model", str(target)]) == 2
    assert "not a folder" in capsys.readouterr().err
