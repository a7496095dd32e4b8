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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from regionreasoner.data.builders import BuildResult, Progress, no_progress
from regionreasoner.data.builders.chain import NounPhrase, SceneObject, plan_dialogue
from regionreasoner.data.builders.stats import compute_stats
from regionreasoner.data.builders.templates import (
    POSITION_WORDS,
    SYNTH_ACCENTS,
    SYNTH_BACKGROUND_PATTERNS,
    SYNTH_BACKGROUNDS,
    SYNTH_COLOURS,
    SYNTH_SHAPES,
    describe_object,
    focus_caption,
    scene_caption,
)
from regionreasoner.data.io import write_dialogues
from regionreasoner.data.relations import is_inside
from regionreasoner.data.schema import Dialogue, Target, Turn
from regionreasoner.errors import UserInputError
from regionreasoner.geometry.masks import mask_to_xyxy
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
MIN_IMAGE_SIDE = 64
"""Smallest accepted image side (pixels); shapes would get too small below it."""

MIN_SIDE_FRAC = 0.14
MAX_SIDE_FRAC = 0.28
"""Side of a shape's bounding square, as a fraction of ``min(W, H)``."""

HOST_SIDE_FRAC = (0.36, 0.44)
"""Side of a large "host" shape that can hold another one inside it."""

INNER_SIDE_RATIO = (0.3, 0.42)
"""Side of a shape placed inside a host, as a fraction of the host's side."""

MIN_INNER_SIDE_FRAC = 0.09
"""Smallest side of an inner shape, as a fraction of ``min(W, H)``."""

HOST_PROB = 0.5
"""Chance that a scene starts with a large host shape."""

MIN_VISIBLE_FRACTION = 0.6
"""Every shape keeps at least this fraction of its pixels visible."""

FREE_GAP_FRAC = 0.03
"""Free placements keep this gap (fraction of ``min(W, H)``) to every other box."""

SIZE_WORD_RATIO = 1.4
"""``small``/``large`` need this side ratio to every same-coloured shape of that kind."""

SIZE_COPY_RATIO = 1.6
"""Side ratio of a same-kind distractor that differs by size."""

POSITION_MARGIN_FRAC = 0.1
"""Position words need this centre margin (fraction of the image side)."""

PLACEMENT_ATTEMPTS = 60
"""Tries per placement mode before falling back to a free placement."""

EXTRA_OBJECTS = (1, 2)
"""Objects beyond the number of turns (distractors), drawn uniformly in this range."""

MAX_OBJECTS = 9

TURN_WEIGHTS = {2: 30, 3: 20, 4: 15, 5: 12, 6: 10, 7: 13}
"""Relative frequency of each dialogue length (longer ones weigh 8)."""

PLACEMENT_WEIGHTS = {"free": 0.46, "touching": 0.18, "overlapping": 0.14, "inside": 0.22}
"""How a new shape is placed relative to the shapes already there."""

TEXTURE_WEIGHTS = {"plain": 0.5, "striped": 0.25, "dotted": 0.25}

DISTRACTOR_PROBS = {"same_shape": 0.3, "same_kind": 0.2, "same_colour": 0.1}
"""Chance that a new shape copies an existing one's shape, shape+colour, or colour."""

STRIPE_PERIOD_FRAC = 1 / 28
DOT_PERIOD_FRAC = 1 / 22
DOT_RADIUS_RATIO = 0.22
GRADIENT_DEPTH = 28
NOISE_AMPLITUDE = 8
GRID_PERIOD_FRAC = 1 / 8
GRID_DARKEN = 14


@dataclass
class _Shape:
    key: int
    shape: str
    colour: str
    texture: str
    side: float
    full: npt.NDArray[np.bool_]
    full_xyxy: tuple[float, float, float, float]
    visible: npt.NDArray[np.bool_] = field(repr=False, default=None)  # type: ignore[assignment]
    expression: str = ""
    size_word: str | None = None

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.full_xyxy
        return (x1 + x2) / 2, (y1 + y2) / 2

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        box = mask_to_xyxy(self.visible)
        return tuple(float(v) for v in box)  # type: ignore[return-value]


