"""A procedural RegionDial benchmark that needs nothing from outside.

Each dialogue gets its own image: a pale background (six tones, four patterns) with
3 to 9 flat shapes (six shapes, seven colours, three textures) placed so that the
relations of :mod:`regionreasoner.data.relations` all occur: free placements (left,
right, above, below, next to, closest, farthest), shapes touching another, shapes
overlapping another (drawn on top of it) and small shapes inside a large one. Shapes
often share their shape, colour or both with another object ("distractors of the same
kind"), so expressions need size, texture or position words.

Masks are exact: the image is painted from the same masks that are stored, and an
object's mask is the part left visible by the objects drawn above it (its box is the
box of that visible part, as in COCO). Every object has a referring expression that is
unique in its image ("the small striped red triangle", "the leftmost blue circle").
Dialogues are planned with :func:`~regionreasoner.data.builders.chain.plan_dialogue`
(the same relation rules as RefCOCO) and every turn carries captions: ``"scene"`` (a
global caption) and, on turns with a reference, ``"focus"`` (what the referenced region
shows, never naming the turn's own target).

The scenes (placement, exact masks, painting) are :mod:`regionreasoner.data.builders.synth_scene`;
this module turns them into dialogues and writes the benchmark.

Output: ``DIR/synth.jsonl`` plus ``DIR/images/000000.png``, ...; a pure function of
the seed (one ``random.Random(f"synth:{seed}:{i}")`` per dialogue).
"""

from __future__ import annotations

import logging
import os
import random
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from regionreasoner.data.builders import BuildResult, Progress, no_progress
from regionreasoner.data.builders.chain import plan_dialogue
from regionreasoner.data.builders.stats import compute_stats
from regionreasoner.data.builders.synth_scene import (
    EXTRA_OBJECTS,
    HOST_PROB,
    MAX_OBJECTS,
    MIN_IMAGE_SIDE,
    Scene,
    rasterize_shape,
    render_scene,
    scene_objects,
)
from regionreasoner.data.builders.templates import (
    SYNTH_BACKGROUND_PATTERNS,
    SYNTH_BACKGROUNDS,
    focus_caption,
    scene_caption,
)
from regionreasoner.data.io import write_dialogues
from regionreasoner.data.relations import is_inside
from regionreasoner.data.schema import Dialogue, Target, Turn
from regionreasoner.errors import UserInputError
from regionreasoner.geometry.rle import encode_rle

logger = logging.getLogger(__name__)

SYNTH_FILE_NAME = "synth.jsonl"
"""Name of the dialogue file inside the output folder."""

IMAGES_DIR = "images"
"""Image folder inside the output folder (``images/000000.png``)."""

DEFAULT_IMAGE_WH = (224, 224)
"""Default image size: 8x8 Qwen2.5-VL patches of 28 px after merging."""

DEFAULT_DIALOGUES = 50
DEFAULT_MAX_TURNS = 7
TURN_WEIGHTS = {2: 30, 3: 20, 4: 15, 5: 12, 6: 10, 7: 13}
"""Relative frequency of each dialogue length (longer ones weigh 8)."""


def _turn_count(rng: random.Random, max_turns: int) -> int:
    lengths = list(range(2, max_turns + 1))
    weights = [TURN_WEIGHTS.get(n, 8) for n in lengths]
    return rng.choices(lengths, weights=weights)[0]


def synth_dialogue(
    index: int,
    *,
    seed: int,
    max_turns: int,
    image_wh: tuple[int, int],
    relation_counts: Counter[str],
) -> tuple[Dialogue, npt.NDArray[np.uint8]]:
    """One synthetic dialogue and its ``(H, W, 3)`` image.

    Args:
        index: position in the build (names the image ``images/{index:06d}.png``).
        seed: build seed.
        max_turns: longest dialogue.
        image_wh: image size.
        relation_counts: relation counter shared over the build (updated in place).
    """
    rng = random.Random(f"synth:{seed}:{index}")
    n_turns = _turn_count(rng, max_turns)
    n_objects = min(n_turns + rng.randint(*EXTRA_OBJECTS), MAX_OBJECTS)
    scene = Scene(rng, image_wh)
    if rng.random() < HOST_PROB:
        scene.add(host=True)
    while len(scene.shapes) < n_objects:
        if not scene.add():
            break
    scene.assign_expressions()
    background = rng.choice(list(SYNTH_BACKGROUNDS))
    pattern = rng.choice(SYNTH_BACKGROUND_PATTERNS)
    image = render_scene(scene, background, pattern, np.random.default_rng(rng.getrandbits(64)))
    objects = scene_objects(scene)
    plan = plan_dialogue(
        objects, n_turns=min(n_turns, len(objects)), rng=rng, relation_counts=relation_counts
    )
    by_key = {s.key: s for s in scene.shapes}
    ordered = sorted(scene.shapes, key=lambda s: (s.center[0], s.center[1]))
    scene_text = scene_caption([scene.caption_description(s) for s in ordered], background, pattern)
    turns = []
    for turn_index, planned in enumerate(plan):
        obj = by_key[planned.target]
        captions = {"scene": scene_text}
        if planned.refers_to is not None:
            ref = by_key[plan[planned.refers_to].target]
            inner = [
                scene.caption_description(s)
                for s in scene.shapes
                if s.key not in (ref.key, obj.key) and is_inside(s.xyxy, ref.xyxy)
            ]
            captions["focus"] = focus_caption(scene.caption_description(ref), inner)
        target = Target(
            bbox=obj.xyxy, mask=encode_rle(obj.visible), ann_id=obj.key, category=obj.shape
        )
        turns.append(
            Turn(
                turn_index,
                planned.question,
                (target,),
                refers_to=planned.refers_to,
                relation=planned.relation,
                captions=captions,
            )
        )
    meta: dict[str, Any] = {
        "seed": seed,
        "background": f"{pattern} {background}",
        "objects": [
            {
                "ann_id": s.key,
                "bbox": [int(v) for v in s.xyxy],
                "category": s.shape,
                "colour": s.colour,
                "texture": s.texture,
                "side": round(s.side, 2),
                "center": [round(c, 2) for c in s.center],
                "expression": s.expression,
            }
            for s in scene.shapes
        ],
    }
    dialogue = Dialogue(
        dialogue_id=f"synth-{index:06d}",
        image=f"{IMAGES_DIR}/{index:06d}.png",
        turns=tuple(turns),
        image_wh=image_wh,
        source="synth",
        meta=meta,
    )
    return dialogue, image


