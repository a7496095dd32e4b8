"""The scenes of the synthetic benchmark: shapes placed, masked exactly, and painted.

:class:`Scene` places 3 to 9 flat shapes (six shapes, seven colours, three textures) on
an image so that every relation of :mod:`regionreasoner.data.relations` occurs (free
placements, touching, overlapping, inside), keeps each object's exact visible mask, and
names it uniquely; :func:`render_scene` paints the image from those masks on a pale
background; :func:`scene_objects` describes the objects for the dialogue planner.
The dialogues themselves are built in :mod:`regionreasoner.data.builders.synth`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from regionreasoner.data.builders.chain import NounPhrase, SceneObject
from regionreasoner.data.builders.templates import (
    POSITION_WORDS,
    SYNTH_ACCENTS,
    SYNTH_BACKGROUNDS,
    SYNTH_COLOURS,
    SYNTH_SHAPES,
    describe_object,
)
from regionreasoner.geometry.masks import mask_to_xyxy

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
class Shape:
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


def polygon(shape: str, x0: float, y0: float, s: float) -> list[tuple[float, float]]:
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
        draw.polygon(polygon(shape, x0, y0, s - 1), fill=1)
    return np.asarray(canvas, dtype=np.uint8) > 0


class Scene:
    """Shapes placed one by one, each new shape drawn above the earlier ones."""

    def __init__(self, rng: random.Random, image_wh: tuple[int, int]) -> None:
        self.rng = rng
        self.image_wh = image_wh
        self.unit = float(min(image_wh))
        self.shapes: list[Shape] = []

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
            Shape(
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

    def _set_expression(self, obj: Shape) -> bool:
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

    def _position_word(self, obj: Shape, same: Sequence[Shape]) -> str | None:
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

    def caption_description(self, obj: Shape) -> str:
        return describe_object(obj.colour, obj.shape, texture=obj.texture, size=obj.size_word)


def render_scene(
    scene: Scene, background: str, pattern: str, np_rng: np.random.Generator
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


def scene_objects(scene: Scene) -> list[SceneObject]:
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