def _polygon(shape: str, x0: float, y0: float, s: float) -> list[tuple[float, float]]:
    cx, cy, r = x0 + s / 2, y0 + s / 2, s / 2
    if shape == "triangle":
        return [(cx, y0), (x0 + s, y0 + s), (x0, y0 + s)]
    if shape == "diamond":
        return [(cx, y0), (x0 + s, cy), (cx, y0 + s), (x0, cy)]
    if shape == "hexagon":
        return [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in np.arange(6) * np.pi / 3]
    if shape == "star":
        points = []
        for k in range(10):
            radius = r if k % 2 == 0 else r * 0.45
            angle = -np.pi / 2 + k * np.pi / 5
            points.append((cx + radius * np.cos(angle), cy + radius * np.sin(angle)))
        return points
    raise ValueError(f"unknown polygon shape {shape!r}")


def rasterize_shape(
    shape: str, center: tuple[float, float], side: float, image_wh: tuple[int, int]
) -> npt.NDArray[np.bool_]:
    """The ``(H, W)`` mask of a shape whose bounding square has ``side`` pixels."""
    width, height = image_wh
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    s = max(round(side), 2)
    x0, y0 = round(center[0] - s / 2), round(center[1] - s / 2)
    if shape == "circle":
        draw.ellipse([x0, y0, x0 + s - 1, y0 + s - 1], fill=1)
    elif shape == "square":
        draw.rectangle([x0, y0, x0 + s - 1, y0 + s - 1], fill=1)
    else:
        draw.polygon(_polygon(shape, x0, y0, s - 1), fill=1)
    return np.asarray(canvas, dtype=np.uint8) > 0


