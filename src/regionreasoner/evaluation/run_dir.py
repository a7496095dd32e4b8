"""The run directory of ``regionreasoner eval`` (DESIGN 3.3): its one owner.

A run directory holds the files named here (:data:`RUN_FILES`)::

    RUN_DIR/
      config.json         resolved settings (written once, when the run starts)
      predictions.jsonl   one row per turn (:mod:`regionreasoner.evaluation.predictions`)
      metrics.json        DESIGN 3.4
      card.json           the reproducibility card (:mod:`regionreasoner.evaluation.card`)
      report.md, report.html, rounds.png

This module owns the file names, ``config.json`` (:func:`read_config` is the only
place it is parsed; :func:`write_config` the only place it is written), the checks
before a run starts or resumes (:func:`check_run_dir`, :func:`prepare_run_dir`,
:func:`check_resume_compatible` over :data:`RESUME_KEYS`), the settings a report
states (:class:`RunSettings`) and the rule for merging shard directories
(:func:`merge_settings` over :data:`MERGE_KEYS`). ``metrics.json`` is read back by
:func:`read_metrics`, ``card.json`` by :func:`read_card`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regionreasoner.errors import DataFormatError, UserInputError
from regionreasoner.fileio import atomic_write

CONFIG_FILE = "config.json"
PREDICTIONS_FILE = "predictions.jsonl"
METRICS_FILE = "metrics.json"
REPORT_MD_FILE = "report.md"
REPORT_HTML_FILE = "report.html"
ROUNDS_PNG_FILE = "rounds.png"
CARD_FILE = "card.json"

RUN_FILES = (
    CONFIG_FILE,
    PREDICTIONS_FILE,
    METRICS_FILE,
    REPORT_MD_FILE,
    REPORT_HTML_FILE,
    ROUNDS_PNG_FILE,
    CARD_FILE,
)
"""Files ``eval`` writes into a run directory (``--overwrite`` removes only these)."""

REPORT_FILES = (METRICS_FILE, CARD_FILE, REPORT_MD_FILE, ROUNDS_PNG_FILE, REPORT_HTML_FILE)
"""The files scoring (re)writes, in the order ``score`` names them."""

RESUME_KEYS = (
    "data",
    "model",
    "protocol",
    "reference_policy",
    "prompt",
    "frame",
    "segmenter",
    "shard",
    "max_new_tokens",
    "temperature",
    "seed",
    "limit",
)
"""Settings that must not change when a run is resumed (they change the outputs)."""

MERGE_KEYS = ("protocol", "reference_policy", "model", "data", "prompt", "segmenter")
"""Settings that must agree between merged shard directories."""

NO_SEGMENTER = "none"
"""The ``--segmenter`` value of a detection-only run."""

_RUN_DIR_HINT = "expected a run directory written by `regionreasoner eval`"


# --------------------------------------------------------------------------- checks


def check_run_dir(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Check, without changing anything, that ``out`` may be used as a run directory.

    Without ``resume``, an existing non-empty directory is an error unless ``overwrite``.

    Raises:
        UserInputError: ``out`` is a file, or non-empty without ``--resume``/``--overwrite``,
            or both flags were given.
    """
    if resume and overwrite:
        raise UserInputError("--resume and --overwrite exclude each other")
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not resume and not overwrite:
        raise UserInputError(
            f"--out {out}: the run directory is not empty; pass --resume to continue "
            "that run or --overwrite to start it again"
        )


