"""Fixtures of the ``serve`` tests: example images and a controller over the oracle."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from regionreasoner.backends import load_backend
from regionreasoner.data.images import DEFAULT_MAX_IMAGE_PIXELS
from regionreasoner.dialogue.interactive import InteractiveEngine
from regionreasoner.dialogue.prompts import get_prompt
from regionreasoner.dialogue.protocols import get_protocol
from regionreasoner.segmenters import load_segmenter
from regionreasoner.serve.controller import ServeController, ServeSettings
from regionreasoner.serve.examples import ExampleSet, build_examples

N_EXAMPLES = 3
MAX_UPLOAD_BYTES = 50_000


@pytest.fixture(scope="session")
def examples(tmp_path_factory: pytest.TempPathFactory) -> ExampleSet:
    """Three synthetic example dialogues (320x240), built once."""
    return build_examples(tmp_path_factory.mktemp("examples"), N_EXAMPLES)


@pytest.fixture
def make_controller(
    examples: ExampleSet, tmp_path: Path
) -> Iterator[Callable[..., ServeController]]:
    """``make_controller(model="oracle", protocol="paper", timeout_s=None, backend=None,
    max_upload_bytes=..., max_image_pixels=...)``."""
    made: list[ServeController] = []

    def make(
        *,
        model: str = "oracle",
        protocol: str = "paper",
        segmenter: str = "box-fill",
        timeout_s: float | None = 30.0,
        backend: Any = None,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    ) -> ServeController:
        engine = InteractiveEngine(
            backend if backend is not None else load_backend(model),
            load_segmenter(segmenter),
            get_protocol(protocol),
            get_prompt("regionreasoner"),
            timeout_s=timeout_s,
        )
        controller = ServeController(
            engine,
            examples,
            ServeSettings(
                model_spec=model,
                segmenter_spec=segmenter,
                max_upload_bytes=max_upload_bytes,
                max_image_pixels=max_image_pixels,
                export_dir=tmp_path / f"exports{len(made)}",
            ),
        )
        made.append(controller)
        return controller

    yield make
    for controller in made:
        controller.engine.close()
