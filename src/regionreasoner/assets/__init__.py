"""Files shipped inside the package (the bundled micro RegionReasoner, when present)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

BUNDLED_MODEL_DIR = "micro-model"
"""Folder (inside this package) of the bundled micro model: a transformers checkpoint
with tokenizer, processor and chat template, loadable as ``hf:<path>``."""


def bundled_model_dir() -> Path:
    """Where the bundled micro model lives in this installation (whether or not it is there)."""
    return Path(str(resources.files("regionreasoner.assets").joinpath(BUNDLED_MODEL_DIR)))


def bundled_model_path() -> Path | None:
    """Path of the bundled micro model, or ``None`` when this installation has none."""
    path = bundled_model_dir()
    return path if (path / "config.json").is_file() else None


def bundled_model_spec() -> str | None:
    """``hf:<path>`` of the bundled model (a model spec), or ``None`` when there is none."""
    path = bundled_model_path()
    return None if path is None else f"hf:{path}"