def prepare_run_dir(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Check ``out`` (see :func:`check_run_dir`), then create it; ``overwrite`` removes
    only the files ``eval`` writes (:data:`RUN_FILES`), never other files.

    Raises:
        UserInputError: as :func:`check_run_dir`.
    """
    check_run_dir(out, resume=resume, overwrite=overwrite)
    if overwrite and out.is_dir():
        discard_run_files(out, remove_dir=False)
    out.mkdir(parents=True, exist_ok=True)


def discard_run_files(out: Path, *, remove_dir: bool) -> None:
    """Remove the files ``eval`` writes (:data:`RUN_FILES`) from ``out``, and ``out``
    itself when ``remove_dir`` and nothing else is left in it (a run that stopped on bad
    input before its first row)."""
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    if remove_dir and out.is_dir() and not any(out.iterdir()):
        out.rmdir()


def require_run_dir(run_dir: Path) -> dict[str, Any]:
    """Check that ``run_dir`` holds a run to score and return its ``config.json``.

    Raises:
        UserInputError: the directory, its ``predictions.jsonl`` or ``config.json`` is
            missing.
        DataFormatError: ``config.json`` is not a JSON object.
    """
    if not run_dir.is_dir():
        raise UserInputError(f"{run_dir}: not a directory ({_RUN_DIR_HINT})")
    for name in (PREDICTIONS_FILE, CONFIG_FILE):
        if not (run_dir / name).is_file():
            raise UserInputError(f"{run_dir}: no {name} in this directory ({_RUN_DIR_HINT})")
    config = read_config(run_dir)
    if config is None:  # removed since the check above
        raise UserInputError(f"{run_dir}: no {CONFIG_FILE} in this directory ({_RUN_DIR_HINT})")
    return config


# --------------------------------------------------------------------------- config.json


def read_config(out: Path) -> dict[str, Any] | None:
    """``config.json`` of a run directory, or ``None`` when there is none.

    Raises:
        DataFormatError: the file is not a JSON object.
    """
    return _read_json_object(out / CONFIG_FILE)


def _read_json_object(path: Path) -> dict[str, Any] | None:
    """A JSON object file of the run directory, or ``None`` when the file is missing."""
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataFormatError(f"invalid JSON ({e})", path=str(path)) from e
    if not isinstance(value, dict):
        raise DataFormatError("expected a JSON object", path=str(path))
    return value


def write_config(out: Path, config: Mapping[str, Any]) -> None:
    """Write ``config.json`` atomically."""
    write_json(out / CONFIG_FILE, config, default=str)


def write_json(path: Path, obj: Any, **kwargs: Any) -> None:
    """Write one of the run's JSON files atomically (2-space indent, no NaN, newline)."""
    with atomic_write(path) as handle:
        json.dump(obj, handle, indent=2, allow_nan=False, **kwargs)
        handle.write("\n")


def check_resume_compatible(
    old: Mapping[str, Any], new: Mapping[str, Any], *, keys: Sequence[str] = RESUME_KEYS
) -> None:
    """Refuse to resume with settings that would change the outputs.

    Raises:
        UserInputError: one of ``keys`` differs, naming it and both values.
    """
    for key in keys:
        if old.get(key) != new.get(key):
            raise UserInputError(
                f"cannot resume: {key} was {old.get(key)!r} in {CONFIG_FILE}, now "
                f"{new.get(key)!r}; use the original settings or a new --out"
            )


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """``metrics.json`` of a scored run directory.

    Raises:
        UserInputError: the file is missing.
        DataFormatError: it is not JSON or has no per-round metrics.
    """
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        raise UserInputError(f"{path}: not found (is {run_dir} an eval run directory?)")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"not valid JSON: {exc.msg}", path=str(path)) from exc
    if not isinstance(metrics, dict) or not isinstance(metrics.get("rounds"), dict):
        raise DataFormatError("no per-round metrics", path=str(path), field="rounds")
    return metrics


def read_card(run_dir: Path) -> dict[str, Any] | None:
    """``card.json`` of a run directory, or ``None`` when there is none (a run scored
    before cards were written).

    Raises:
        DataFormatError: the file is not a JSON object.
    """
    return _read_json_object(Path(run_dir) / CARD_FILE)


# --------------------------------------------------------------------------- settings

_CONFIG_ALIASES: Mapping[str, tuple[str, ...]] = {
    "protocol": ("protocol",),
    "reference_policy": ("reference_policy", "reference", "policy"),
    "model": ("model", "model_spec", "spec"),
    "backend": ("backend",),
    "prompt": ("prompt", "prompt_name"),
    "segmenter": ("segmenter",),
    "data": ("data", "data_path"),
    "images_root": ("images_root",),
    "data_source": ("data_source", "source"),
}
_NESTED_VALUE_KEYS = ("spec", "name", "path", "value")