class _Scene:
    """Shapes placed one by one, each new shape drawn above the earlier ones."""

    def __init__(self, rng: random.Random, image_wh: tuple[int, int]) -> None:
        self.rng = rng
        self.image_wh = image_wh
        self.unit = float(min(image_wh))
        self.shapes: list[_Shape] = []

    # -- attributes -------------------------------------------------------------------
    def sample_attributes(self, host: bool) -> tuple[str, str, str, float]:
        rng = self.rng
        shape, colour = rng.choice(SYNTH_SHAPES), rng.choice(list(SYNTH_COLOURS))
        texture = rng.choices(list(TEXTURE_WEIGHTS), weights=list(TEXTURE_WEIGHTS.values()))[0]
        lo, hi = HOST_SIDE_FRAC if host else (MIN_SIDE_FRAC, MAX_SIDE_FRAC)
        side = rng.uniform(lo, hi) * self.unit
        if self.shapes and not host:
            other = rng.choice(self.shapes)
            roll = rng.random()
            p_shape = DISTRACTOR_PROBS["same_shape"]
            p_kind = p_shape + DISTRACTOR_PROBS["same_kind"]
            p_colour = p_kind + DISTRACTOR_PROBS["same_colour"]
            if roll < p_shape:
                shape = other.shape
                colour = rng.choice([c for c in SYNTH_COLOURS if c != other.colour])
            elif roll < p_kind:
                shape, colour = other.shape, other.colour
                bigger = other.side * SIZE_COPY_RATIO
                smaller = other.side / SIZE_COPY_RATIO
                if bigger <= MAX_SIDE_FRAC * self.unit and (
                    rng.random() < 0.5 or smaller < MIN_SIDE_FRAC * self.unit
                ):
                    side = bigger
                elif smaller >= MIN_SIDE_FRAC * self.unit:
                    side = smaller
                else:
                    texture = rng.choice([t for t in TEXTURE_WEIGHTS if t != other.texture])
            elif roll < p_colour:
                colour = other.colour
                shape = rng.choice([s for s in SYNTH_SHAPES if s != other.shape])
        return shape, colour, texture, side

    # -- placement --------------------------------------------------------------------
    def add(self, host: bool = False) -> bool:
        """Place one new shape; returns False when no placement was found."""
        shape, colour, texture, side = self.sample_attributes(host)
        mode = "free"
        if self.shapes and not host:
            mode = self.rng.choices(
                list(PLACEMENT_WEIGHTS), weights=list(PLACEMENT_WEIGHTS.values())
            )[0]
        for attempt_mode in dict.fromkeys((mode, "free")):
            for _ in range(PLACEMENT_ATTEMPTS):
                candidate = self._propose(attempt_mode, shape, side)
                if candidate is None:
                    continue
                center, cand_side = candidate
                full = rasterize_shape(shape, center, cand_side, self.image_wh)
                if self._accept(attempt_mode, full):
                    self._commit(shape, colour, texture, cand_side, full)
                    return True
        return False

    def _propose(
        self, mode: str, shape: str, side: float
    ) -> tuple[tuple[float, float], float] | None:
        rng, (width, height) = self.rng, self.image_wh
        if mode == "free" or not self.shapes:
            return (
                rng.uniform(side / 2 + 1, width - side / 2 - 1),
                rng.uniform(side / 2 + 1, height - side / 2 - 1),
            ), side
        other = rng.choice(self.shapes)
        ox1, oy1, ox2, oy2 = other.full_xyxy
        ocx, ocy = other.center
        if mode == "touching":
            gap = rng.choice((0, 1))
            shift = rng.uniform(-0.25, 0.25)
            side_name = rng.choice(("left", "right", "top", "bottom"))
            if side_name == "left":
                return (ox1 - gap - side / 2, ocy + shift * (oy2 - oy1)), side
            if side_name == "right":
                return (ox2 + gap + side / 2, ocy + shift * (oy2 - oy1)), side
            if side_name == "top":
                return (ocx + shift * (ox2 - ox1), oy1 - gap - side / 2), side
            return (ocx + shift * (ox2 - ox1), oy2 + gap + side / 2), side
        if mode == "overlapping":
            angle = rng.uniform(0, 2 * np.pi)
            dist = (other.side + side) / 2 * rng.uniform(0.45, 0.8)
            return (ocx + dist * np.cos(angle), ocy + dist * np.sin(angle)), side
        if mode == "inside":
            inner = other.side * rng.uniform(*INNER_SIDE_RATIO)
            if inner < MIN_INNER_SIDE_FRAC * self.unit:
                return None
            slack = max((other.side - inner) / 2, 0.0)
            return (
                ocx + rng.uniform(-slack, slack) * 0.6,
                ocy + rng.uniform(-slack, slack) * 0.6,
            ), inner
        raise ValueError(f"unknown placement mode {mode!r}")

    def _accept(self, mode: str, full: npt.NDArray[np.bool_]) -> bool:
        box = mask_to_xyxy(full)
        if box is None:
            return False
        width, height = self.image_wh
        x1, y1, x2, y2 = box
        if x1 < 1 or y1 < 1 or x2 > width - 1 or y2 > height - 1:
            return False
        area = full.sum()
        for other in self.shapes:
            remaining = np.logical_and(other.visible, ~full).sum()
            if remaining < MIN_VISIBLE_FRACTION * other.full.sum():
                return False
        if mode in ("free", "touching") and any(
            np.logical_and(full, other.full).any() for other in self.shapes
        ):
            return False
        if mode == "free":
            gap = FREE_GAP_FRAC * self.unit
            for other in self.shapes:
                ox1, oy1, ox2, oy2 = other.full_xyxy
                if max(x1, ox1) - min(x2, ox2) < gap and max(y1, oy1) - min(y2, oy2) < gap:
                    return False
        # "inside": the new shape must lie within one existing shape's pixels, not just its box
        if mode == "inside" and not any(
            np.logical_and(full, ~other.full).sum() == 0 for other in self.shapes
        ):
            return False
        return bool(area > 0)

    def _commit(
        self, shape: str, colour: str, texture: str, side: float, full: npt.NDArray[np.bool_]
    ) -> None:
        for other in self.shapes:
            other.visible = np.logical_and(other.visible, ~full)
        box = mask_to_xyxy(full)
        self.shapes.append(
            _Shape(
                key=len(self.shapes),
                shape=shape,
                colour=colour,
                texture=texture,
                side=side,
                full=full,
                full_xyxy=tuple(float(v) for v in box),
                visible=full.copy(),  # type: ignore[arg-type]
            )
        )

    # -- expressions ------------------------------------------------------------------
    def assign_expressions(self) -> None:
        """Give every shape a unique expression, recolouring a shape when none exists."""
        for _ in range(len(SYNTH_COLOURS) * len(self.shapes) + 1):
            failing = [s for s in self.shapes if not self._set_expression(s)]
            if not failing:
                return
            victim = failing[-1]
            used = {(s.colour, s.shape) for s in self.shapes if s is not victim}
            free = [c for c in SYNTH_COLOURS if (c, victim.shape) not in used]
            victim.colour = self.rng.choice(free) if free else victim.colour
            if not free:
                victim.shape = self.rng.choice([s for s in SYNTH_SHAPES if s != victim.shape])
        raise RuntimeError("could not make the synthetic expressions unique")  # pragma: no cover

    def _set_expression(self, obj: _Shape) -> bool:
        same = [
            s
            for s in self.shapes
            if s is not obj and (s.colour, s.shape) == (obj.colour, obj.shape)
        ]
        obj.size_word = None
        base = f"{obj.colour} {obj.shape}"
        if not same:
            obj.expression = base
            return True
        if all(s.texture != obj.texture for s in same):
            obj.expression = f"{obj.texture} {base}"
            return True
        if obj.side >= SIZE_WORD_RATIO * max(s.side for s in same):
            obj.size_word, obj.expression = "large", f"large {base}"
            return True
        if obj.side * SIZE_WORD_RATIO <= min(s.side for s in same):
            obj.size_word, obj.expression = "small", f"small {base}"
            return True
        word = self._position_word(obj, same)
        if word is None:
            return False
        suffix, prefix = POSITION_WORDS[word]
        obj.expression = f"{base} {suffix}" if len(same) == 1 else f"{prefix} {base}"
        return True

    def _position_word(self, obj: _Shape, same: Sequence[_Shape]) -> str | None:
        (cx, cy), (width, height) = obj.center, self.image_wh
        xs = [s.center[0] for s in same]
        ys = [s.center[1] for s in same]
        mx, my = POSITION_MARGIN_FRAC * width, POSITION_MARGIN_FRAC * height
        if cx + mx <= min(xs):
            return "left"
        if cx - mx >= max(xs):
            return "right"
        if cy + my <= min(ys):
            return "top"
        if cy - my >= max(ys):
            return "bottom"
        return None

    def caption_description(self, obj: _Shape) -> str:
        return describe_object(obj.colour, obj.shape, texture=obj.texture, size=obj.size_word)


