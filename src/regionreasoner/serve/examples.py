"""Example images for the page, and the ground truth the ``oracle`` backend answers from.

On start the app builds a small synthetic benchmark
(:func:`~regionreasoner.data.builders.synth.build_synth`) into a temporary folder; each
dialogue is one example image with its questions. A typed question is matched to the
example's questions after writing its region label as ``{ref}`` (``"the circle closest
to R1"`` matches ``"the circle closest to {ref}"``), case, surrounding punctuation and
repeated spaces ignored. The matched turn's targets are the ground truth of the question:
the ``oracle`` backend needs it, the other backends ignore it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from regionreasoner.data.io import read_dialogues, resolve_image_path
from regionreasoner.data.schema import REF_PLACEHOLDER, Dialogue, Turn
from regionreasoner.geometry.boxes import box_iou

logger = logging.getLogger(__name__)

DEFAULT_EXAMPLES = 8
"""Example images built on start (``serve --examples``)."""

EXAMPLES_SEED = 0
"""Seed of the example benchmark (the same examples on every start)."""

EXAMPLE_IMAGE_WH = (320, 240)
"""Size of the example images (pixels)."""

_QUESTION_STRIP = " \t\n.?!\"'"
_SPACES = re.compile(r"\s+")


def normalize_question(question: str) -> str:
    """Lower-case, single spaces, no surrounding punctuation (for matching only).

    >>> normalize_question("  The circle   closest to {ref}? ")
    'the circle closest to {ref}'
    """
    return _SPACES.sub(" ", question.strip(_QUESTION_STRIP).lower())


@dataclass(frozen=True)
class Example:
    """One example image and its benchmark dialogue.

    Attributes:
        dialogue: the benchmark dialogue (questions and ground truth).
        image_path: the image file.
    """

    dialogue: Dialogue
    image_path: Path

    @property
    def example_id(self) -> str:
        """The dialogue id."""
        return self.dialogue.dialogue_id

    def choice_label(self) -> str:
        """A one-line label for the example picker."""
        first = self.dialogue.turns[0].question
        return f"{self.example_id}: {first} ({len(self.dialogue.turns)} questions)"

    def match(
        self, question_template: str, reference_xyxy: Sequence[float] | None = None
    ) -> Turn | None:
        """The example turn whose question equals ``question_template``, or ``None``.

        Args:
            question_template: the typed question with its region label written ``{ref}``.
            reference_xyxy: the cited box (image pixels); when several turns share the
                question, the one whose cited turn's first ground-truth box overlaps it
                most wins.
        """
        wanted = normalize_question(question_template)
        candidates = [t for t in self.dialogue.turns if normalize_question(t.question) == wanted]
        if len(candidates) <= 1 or reference_xyxy is None:
            return candidates[0] if candidates else None

        def overlap(turn: Turn) -> float:
            if turn.refers_to is None:
                return -1.0
            cited = self.dialogue.turns[turn.refers_to].targets[0].bbox
            return box_iou(cited, reference_xyxy)

        return max(candidates, key=overlap)

    def question_hints(self) -> list[str]:
        """The example's questions, the cited region written as "(region of question N)"."""
        hints = []
        for turn in self.dialogue.turns:
            text = turn.question
            if turn.refers_to is not None:
                text = text.replace(REF_PLACEHOLDER, f"(region of question {turn.refers_to + 1})")
            hints.append(text)
        return hints


@dataclass(frozen=True)
class ExampleSet:
    """The example images, by id, in file order."""

    examples: tuple[Example, ...]

    def get(self, example_id: str) -> Example | None:
        """The example with this id, or ``None``."""
        return next((e for e in self.examples if e.example_id == example_id), None)

    def __len__(self) -> int:
        return len(self.examples)


def load_examples(data_path: str | os.PathLike[str]) -> ExampleSet:
    """The dialogues of a RegionDial file as examples (images beside the file).

    Raises:
        DataFormatError: the file is invalid.
    """
    examples = tuple(
        Example(d, resolve_image_path(d, data_path)) for d in read_dialogues(data_path)
    )
    return ExampleSet(examples)


def build_examples(
    out_dir: str | os.PathLike[str],
    n_examples: int = DEFAULT_EXAMPLES,
    *,
    seed: int = EXAMPLES_SEED,
    image_wh: tuple[int, int] = EXAMPLE_IMAGE_WH,
) -> ExampleSet:
    """Build ``n_examples`` synthetic dialogues into ``out_dir`` and load them.

    ``n_examples == 0`` gives an empty set (uploads only).
    """
    if n_examples < 0:
        raise ValueError(f"n_examples must be >= 0, got {n_examples}")
    if n_examples == 0:
        return ExampleSet(())
    from regionreasoner.data.builders.synth import build_synth

    path = build_synth(out_dir, n_dialogues=n_examples, seed=seed, image_size=image_wh)
    logger.info("built %d example dialogues in %s", n_examples, out_dir)
    return load_examples(path)


__all__ = [
    "DEFAULT_EXAMPLES",
    "Example",
    "ExampleSet",
    "build_examples",
    "load_examples",
    "normalize_question",
]
