"""Draw ``docs/images/frames.png``: one image, one box, its coordinates in every frame.

    python docs/make_frames_figure.py            # writes docs/images/frames.png

The numbers in the figure come from the frame registry itself
(:data:`regionreasoner.geometry.frames.FRAMES`), so the figure shows what ``eval
--frame`` does. The image is a synthetic scene of ``build synth`` at a non-square size.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle
from PIL import Image

from regionreasoner.data.builders.synth import synth_dialogue
from regionreasoner.geometry.frames import FRAMES
from regionreasoner.parsing.references import format_reference

IMAGE_WH = (1400, 1050)
"""The probe's landscape size: 4:3, above Qwen2.5-VL's pixel budget."""

SCENE_SEED = 0
SCENE_INDEX = 1
FRAME_ORDER = ("square840", "native", "image", "rel1000", "rel1")
OUT = Path(__file__).resolve().parent / "images" / "frames.png"


def _scene() -> tuple[Image.Image, tuple[float, ...], str]:
    dialogue, pixels = synth_dialogue(
        SCENE_INDEX, seed=SCENE_SEED, max_turns=2, image_wh=IMAGE_WH, relation_counts=Counter()
    )
    obj = max(dialogue.meta["objects"], key=lambda o: o["bbox"][0] + o["bbox"][1])
    return Image.fromarray(pixels), tuple(float(v) for v in obj["bbox"]), obj["expression"]


def _panel(ax, image: Image.Image, box, title: str, coords: str) -> None:
    ax.imshow(image)
    x1, y1, x2, y2 = box
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=2.5, ec="#d62728"))
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(coords, fontsize=9, family="monospace")
    ax.set_xticks([0, image.size[0]])
    ax.set_yticks([0, image.size[1]])
    ax.tick_params(labelsize=8)


def draw(out: Path = OUT) -> Path:
    """Draw the figure into ``out``."""
    image, gt, expression = _scene()
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.2), gridspec_kw={"width_ratios": [4, 3, 3]})
    rows = []
    for name in FRAME_ORDER:
        frame = FRAMES.get(name)(IMAGE_WH)
        written = format_reference(frame.to_model_xyxy([gt])[0], decimals=frame.decimals)
        shown = f"{frame.model_wh[0]}x{frame.model_wh[1]}"
        rows.append((name, shown, written.removeprefix("bbox=")))
    _panel(
        axes[0],
        image,
        gt,
        f'original {IMAGE_WH[0]}x{IMAGE_WH[1]}: "the {expression}"',
        "image / rel1000 / rel1 show this image",
    )
    square = FRAMES.get("square840")(IMAGE_WH)
    _panel(
        axes[1],
        image.resize(square.model_wh, Image.Resampling.BILINEAR),
        square.to_model_xyxy([gt])[0],
        "square840: shown 840x840 (aspect ignored)",
        "RegionReasoner's frame",
    )
    axes[2].axis("off")
    table = axes[2].table(
        cellText=[list(r) for r in rows],
        colLabels=["--frame", "image shown", "the same box, as written"],
        loc="center",
        cellLoc="left",
        colWidths=[0.22, 0.23, 0.55],
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1.0, 1.8)
    axes[2].set_title("one box in every frame", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="PNG to write")
    sys.stdout.write(f"{draw(parser.parse_args().out)}\n")


if __name__ == "__main__":
    main()
