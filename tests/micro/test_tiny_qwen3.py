"""The tiny offline Qwen3-VL (``make-tiny-model --family qwen3-vl``): the pinned
transformers' Qwen3-VL classes, offline through the Auto classes, deterministic, and
batched by the ``hf`` backend with left padding."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from regionreasoner.backends import BackendOptions, load_backend  # noqa: E402
from regionreasoner.backends.base import GenerationRequest  # noqa: E402
from regionreasoner.geometry.frames import QWEN3_VL_RESIZE  # noqa: E402
from regionreasoner.micro.tiny import (  # noqa: E402
    TINY_FAMILIES,
    TINY_QWEN3_MAX_PIXELS,
    TINY_QWEN3_MIN_PIXELS,
    build_tiny_model,
)

pytestmark = pytest.mark.slow


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def tiny_qwen3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("q3") / "model", seed=0, family="qwen3-vl")


def test_families_are_registered():
    assert TINY_FAMILIES.names() == ["qwen2.5-vl", "qwen3-vl"]


def test_loads_offline_as_qwen3_vl(tiny_qwen3: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = AutoModelForImageTextToText.from_pretrained(tiny_qwen3)
    processor = AutoProcessor.from_pretrained(tiny_qwen3)
    assert type(model).__name__ == "Qwen3VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen3VLProcessor"
    assert sum(p.numel() for p in model.parameters()) < 1_000_000  # the 1k vocabulary
    image_processor = processor.image_processor
    assert (image_processor.patch_size, image_processor.merge_size) == (
        QWEN3_VL_RESIZE.patch_size,
        QWEN3_VL_RESIZE.merge_size,
    )
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "x"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[text], images=[Image.new("RGB", (840, 840))], return_tensors="pt")
    # 840x840 is capped at 128x128 pixels -> 8x8 patches of 16 px -> 16 tokens after merging
    assert TINY_QWEN3_MIN_PIXELS <= 128 * 128 <= TINY_QWEN3_MAX_PIXELS
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == 16
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out.shape == (1, inputs["input_ids"].shape[1] + 4)


def test_same_seed_gives_identical_files(tiny_qwen3: Path, tmp_path: Path) -> None:
    again = build_tiny_model(tmp_path / "again", seed=0, family="qwen3-vl")
    assert _digests(again) == _digests(tiny_qwen3)
    qwen25 = build_tiny_model(tmp_path / "q25", seed=0)
    assert _digests(qwen25)["config.json"] != _digests(tiny_qwen3)["config.json"]


def test_hf_backend_batches_qwen3_vl_like_one_by_one(tiny_qwen3: Path) -> None:
    backend = load_backend(f"hf:{tiny_qwen3}", BackendOptions(device="cpu", dtype="float32"))
    # large random weights make the output depend on the prompt and the image
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in backend.model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    rng = np.random.default_rng(1)
    sizes = [(840, 840), (640, 480), (480, 640)]  # different visual token counts
    requests = [
        GenerationRequest(
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)),
            "find the object" + " next to the other one" * i,
            max_new_tokens=10,
        )
        for i, (w, h) in enumerate(sizes)
    ]
    batched = backend.generate(requests)
    singles = [backend.generate([r])[0] for r in requests]
    assert [g.text for g in batched] == [g.text for g in singles]
    assert len({g.text for g in batched}) == 3
    described = backend.describe()
    assert described["model_type"] == "qwen3_vl"
    assert described["image_resize"] == {
        "patch_size": 16,
        "merge_size": 2,
        "min_pixels": TINY_QWEN3_MIN_PIXELS,
        "max_pixels": TINY_QWEN3_MAX_PIXELS,
    }
    backend.close()