def _render(
    scene: _Scene, background: str, pattern: str, np_rng: np.random.Generator
) -> npt.NDArray[np.uint8]:
    width, height = scene.image_wh
    img = np.empty((height, width, 3), dtype=np.float64)
    img[:] = SYNTH_BACKGROUNDS[background]
    yy, xx = np.mgrid[0:height, 0:width]
    if pattern == "gradient":
        img -= (yy / max(height - 1, 1) * GRADIENT_DEPTH)[..., None]
    elif pattern == "noisy":
        img += np_rng.uniform(-NOISE_AMPLITUDE, NOISE_AMPLITUDE, size=(height, width, 1))
    elif pattern == "grid":
        period = max(round(GRID_PERIOD_FRAC * scene.unit), 4)
        lines = (xx % period == 0) | (yy % period == 0)
        img[lines] -= GRID_DARKEN
    stripe = max(round(STRIPE_PERIOD_FRAC * scene.unit), 3)
    dot = max(round(DOT_PERIOD_FRAC * scene.unit), 4)
    stripes = ((xx + yy) // stripe) % 2 == 1
    dots = ((xx % dot) - dot / 2) ** 2 + ((yy % dot) - dot / 2) ** 2 <= (
        DOT_RADIUS_RATIO * dot
    ) ** 2
    for obj in scene.shapes:  # z-order: later shapes paint over earlier ones
        img[obj.full] = SYNTH_COLOURS[obj.colour]
        if obj.texture == "striped":
            img[obj.full & stripes] = SYNTH_ACCENTS[obj.colour]
        elif obj.texture == "dotted":
            img[obj.full & dots] = SYNTH_ACCENTS[obj.colour]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _scene_objects(scene: _Scene) -> list[SceneObject]:
    shapes = scene.shapes
    all_keys = frozenset(s.key for s in shapes)
    objects = []
    for obj in shapes:
        same_shape = frozenset(s.key for s in shapes if s.shape == obj.shape)
        same_kind = frozenset(
            s.key for s in shapes if (s.shape, s.colour) == (obj.shape, obj.colour)
        )
        phrases = [
            NounPhrase("shape", all_keys),
            NounPhrase(obj.shape, same_shape, is_category=True),
            NounPhrase(f"{obj.colour} {obj.shape}", same_kind),
        ]
        if obj.expression != phrases[-1].text:
            phrases.append(NounPhrase(obj.expression, frozenset({obj.key})))
        objects.append(
            SceneObject(obj.key, obj.xyxy, obj.shape, tuple(phrases), (f"the {obj.expression}",))
        )
    return objects


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
    scene = _Scene(rng, image_wh)
    if rng.random() < HOST_PROB:
        scene.add(host=True)
    while len(scene.shapes) < n_objects:
        if not scene.add():
            break
    scene.assign_expressions()
    background = rng.choice(list(SYNTH_BACKGROUNDS))
    pattern = rng.choice(SYNTH_BACKGROUND_PATTERNS)
    image = _render(scene, background, pattern, np.random.default_rng(rng.getrandbits(64)))
    objects = _scene_objects(scene)
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
