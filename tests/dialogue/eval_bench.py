"""Builder of a tiny RegionDial benchmark with real images (shared by the engine tests)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from regionreasoner.geometry.rle import encode_rle

IMAGE_SIZES = ((640, 480), (500, 375), (320, 240))


def make_bench(root: Path, *, dialogues: int = 6, seed: int = 0, masks: bool = True) -> Path:
    """Write ``bench.jsonl`` + JPEG images; turn k > 0 cites turn k - 1; ellipse masks."""
    rng = random.Random(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    with open(root / "bench.jsonl", "w", encoding="utf-8") as handle:
        for d in range(dialogues):
            width, height = IMAGE_SIZES[d % len(IMAGE_SIZES)]
            image = Image.new("RGB", (width, height), (rng.randrange(256),) * 3)
            draw = ImageDraw.Draw(image)
            turns = []
            for t in range(2 + d % 3):
                w, h = rng.randint(width // 6, width // 3), rng.randint(height // 6, height // 3)
                x1, y1 = rng.randint(0, width - w), rng.randint(0, height - h)
                box = [x1, y1, x1 + w, y1 + h]
                draw.ellipse(box, fill=(rng.randrange(256), 40, 40))
                target: dict = {"bbox": box}
                if masks:
                    mask = Image.new("L", (width, height), 0)
                    ImageDraw.Draw(mask).ellipse(box, fill=1)
                    target["mask"] = encode_rle(np.array(mask, dtype=bool))
                turns.append(
                    {
                        "turn_index": t,
                        "question": "the red blob" if t == 0 else "the blob next to {ref}",
                        "refers_to": None if t == 0 else t - 1,
                        "relation": None if t == 0 else "next_to",
                        "targets": [target],
                    }
                )
            image.save(root / "images" / f"{d}.jpg")
            record = {
                "schema_version": 1,
                "dialogue_id": f"d{d}",
                "image": f"images/{d}.jpg",
                "image_wh": [width, height],
                "source": "synth",
                "turns": turns,
            }
            handle.write(json.dumps(record) + "\n")
    return root / "bench.jsonl"