_OWN_IMAGE = re.compile(r"^\d{6}\.png$")


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UserInputError(f"{out_dir} exists and is not a folder")
    if out_dir.is_dir():
        others = sorted(p.name for p in out_dir.glob("*.jsonl") if p.name != SYNTH_FILE_NAME)
        if others:
            raise UserInputError(
                f"{out_dir} already holds other JSONL files ({', '.join(others)}); a synth "
                f"build must be the only .jsonl in its folder: choose an empty folder"
            )
    (out_dir / IMAGES_DIR).mkdir(parents=True, exist_ok=True)


def parse_image_size(value: str | int | Sequence[int]) -> tuple[int, int]:
    """``224`` / ``"224"`` / ``"160x120"`` / ``(160, 120)`` -> ``(W, H)``.

    Raises:
        UserInputError: unparsable, or a side below :data:`MIN_IMAGE_SIDE`.
    """
    if isinstance(value, int):
        wh = (value, value)
    elif isinstance(value, str):
        parts = value.lower().split("x")
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            raise UserInputError(
                f"image size must look like 224 or 160x120, got {value!r}"
            ) from None
        if len(nums) not in (1, 2):
            raise UserInputError(f"image size must look like 224 or 160x120, got {value!r}")
        wh = (nums[0], nums[-1])
    else:
        wh = (int(value[0]), int(value[1]))
    if min(wh) < MIN_IMAGE_SIDE:
        raise UserInputError(f"image size {wh[0]}x{wh[1]} is too small (min side {MIN_IMAGE_SIDE})")
    return wh


def build_synth_benchmark(
    out_dir: str | os.PathLike[str],
    n_dialogues: int = DEFAULT_DIALOGUES,
    seed: int = 0,
    *,
    max_turns: int = DEFAULT_MAX_TURNS,
    image_size: str | int | Sequence[int] = DEFAULT_IMAGE_WH,
    progress: Progress = no_progress,
) -> BuildResult:
    """Build the synthetic benchmark into ``out_dir`` and return its statistics.

    Args:
        out_dir: output folder (created); must not hold other ``.jsonl`` files.
        n_dialogues: number of dialogues (one image each).
        seed: seed of every random choice; same seed, same bytes.
        max_turns: longest dialogue (>= 2).
        image_size: ``(W, H)``, an int, or ``"WxH"``.
        progress: wraps the loop over dialogues.

    Raises:
        UserInputError: bad arguments or an output folder holding other JSONL files.
    """
    if n_dialogues < 1:
        raise UserInputError(f"--dialogues must be at least 1, got {n_dialogues}")
    if max_turns < 2:
        raise UserInputError(f"--max-turns must be at least 2, got {max_turns}")
    image_wh = parse_image_size(image_size)
    out = Path(out_dir)
    _prepare_out_dir(out)
    relation_counts: Counter[str] = Counter()
    dialogues = []
    written = set()
    for index in progress(range(n_dialogues), n_dialogues):
        dialogue, image = synth_dialogue(
            index,
            seed=seed,
            max_turns=max_turns,
            image_wh=image_wh,
            relation_counts=relation_counts,
        )
        image_path = out / dialogue.image
        Image.fromarray(image).save(image_path, format="PNG")
        written.add(image_path.name)
        dialogues.append(dialogue)
    for stale in (out / IMAGES_DIR).iterdir():
        if _OWN_IMAGE.match(stale.name) and stale.name not in written:
            stale.unlink()
    path = out / SYNTH_FILE_NAME
    write_dialogues(path, dialogues)
    stats = compute_stats(dialogues)
    logger.debug(
        "wrote %d synthetic dialogues (%d turns) to %s", stats.dialogues, stats.turns, path
    )
    return BuildResult(path, stats, {})


def build_synth(
    out_dir: str | os.PathLike[str],
    n_dialogues: int = DEFAULT_DIALOGUES,
    seed: int = 0,
    *,
    max_turns: int = DEFAULT_MAX_TURNS,
    image_size: str | int | Sequence[int] = DEFAULT_IMAGE_WH,
    progress: Progress = no_progress,
) -> Path:
    """Build the synthetic benchmark; returns the path of ``synth.jsonl``.

    Same arguments as :func:`build_synth_benchmark`.

    Example:
        >>> import tempfile
        >>> path = build_synth(tempfile.mkdtemp(), n_dialogues=2, seed=0, image_size=(160, 120))
        >>> path.name
        'synth.jsonl'
    """
    return build_synth_benchmark(
        out_dir, n_dialogues, seed, max_turns=max_turns, image_size=image_size, progress=progress
    ).path


__all__ = [
    "DEFAULT_IMAGE_WH",
    "IMAGES_DIR",
    "SYNTH_FILE_NAME",
    "build_synth",
    "build_synth_benchmark",
    "parse_image_size",
    "rasterize_shape",
    "synth_dialogue",
]
