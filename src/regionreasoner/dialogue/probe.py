"""The frame probe: which coordinate frame does a model answer in?

A model answering in one frame and scored in another loses most of its boxes without a
word of warning (Qwen3-VL's 0-1000 grid read as pixels, a RegionReasoner model's 840x840
square read as original pixels). :func:`run_probe` finds out empirically:

1. it draws a few synthetic scenes (the shapes of ``build synth``) at deliberately
   non-square sizes (:data:`PROBE_IMAGE_WHS`, 4:3 landscape and portrait, larger than
   the Qwen2.5-VL pixel budget so that ``native`` differs from ``image``);
2. it keeps only the objects whose box tells the frames apart (:func:`discriminative`):
   the correct answer in any frame, read in any other frame, overlaps the object with
   IoU <= :data:`MAX_CONFUSION_IOU`, so no frame scores by accident;
3. it asks each object (``the yellow hexagon``) in every frame exactly as ``eval --frame
   F`` would: the image shown as ``F`` shows it, the answer read in ``F``'s coordinates;
4. it scores each frame: acc@0.5 (a predicted box with IoU > 0.5) and the mean of the
   best IoU per object.

The verdict (:func:`decide`) names the best frame when it is a clear winner: its acc@0.5
is at least :data:`MIN_WINNER_ACC` and at least :data:`MIN_MARGIN` above every other
frame's. Otherwise there is no verdict, and the frames within the margin of the best are
reported as tied (a model that answers in pixels of the image it is shown, such as
Qwen2.5-VL, is right under ``square840``, ``native`` and ``image`` alike).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from regionreasoner.backends.base import (
    DEFAULT_MAX_NEW_TOKENS,
    Backend,
    GenerationRequest,
    turn_metadata,
)
from regionreasoner.data.builders.synth import synth_dialogue
from regionreasoner.data.schema import Target, Turn
from regionreasoner.dialogue.prompts import PromptTemplate
from regionreasoner.dialogue.protocols import PaperProtocol
from regionreasoner.errors import ConfigError
from regionreasoner.geometry.boxes import IOU_HIT, box_iou_batch
from regionreasoner.geometry.frames import FRAMES, Frame

PROBE_IMAGE_WHS = ((1400, 1050), (1050, 1400))
"""Sizes of the probe scenes, used in turn: 4:3 and 3:4 (non-square, so ``square840``
differs from every aspect-preserving frame), 1.47 MP (above Qwen2.5-VL's 1 MP budget, so
``native`` shows 1148x840 and differs from ``image``) and neither 840 nor 1000 wide."""

DEFAULT_PROBE_IMAGES = 8
"""Scenes drawn by default (about 17 discriminative objects)."""

DEFAULT_PROBE_SEED = 0

MAX_CONFUSION_IOU = 0.3
"""An object is kept only if the right answer in one frame, read in another, overlaps
it with IoU at most this (well under the 0.5 of a hit)."""

MIN_WINNER_ACC = 0.5
"""The winner must locate at least this fraction of the objects (acc@0.5)."""

MIN_MARGIN = 0.25
"""...and beat every other frame's acc@0.5 by at least this much."""

MIN_PROBE_ITEMS = 4
"""Fewer discriminative objects than this make no probe (a configuration error)."""

_SYNTH_MAX_TURNS = 2
"""Turns planned per synthetic scene (the probe only uses the objects and their names)."""

T = TypeVar("T")
Progress = Callable[[Iterable[T], int], Iterable[T]]


def _no_progress(items: Iterable[T], total: int) -> Iterable[T]:
    return items


@dataclass(frozen=True)
class ProbeItem:
    """One object asked about.

    Attributes:
        item_id: ``scene:object`` (stable for a seed).
        image: the scene (``PIL.Image`` in RGB, original size).
        question: the object's unique expression (``the small striped red triangle``).
        gt_xyxy: its box in original-image pixels.
    """

    item_id: str
    image: Image.Image
    question: str
    gt_xyxy: tuple[float, float, float, float]

    @property
    def image_wh(self) -> tuple[int, int]:
        """Size of the scene."""
        return int(self.image.size[0]), int(self.image.size[1])

    def turn(self) -> Turn:
        """The object as a one-turn question (what the ``oracle`` backend answers)."""
        return Turn(0, self.question, (Target(self.gt_xyxy),))


@dataclass(frozen=True)
class FrameScore:
    """How the answers score when read in one frame.

    Attributes:
        frame: the frame name.
        acc: acc@0.5 over the items.
        mean_iou: mean over the items of the best IoU of a predicted box (0 if none).
        format_ok: fraction of answers that parsed cleanly with at least one box.
        items: items scored.
    """

    frame: str
    acc: float
    mean_iou: float
    format_ok: float
    items: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "frame": self.frame,
            "acc@0.5": self.acc,
            "mean_iou": self.mean_iou,
            "format_ok": self.format_ok,
            "items": self.items,
        }


@dataclass(frozen=True)
class ProbeAnswer:
    """One answer: the item, the frame it was asked in, the text and its best IoU."""

    item_id: str
    frame: str
    text: str
    best_iou: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "item_id": self.item_id,
            "frame": self.frame,
            "text": self.text,
            "best_iou": self.best_iou,
            "error": self.error,
        }


