"""SAM2 with a randomly initialised hiera-t saved locally: loading, prompts, one embedding
per image even when sessions interleave."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from regionreasoner.backends.oracle import OracleBackend
from regionreasoner.data.io import read_dialogues
from regionreasoner.dialogue.policy import get_reference_policy
from regionreasoner.dialogue.prompts import get_prompt
from regionreasoner.dialogue.protocols import get_protocol
from regionreasoner.dialogue.runner import DialogueRunner
from regionreasoner.errors import ConfigError
from regionreasoner.geometry.regions import Regions
from regionreasoner.segmenters import load_segmenter
from regionreasoner.segmenters.sam2 import SAM2Segmenter, parse_sam2_spec

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")

pytestmark = pytest.mark.slow

CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sam2.build_sam import build_sam2

    torch.manual_seed(0)
    model = build_sam2(CONFIG, ckpt_path=None, device="cpu")
    path = tmp_path_factory.mktemp("sam2") / "hiera_t_random.pt"
    torch.save({"model": model.state_dict()}, path)
    return path


@pytest.fixture
def segmenter(checkpoint: Path) -> SAM2Segmenter:
    loaded = load_segmenter(f"sam2:config={CONFIG},ckpt={checkpoint}", device="cpu")
    assert isinstance(loaded, SAM2Segmenter)
    calls: list[tuple[int, ...]] = []
    real = loaded.predictor.set_image

    def counting_set_image(image):  # type: ignore[no-untyped-def]
        calls.append(np.asarray(image).shape)
        return real(image)

    loaded.predictor.set_image = counting_set_image
    loaded.counted = calls  # type: ignore[attr-defined]
    return loaded


def _image(seed: int, wh: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (wh[1], wh[0], 3), dtype=np.uint8))


REGIONS = Regions(
    np.array([[4.0, 4.0, 30.0, 20.0], [20.0, 10.0, 60.0, 40.0]]),
    np.array([[10.0, 10.0], [np.nan, np.nan]]),
)


def test_interleaved_sessions_embed_once_and_restore_their_image(segmenter) -> None:
    first = segmenter.open(_image(0, (64, 48)), image_wh=(64, 48))
    mask_before = first.segment(REGIONS)
    second = segmenter.open(_image(1, (64, 48)), image_wh=(64, 48))
    other = second.segment(REGIONS)
    mask_after = first.segment(REGIONS)  # first's embedding is put back, not recomputed
    assert segmenter.counted == [(48, 64, 3), (48, 64, 3)] and segmenter.set_image_calls == 2
    assert mask_before.shape == (48, 64)
    assert not np.array_equal(other, mask_before)  # the image matters for the same prompt...
    assert np.array_equal(mask_before, mask_after)  # ...so this shows the state was restored
    single = first.segment(Regions(REGIONS.xyxy[:1], REGIONS.points[:1]))
    assert np.all(mask_before[single])  # the union contains each object's mask
    assert not first.segment(Regions.empty()).any()
    first.close()
    second.close()


def test_runner_calls_set_image_once_per_image(segmenter, tmp_path: Path) -> None:
    root = tmp_path / "bench"
    (root / "images").mkdir(parents=True)
    turns = [
        {
            "turn_index": t,
            "question": "x" if t == 0 else "y near {ref}",
            "refers_to": None if t == 0 else t - 1,
            "relation": None,
            "targets": [{"bbox": [4 + t, 4, 40, 30]}],
        }
        for t in range(3)
    ]
    with open(root / "bench.jsonl", "w") as handle:
        for d in range(2):
            _image(d, (64, 48)).save(root / "images" / f"{d}.png")
            handle.write(
                json.dumps({"dialogue_id": f"d{d}", "image": f"images/{d}.png", "turns": turns})
                + "\n"
            )
    runner = DialogueRunner(
        OracleBackend(),
        segmenter,
        get_protocol("paper"),
        get_reference_policy("predicted"),
        get_prompt("regionreasoner"),
        data_path=root / "bench.jsonl",
        batch_size=2,
    )
    rows: list[dict] = []
    runner.run(read_dialogues(root / "bench.jsonl"), emit=rows.append)
    assert len(rows) == 6 and all(r["mask"]["size"] == [48, 64] for r in rows)
    assert len(segmenter.counted) == 2 and segmenter.set_image_calls == 2


def test_sam2_spec_parsing_and_missing_checkpoint(tmp_path: Path) -> None:
    assert parse_sam2_spec("facebook/sam2-hiera-tiny") == {"model_id": "facebook/sam2-hiera-tiny"}
    with pytest.raises(ConfigError, match="both"):
        parse_sam2_spec(f"config={CONFIG}")
    with pytest.raises(ConfigError, match="not found"):
        load_segmenter(f"sam2:config={CONFIG},ckpt={tmp_path / 'none.pt'}", device="cpu")