def _setting(config: Mapping[str, Any], names: Sequence[str]) -> str | None:
    for name in names:
        value = config.get(name)
        if isinstance(value, Mapping):
            value = next((value[k] for k in _NESTED_VALUE_KEYS if value.get(k) is not None), None)
        if value is not None:
            return str(value)
    return None


def _shard_text(value: Any) -> str | None:
    """``"I/N"`` from ``"I/N"``, ``[I, N]`` or ``{"index": I, "count": N}``."""
    if isinstance(value, Mapping):
        index, count = value.get("index"), value.get("count", value.get("total"))
        return f"{index}/{count}" if index is not None and count is not None else None
    if isinstance(value, list | tuple) and len(value) == 2:
        return f"{value[0]}/{value[1]}"
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class RunSettings:
    """The settings of a run that its report states, read from ``config.json``.

    Attributes are strings as written by ``regionreasoner eval`` (``None`` when the
    config does not say). ``backend`` defaults to the model spec's prefix
    (``hf:...`` -> ``hf``). ``max_image_pixels`` is the run's image pixel limit (an
    integer; ``None`` for runs recorded before it was), which the gallery applies too.
    """

    protocol: str | None = None
    reference_policy: str | None = None
    model: str | None = None
    backend: str | None = None
    prompt: str | None = None
    segmenter: str | None = None
    data: str | None = None
    images_root: str | None = None
    data_source: str | None = None
    shard: str | None = None
    max_image_pixels: int | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RunSettings:
        """Settings from a ``config.json`` object (a few key spellings accepted)."""
        values = {name: _setting(config, aliases) for name, aliases in _CONFIG_ALIASES.items()}
        values["shard"] = _shard_text(config.get("shard"))
        limit = config.get("max_image_pixels")
        values["max_image_pixels"] = (
            limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None
        )
        if values["backend"] is None and values["model"]:
            values["backend"] = values["model"].split(":", 1)[0]
        return cls(**values)

    @property
    def segmentation(self) -> bool:
        """Whether the run produced masks (``False`` only for ``--segmenter none``)."""
        return self.segmenter != NO_SEGMENTER


def load_run_settings(run_dir: Path) -> RunSettings:
    """Check a run directory (:func:`require_run_dir`) and read its settings.

    Raises:
        UserInputError, DataFormatError: as :func:`require_run_dir`.
    """
    return RunSettings.from_config(require_run_dir(run_dir))


def merge_settings(settings: Sequence[RunSettings], run_dirs: Sequence[Path]) -> RunSettings:
    """The common settings of shard directories.

    Raises:
        UserInputError: two directories differ in one of :data:`MERGE_KEYS`.
    """
    first = settings[0]
    for other, run_dir in zip(settings[1:], run_dirs[1:], strict=True):
        for key in MERGE_KEYS:
            mine, theirs = getattr(first, key), getattr(other, key)
            if mine != theirs:
                raise UserInputError(
                    f"cannot merge {run_dirs[0]} and {run_dir}: their {CONFIG_FILE} differ in "
                    f"{key!r} ({mine!r} vs {theirs!r}); only shards of one run can be merged"
                )
    return first


def predictions_paths(run_dirs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """``predictions.jsonl`` of each run directory, in order (the shards of one run)."""
    return [Path(d) / PREDICTIONS_FILE for d in run_dirs]


__all__ = [
    "CARD_FILE",
    "CONFIG_FILE",
    "MERGE_KEYS",
    "METRICS_FILE",
    "NO_SEGMENTER",
    "PREDICTIONS_FILE",
    "REPORT_FILES",
    "REPORT_HTML_FILE",
    "REPORT_MD_FILE",
    "RESUME_KEYS",
    "ROUNDS_PNG_FILE",
    "RUN_FILES",
    "RunSettings",
    "check_resume_compatible",
    "check_run_dir",
    "discard_run_files",
    "load_run_settings",
    "merge_settings",
    "predictions_paths",
    "prepare_run_dir",
    "read_card",
    "read_config",
    "read_metrics",
    "require_run_dir",
    "write_config",
    "write_json",
]
