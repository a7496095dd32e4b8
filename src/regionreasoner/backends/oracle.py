"""``oracle``: answers every turn with its ground truth in perfect four-tag format.

A test double for the whole pipeline (no model, no GPU): with ``box-fill`` segmentation
it must score acc@0.5 = 1 in every round. Spec options
(``oracle:delay=0.2,noise=3,seed=1,frame=rel1000``):

- ``delay``: seconds slept for EVERY request it answers (per turn, whatever the batch
  size), to make runs slow enough to interrupt in tests.
- ``noise``: jitter in steps of the answer frame (pixels for the integer frames, 0.001
  for ``rel1``); every box coordinate and point coordinate moves by an integer number of
  steps drawn uniformly from ``[-noise, noise]``.
- ``seed``: seed of the jitter. Each turn draws from its own
  ``random.Random(f"{seed}:{dialogue_id}:{turn_index}")``, so the output does not depend
  on batching, sharding or resuming.
- ``frame``: answer in this frame (a ``--frame`` name) whatever frame the evaluation
  uses: a model with a known convention, for ``probe-frame`` and frame-mismatch tests.
  Default: the evaluation's own frame (a perfect answer). A citation of the reference in
  ``<think>`` always copies the prompt's numbers.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from regionreasoner.backends.base import (
    META_DIALOGUE_ID,
    META_FRAME,
    META_REFERENCE_XYXY,
    META_TURN,
    BackendOptions,
    Generation,
    GenerationRequest,
    option_float,
    option_int,
    parse_options,
)
from regionreasoner.data.schema import Target, Turn
from regionreasoner.errors import ConfigError
from regionreasoner.geometry.frames import FRAMES, Frame, FrameSpec
from regionreasoner.geometry.rle import decode_rle
from regionreasoner.parsing.references import format_reference

ORACLE_OPTIONS = ("delay", "noise", "seed", "frame")


def _point_inside(target: Target) -> tuple[float, float]:
    """A point inside the target in image pixels: the mask pixel centre nearest to the
    mask centroid, or the box centre for targets without a mask."""
    x1, y1, x2, y2 = target.bbox
    if target.mask is None:
        return (x1 + x2) / 2, (y1 + y2) / 2
    ys, xs = np.nonzero(decode_rle(target.mask))
    if len(xs) == 0:
        return (x1 + x2) / 2, (y1 + y2) / 2
    cx, cy = xs.mean(), ys.mean()
    nearest = int(np.argmin((xs - cx) ** 2 + (ys - cy) ** 2))
    return float(xs[nearest]) + 0.5, float(ys[nearest]) + 0.5


def _jitter_box(box: list[int], rng: random.Random, noise: int) -> list[int]:
    x1, y1, x2, y2 = (v + rng.randint(-noise, noise) for v in box)
    x1, x2 = min(x1, x2), max(x1, x2)
    y1, y2 = min(y1, y2), max(y1, y2)
    return [x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)]


def _written(values: Sequence[float], decimals: int) -> list[int] | list[float]:
    """JSON numbers as a model writes them: integers, or floats at ``decimals`` digits."""
    if decimals == 0:
        return [int(v) for v in values]
    return [round(float(v), decimals) for v in values]


class OracleBackend:
    """Emits the ground truth of each turn, in the model frame, as a perfect answer.

    Args:
        delay_s: seconds slept per answered request.
        noise_px: integer jitter amplitude in steps of the answer frame (0: exact).
        seed: seed of the jitter.
        frame: the frame to answer in (a ``FRAMES`` name), or ``None`` for the frame of
            each request (the evaluation's).
    """

    name: ClassVar[str] = "oracle"
    needs_image: ClassVar[bool] = False

    def __init__(
        self, *, delay_s: float = 0.0, noise_px: int = 0, seed: int = 0, frame: str | None = None
    ) -> None:
        if delay_s < 0 or noise_px < 0:
            raise ConfigError("oracle: delay and noise must be >= 0")
        self.delay_s = delay_s
        self.noise_px = noise_px
        self.seed = seed
        self.frame_spec: FrameSpec | None = None if frame is None else FRAMES.get(frame)

    @classmethod
    def from_spec(cls, argument: str, options: BackendOptions) -> OracleBackend:
        """Build from the options after ``oracle:`` (``delay=S,noise=PX,seed=N,frame=F``)."""
        what = "model spec oracle"
        parsed = parse_options(argument, allowed=ORACLE_OPTIONS, what=what)
        noise = option_int(parsed, "noise", 0, what=what)
        if noise < 0:
            raise ConfigError(f"{what}: noise must be >= 0, got {noise}")
        return cls(
            delay_s=option_float(parsed, "delay", 0.0, what=what),
            noise_px=noise,
            seed=option_int(parsed, "seed", options.seed, what=what),
            frame=parsed.get("frame"),
        )

    def describe(self) -> dict[str, Any]:
        """Settings for ``config.json``."""
        return {
            "delay_s": self.delay_s,
            "noise_px": self.noise_px,
            "seed": self.seed,
            "frame": None if self.frame_spec is None else self.frame_spec.name,
        }

    def close(self) -> None:
        """Nothing to release."""

    def answer(
        self, turn: Turn, frame: Frame, reference_xyxy: Sequence[float] | None, *, dialogue_id: str
    ) -> str:
        """The perfect response to ``turn``.

        Args:
            frame: the frame of the request; the answer is written in it, or in the
                oracle's own ``frame`` option over the same image.
            reference_xyxy: the reference as written in the prompt (cited verbatim).
        """
        rng = random.Random(f"{self.seed}:{dialogue_id}:{turn.turn_index}")
        answer_frame = frame if self.frame_spec is None else self.frame_spec(frame.image_wh)
        # Jitter in integer steps of the frame: scale to integers, move, scale back.
        steps = 10**answer_frame.decimals
        items = []
        for target in turn.targets:
            box_xyxy = answer_frame.to_model_xyxy([target.bbox])[0]
            point_xy = answer_frame.to_model_points([_point_inside(target)])[0]
            box = [round(float(v) * steps) for v in box_xyxy]
            point = [round(float(v) * steps) for v in point_xy]
            if self.noise_px:
                box = _jitter_box(box, rng, self.noise_px)
                point = [v + rng.randint(-self.noise_px, self.noise_px) for v in point]
            items.append(
                {
                    "bbox_2d": _written([v / steps for v in box], answer_frame.decimals),
                    "point_2d": _written([v / steps for v in point], answer_frame.decimals),
                }
            )
        count = len(items)
        scene = f"The image shows a scene with {count} target object(s) among other things."
        if reference_xyxy is not None:
            cited = format_reference(reference_xyxy, style="bbox=", decimals=frame.decimals)
            relation = (turn.relation or "given").replace("_", " ")
            focus = "<focus>The reference region shows the object named earlier.</focus>\n"
            think = (
                f"The question cites the reference {cited}. Applying the {relation} relation "
                f"to that reference narrows the search to {count} object(s)."
            )
        else:
            focus = ""
            think = f"Comparing the candidates in the scene, {count} object(s) match the query."
        answer = json.dumps(items)
        return f"<scene>{scene}</scene>\n{focus}<think>{think}</think>\n<answer>{answer}</answer>"

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Answer each request from its ``turn``/``frame`` metadata."""
        out = []
        for request in requests:
            start = time.perf_counter()
            if self.delay_s:
                time.sleep(self.delay_s)
            text = self.answer(
                request.meta(META_TURN),
                request.meta(META_FRAME),
                request.meta(META_REFERENCE_XYXY),
                dialogue_id=str(request.meta(META_DIALOGUE_ID)),
            )
            out.append(Generation(text, time.perf_counter() - start))
        return out