@dataclass(frozen=True)
class ProbeResult:
    """The probe's table and verdict.

    Attributes:
        scores: one row per frame, best first (acc@0.5, then mean IoU, then name).
        verdict: the winning frame, or ``None`` when no frame is a clear winner.
        margin: the best acc@0.5 minus the second best (``None`` with a single frame).
        tied: the frames within :data:`MIN_MARGIN` of the best (the best included).
        reason: one sentence explaining the verdict.
        answers: every answer, in the order asked.
        settings: what was probed (prompt, images, seed, thresholds).
    """

    scores: tuple[FrameScore, ...]
    verdict: str | None
    margin: float | None
    tied: tuple[str, ...]
    reason: str
    answers: tuple[ProbeAnswer, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def clear(self) -> bool:
        """Whether a frame won clearly."""
        return self.verdict is not None

    def to_dict(self, *, answers: bool = True) -> dict[str, Any]:
        """JSON-ready (``probe-frame --json``; ``config.json`` of ``eval --frame auto``
        without the ``answers``).

        Args:
            answers: include every answer's text and best IoU.
        """
        out = {
            "verdict": self.verdict,
            "margin": self.margin,
            "tied": list(self.tied),
            "reason": self.reason,
            "rule": {"min_winner_acc": MIN_WINNER_ACC, "min_margin": MIN_MARGIN},
            "table": [s.to_dict() for s in self.scores],
            "settings": dict(self.settings),
        }
        if answers:
            out["answers"] = [a.to_dict() for a in self.answers]
        return out


def discriminative(
    gt_xyxy: Sequence[float], frames: dict[str, Frame], max_iou: float = MAX_CONFUSION_IOU
) -> bool:
    """Whether ``gt_xyxy`` tells every pair of ``frames`` apart.

    For every ordered pair of different frames (T, A): the box written in T (as a model
    answering in T writes it) and read in A overlaps the object with IoU <= ``max_iou``.
    """
    gt = np.asarray([gt_xyxy], dtype=np.float64)
    for true_name, true_frame in frames.items():
        written = true_frame.to_model_xyxy(gt)
        for read_name, read_frame in frames.items():
            if read_name == true_name:
                continue
            if box_iou_batch(read_frame.to_image_xyxy(written), gt)[0, 0] > max_iou:
                return False
    return True


def probe_items(
    frame_names: Sequence[str],
    *,
    n_images: int = DEFAULT_PROBE_IMAGES,
    seed: int = DEFAULT_PROBE_SEED,
    image_whs: Sequence[tuple[int, int]] = PROBE_IMAGE_WHS,
) -> list[ProbeItem]:
    """The discriminative objects of ``n_images`` synthetic scenes (a pure function of
    ``seed``).

    Raises:
        ConfigError: fewer than :data:`MIN_PROBE_ITEMS` objects tell the frames apart.
    """
    items: list[ProbeItem] = []
    relation_counts: Counter[str] = Counter()
    for index in range(n_images):
        image_wh = tuple(image_whs[index % len(image_whs)])
        dialogue, pixels = synth_dialogue(
            index,
            seed=seed,
            max_turns=_SYNTH_MAX_TURNS,
            image_wh=image_wh,  # type: ignore[arg-type]
            relation_counts=relation_counts,
        )
        frames = {name: FRAMES.get(name)(image_wh) for name in frame_names}  # type: ignore[arg-type]
        image = Image.fromarray(pixels)
        for obj in dialogue.meta["objects"]:
            box = tuple(float(v) for v in obj["bbox"])
            if discriminative(box, frames):
                items.append(
                    ProbeItem(f"{index}:{obj['ann_id']}", image, f"the {obj['expression']}", box)  # type: ignore[arg-type]
                )
    if len(items) < MIN_PROBE_ITEMS:
        raise ConfigError(
            f"only {len(items)} probe objects tell the frames {', '.join(frame_names)} apart "
            f"(at least {MIN_PROBE_ITEMS} needed); use more images"
        )
    return items


def decide(scores: Sequence[FrameScore]) -> tuple[str | None, float | None, tuple[str, ...], str]:
    """``(verdict, margin, tied, reason)`` of a table sorted best first (see the module
    docstring for the rule)."""
    best = scores[0]
    margin = None if len(scores) < 2 else best.acc - scores[1].acc
    tied = tuple(s.frame for s in scores if best.acc - s.acc < MIN_MARGIN)
    if best.acc < MIN_WINNER_ACC:
        reason = (
            f"no frame locates the objects: the best, {best.frame}, scores acc@0.5 "
            f"{best.acc:.2f} < {MIN_WINNER_ACC}"
        )
        return None, margin, tied, reason
    if len(tied) > 1:
        reason = (
            f"{', '.join(tied)} score within {MIN_MARGIN} of each other (margin "
            f"{margin:.2f}): the probe cannot tell them apart for this model"
        )
        return None, margin, tied, reason
    lead = "" if margin is None else f" by {margin:.2f}"
    reason = f"{best.frame} wins with acc@0.5 {best.acc:.2f}{lead}"
    return best.frame, margin, tied, reason


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _best_iou(pred_xyxy: npt.NDArray[np.float64], gt_xyxy: Sequence[float]) -> float:
    if len(pred_xyxy) == 0:
        return 0.0
    return float(box_iou_batch(pred_xyxy, [gt_xyxy])[:, 0].max())


def run_probe(
    backend: Backend,
    prompt: PromptTemplate,
    *,
    frames: Sequence[str] | None = None,
    n_images: int = DEFAULT_PROBE_IMAGES,
    seed: int = DEFAULT_PROBE_SEED,
    batch_size: int = 8,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    progress: Progress[Any] = _no_progress,
) -> ProbeResult:
    """Ask ``backend`` about the probe objects in every frame and score each frame.

    Args:
        backend: the model.
        prompt: the prompt template (the one ``eval`` will use).
        frames: the frames to compare (default: every registered frame; at least two).
        n_images: synthetic scenes drawn.
        seed: seed of the scenes.
        batch_size: requests per ``backend.generate`` call.
        max_new_tokens: generation budget per answer.
        progress: wraps the loop over batches.

    Raises:
        ConfigError: fewer than two frames, a bad batch size, or too few probe objects.
        UnknownComponentError: an unknown frame name.
    """
    names = list(FRAMES.names() if frames is None else frames)
    if len(set(names)) < 2:
        raise ConfigError("the frame probe compares at least two frames")
    if batch_size < 1:
        raise ConfigError(f"batch size must be >= 1, got {batch_size}")
    protocols = {name: PaperProtocol(name) for name in names}
    items = probe_items(names, n_images=n_images, seed=seed)
    jobs = [(item, name, protocols[name].frame(item.image_wh)) for item in items for name in names]
    answers: list[ProbeAnswer] = []
    hits: dict[str, list[bool]] = {name: [] for name in names}
    ious: dict[str, list[float]] = {name: [] for name in names}
    clean: dict[str, list[bool]] = {name: [] for name in names}
    batches = list(_batches(jobs, batch_size))
    for batch in progress(batches, len(batches)):
        requests = []
        for item, name, frame in batch:
            image = protocols[name].to_model_image(item.image, frame)
            requests.append(
                GenerationRequest(
                    image if backend.needs_image else None,
                    prompt.render_user(item.question),
                    system=prompt.system,
                    max_new_tokens=max_new_tokens,
                    metadata=turn_metadata(f"probe-{item.item_id}", 0, frame, None, item.turn()),
                )
            )
        for (item, name, frame), generation in zip(batch, backend.generate(requests), strict=True):
            iou, ok = 0.0, False
            if not generation.failed:
                answer = protocols[name].read_answer(generation.text, prompt, frame)
                iou, ok = _best_iou(answer.pred_xyxy, item.gt_xyxy), answer.format_ok
            hits[name].append(iou > IOU_HIT)
            ious[name].append(iou)
            clean[name].append(ok)
            answers.append(ProbeAnswer(item.item_id, name, generation.text, iou, generation.error))
    scores = sorted(
        (
            FrameScore(
                name,
                float(np.mean(hits[name])),
                float(np.mean(ious[name])),
                float(np.mean(clean[name])),
                len(items),
            )
            for name in names
        ),
        key=lambda s: (-s.acc, -s.mean_iou, s.frame),
    )
    verdict, margin, tied, reason = decide(scores)
    settings = {
        "prompt": prompt.name,
        "frames": names,
        "images": n_images,
        "image_whs": [list(wh) for wh in PROBE_IMAGE_WHS],
        "items": len(items),
        "seed": seed,
        "max_confusion_iou": MAX_CONFUSION_IOU,
        "max_new_tokens": max_new_tokens,
    }
    return ProbeResult(tuple(scores), verdict, margin, tied, reason, tuple(answers), settings)


def format_probe_table(result: ProbeResult) -> str:
    """The table as text (``frame  acc@0.5  mean IoU``), best first, then the verdict."""
    lines = [f"{'frame':<10}  {'acc@0.5':>7}  {'mean IoU':>8}  {'format ok':>9}"]
    lines.extend(
        f"{s.frame:<10}  {s.acc:>7.3f}  {s.mean_iou:>8.3f}  {s.format_ok:>9.3f}"
        for s in result.scores
    )
    items = result.scores[0].items if result.scores else 0
    if result.verdict is not None:
        lines.append(f"verdict: {result.verdict} ({result.reason}; {items} objects)")
    else:
        lines.append(f"no clear winner: {result.reason} ({items} objects)")
    return "\n".join(lines)


__all__ = [
    "DEFAULT_PROBE_IMAGES",
    "MAX_CONFUSION_IOU",
    "MIN_MARGIN",
    "MIN_WINNER_ACC",
    "PROBE_IMAGE_WHS",
    "FrameScore",
    "ProbeAnswer",
    "ProbeItem",
    "ProbeResult",
    "Progress",
    "decide",
    "discriminative",
    "format_probe_table",
    "probe_items",
    "run_probe",
]
