"""The reproducibility card of a run (``card.json``): what produced its numbers.

:func:`build_card` is a pure function of its inputs: the run's settings (the content of
``config.json``), a summary of the benchmark file (:func:`summarize_data`), the prompt
(:class:`PromptText`), the environment (:func:`current_environment`), the checkpoint's
config hash (:func:`checkpoint_config_hash`) and, when the run is scored, its metrics.
:func:`make_card` gathers those pieces and calls it. The card holds:

- ``software``: the versions the run recorded in ``config.json`` (``run_versions``) and
  the package version, git revision and versions of the code that built the card
  (``git_revision`` is ``None`` outside a git checkout of this package, or without git);
- ``model``: the spec, the backend and, for ``hf:``, the SHA-256 of the checkpoint's
  ``config.json`` (``None`` when the file cannot be found locally);
- ``prompt``: the name and the SHA-256 of its rendered text (:class:`PromptText`), and
  where that text came from (``text_source``: the run's ``config.json``, or a template);
- ``protocol``, ``reference_policy``, ``frame``, ``segmenter``, ``decoding``
  (temperature, greedy, max_new_tokens) and ``seed``;
- ``data``: the benchmark file's SHA-256 (streamed), size and counts (see
  :class:`DataSummary` for what ``dialogues``, ``turns``, ``images``, ``instances`` and
  ``expressions`` count), the counting unit and the benchmark it is recognised as;
- ``published``: when the benchmark has published numbers (RegionDial-Bench
  RefCOCO+/RefCOCOg, or a single-round RefCOCO+/RefCOCOg test split), each published
  figure with ours, our interval and the gap ``ours - published`` (fractions, like
  ``metrics.json``).

``eval`` writes the card with the reports and ``score`` rebuilds it
(:func:`regionreasoner.evaluation.report.write_reports`); the report shows it at the
top (:func:`regionreasoner.evaluation.tables.card_tables`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from regionreasoner.data.io import iter_dialogues
from regionreasoner.data.schema import Dialogue
from regionreasoner.data.tasks import COUNT_TURN, META_COUNTING_UNIT
from regionreasoner.evaluation.bootstrap import interval_key
from regionreasoner.evaluation.published import PublishedFigure, identify_published
from regionreasoner.evaluation.run_dir import CARD_FILE
from regionreasoner.provenance import PACKAGE_NAME, software_versions

logger = logging.getLogger(__name__)

CARD_SCHEMA_VERSION = 1
"""Version of the card's layout."""

PROMPT_PROBE_QUESTION = "The Question?"
"""The question a prompt is rendered with for its hash: its case and final "?" show
whether and how the prompt normalises questions, so that change is hashed too."""

PROMPT_TEXT_KEY = "prompt_text"
"""``config.json`` key of the prompt as the run asked it (:meth:`PromptText.to_config`),
written by ``eval`` so that a later ``score`` hashes what was asked, not today's template."""

PROMPT_FROM_CONFIG = "config.json"
"""``prompt.text_source`` of a card whose prompt hash is of the text the run recorded."""

PROMPT_FROM_TEMPLATE = "template"
"""``prompt.text_source`` of a card whose prompt text was passed in (a run that
recorded none: the template of the code that built the card)."""

HASH_CHUNK_BYTES = 1 << 20
"""Bytes read at a time when hashing a file."""

GIT_TIMEOUT_S = 5.0
"""Longest wait for one ``git`` call."""

HF_SPEC_PREFIX = "hf:"
"""Model specs whose checkpoint config is hashed."""

CHECKPOINT_CONFIG = "config.json"
"""The checkpoint file whose hash identifies the architecture and its settings."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file, read in :data:`HASH_CHUNK_BYTES` chunks (bounded memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


class RenderablePrompt(Protocol):
    """What :meth:`PromptText.from_template` needs of a prompt template."""

    name: str
    system: str | None

    def render_user(self, question: str) -> str: ...


@dataclass(frozen=True, slots=True)
class PromptText:
    """A prompt as the model sees it.

    Attributes:
        name: the registry name (``--prompt``).
        system: the system message, or ``None`` (the chat template's default).
        user: the user message rendered for :data:`PROMPT_PROBE_QUESTION`.
    """

    name: str
    system: str | None
    user: str

    @classmethod
    def from_template(cls, template: RenderablePrompt) -> PromptText:
        """The text of a :class:`~regionreasoner.dialogue.prompts.PromptTemplate`."""
        return cls(template.name, template.system, template.render_user(PROMPT_PROBE_QUESTION))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PromptText | None:
        """The text a run recorded in ``config.json`` (:data:`PROMPT_TEXT_KEY`), if any."""
        stored = config.get(PROMPT_TEXT_KEY)
        if not isinstance(stored, Mapping) or not isinstance(stored.get("user"), str):
            return None
        return cls(str(config.get("prompt")), stored.get("system"), stored["user"])

    def to_config(self) -> dict[str, str | None]:
        """The ``config.json`` entry (:data:`PROMPT_TEXT_KEY`): ``{"system", "user"}``."""
        return {"system": self.system, "user": self.user}

    @property
    def sha256(self) -> str:
        """SHA-256 of the system and user texts (canonical JSON, so both are delimited)."""
        canonical = json.dumps(
            {"system": self.system, "user": self.user}, sort_keys=True, ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Environment:
    """The code that builds a card: versions and, in a git checkout, the revision."""

    versions: Mapping[str, str | None]
    git_revision: str | None = None
    git_dirty: bool | None = None


def _git(args: Sequence[str], cwd: Path) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run(
            [git, *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        logger.debug("git %s failed: %s", " ".join(args), e)
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_revision(package_file: str | os.PathLike[str]) -> tuple[str | None, bool | None]:
    """``(revision, dirty)`` of the git checkout that tracks ``package_file``.

    ``(None, None)`` when git is absent, the file is not in a git work tree, or the work
    tree does not track it (e.g. a virtual environment inside some other repository).
    """
    path = Path(package_file).resolve()
    cwd = path.parent
    if _git(["ls-files", "--error-unmatch", path.name], cwd) is None:
        return None, None
    revision = _git(["rev-parse", "HEAD"], cwd)
    if revision is None:
        return None, None
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return revision, None if status is None else bool(status)


def current_environment(packages: Sequence[str] = ()) -> Environment:
    """Versions (:func:`~regionreasoner.provenance.software_versions`) and git revision."""
    import regionreasoner

    revision, dirty = git_revision(regionreasoner.__file__)
    return Environment(software_versions(packages), revision, dirty)


def _cached_hub_file(repo_id: str, filename: str) -> Path | None:
    """``filename`` of hub repo ``repo_id`` in the local Hugging Face cache (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        cached = try_to_load_from_cache(repo_id, filename)
    except ValueError as e:  # not a valid repo id
        logger.debug("%s: not a hub id (%s)", repo_id, e)
        return None
    return Path(cached) if isinstance(cached, str) and Path(cached).is_file() else None


def checkpoint_config_hash(model_spec: str | None) -> dict[str, Any] | None:
    """For an ``hf:`` spec, the SHA-256 of the checkpoint's ``config.json``.

    A local directory is read directly; a hub id is looked up in the local Hugging Face
    cache only (``huggingface_hub.try_to_load_from_cache``, no network). Returns
    ``None`` for other backends, else ``{"sha256": hex or None, "path": str or None}``.
    """
    if not model_spec or not model_spec.startswith(HF_SPEC_PREFIX):
        return None
    target = model_spec[len(HF_SPEC_PREFIX) :]
    candidate = Path(target) / CHECKPOINT_CONFIG
    path = candidate if candidate.is_file() else _cached_hub_file(target, CHECKPOINT_CONFIG)
    if path is None:
        return {"sha256": None, "path": None}
    return {"sha256": sha256_file(path), "path": str(path)}


@dataclass(frozen=True, slots=True)
class DataSummary:
    """What a benchmark file holds.

    Attributes:
        path: the file.
        sha256: SHA-256 of its bytes.
        size_bytes: its size.
        dialogues: records (lines).
        turns: turns of all records; each turn asks one question and is scored once.
        expressions: referring expressions asked, i.e. the turns (every turn's question
            is one expression, or one relation question over an earlier answer).
        images: distinct ``image`` values.
        instances: distinct target OBJECTS: ``(image, ann_id)`` of each turn's first
            target, or ``(image, box)`` without an ``ann_id``. Several expressions often
            describe one instance; published RefCOCO numbers count expressions.
        counting_unit: what a record counts, from ``meta["counting_unit"]`` when every
            record says the same (``expression`` for the single-round tasks), else
            ``turn``.
        sources: the distinct ``source`` values, sorted.
    """

    path: str
    sha256: str
    size_bytes: int
    dialogues: int
    turns: int
    expressions: int
    images: int
    instances: int
    counting_unit: str
    sources: tuple[str, ...] = field(default_factory=tuple)

    def counts(self) -> dict[str, int]:
        """The counts as a dict."""
        return {
            "dialogues": self.dialogues,
            "turns": self.turns,
            "expressions": self.expressions,
            "images": self.images,
            "instances": self.instances,
        }


def summarize_data(
    path: str | os.PathLike[str], dialogues: Iterable[Dialogue] | None = None
) -> DataSummary:
    """Hash and count a RegionDial JSONL file (two streaming passes, bounded memory).

    Args:
        path: the file.
        dialogues: its records when the caller has already read them (``score`` has):
            they are counted instead of reading the file again, which is then only
            hashed.

    Raises:
        DataFormatError: an invalid record, located by file and line.
    """
    records = iter_dialogues(path) if dialogues is None else dialogues
    count = turns = 0
    images: set[str] = set()
    instances: set[tuple[str, Any]] = set()
    units: set[str] = set()
    sources: set[str] = set()
    for dialogue in records:
        count += 1
        turns += len(dialogue.turns)
        images.add(dialogue.image)
        if dialogue.source:
            sources.add(dialogue.source)
        unit = dialogue.meta.get(META_COUNTING_UNIT) if isinstance(dialogue.meta, dict) else None
        units.add(str(unit) if unit else COUNT_TURN)
        for turn in dialogue.turns:
            target = turn.targets[0]
            key = target.ann_id if target.ann_id is not None else tuple(target.bbox)
            instances.add((dialogue.image, key))
    return DataSummary(
        path=str(path),
        sha256=sha256_file(path),
        size_bytes=Path(path).stat().st_size,
        dialogues=count,
        turns=turns,
        expressions=turns,
        images=len(images),
        instances=len(instances),
        counting_unit=units.pop() if len(units) == 1 else COUNT_TURN,
        sources=tuple(sorted(sources)),
    )


def _overall(metrics: Mapping[str, Any] | None, key: str) -> Any:
    return ((metrics or {}).get("overall") or {}).get(key)


def _figure(figure: PublishedFigure, metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    published = round(figure.value / 100, 6)
    ours = _overall(metrics, figure.metric)
    ours = None if ours is None else float(ours)
    return {
        "method": figure.method,
        "table": figure.table,
        "metric": figure.metric,
        "published": published,
        "ours": ours,
        "ours_ci": _overall(metrics, interval_key(figure.metric)),
        "gap": None if ours is None else round(ours - published, 6),
        "note": figure.note,
    }


def published_comparison(
    sources: Sequence[str], metrics: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The published figures for the data's benchmark, with ours and the gap.

    The benchmark is recognised by
    :func:`~regionreasoner.evaluation.published.identify_published`. Multi-round
    RegionDial-Bench: the turn-pooled "Avg" of Tables 1 (acc@0.5) and 2 (gIoU) against
    our ``overall``. A single-round test split: Table 10 against our ``overall``. Each
    figure carries our interval (``ours_ci``, when ``metrics`` has one). ``None`` for
    any other data.
    """
    data = identify_published(sources)
    if data is None:
        return None
    out: dict[str, Any] = {"benchmark": data.benchmark, "task": data.task}
    if data.split is not None:
        out["split"] = data.split
    out["figures"] = [_figure(f, metrics) for f in data.figures()]
    return out


def build_card(
    config: Mapping[str, Any],
    *,
    data: DataSummary | None,
    prompt: PromptText | None,
    environment: Environment,
    checkpoint: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``card.json`` content of a run (pure: every input is passed in).

    Args:
        config: the run's ``config.json`` content.
        data: the benchmark file's summary, or ``None`` when the file is unavailable.
        prompt: the prompt's text; ``None`` uses ``config["prompt_text"]``
            (``{"system", "user"}``, what the run asked) when present, else the card
            has no prompt hash. The card's ``prompt.text_source`` says which:
            ``"config.json"`` or ``"template"`` (the text passed in).
        environment: the code that builds the card.
        checkpoint: :func:`checkpoint_config_hash` of the model spec.
        metrics: the run's ``metrics.json`` content, for the published comparison.
    """
    text_source = None if prompt is None else PROMPT_FROM_TEMPLATE
    if prompt is None:
        prompt = PromptText.from_config(config)
        text_source = None if prompt is None else PROMPT_FROM_CONFIG
    temperature = config.get("temperature")
    model = config.get("model")
    data_entry: dict[str, Any] = {"path": config.get("data")}
    published = None
    if data is not None:
        data_entry = {
            "path": data.path,
            "sha256": data.sha256,
            "size_bytes": data.size_bytes,
            "counts": data.counts(),
            "counting_unit": data.counting_unit,
            "sources": list(data.sources),
        }
        published = published_comparison(data.sources, metrics)
    return {
        "schema_version": CARD_SCHEMA_VERSION,
        "software": {
            PACKAGE_NAME: environment.versions.get(PACKAGE_NAME),
            "git_revision": environment.git_revision,
            "git_dirty": environment.git_dirty,
            "versions": dict(environment.versions),
            "run_versions": config.get("versions"),
        },
        "model": {
            "spec": model,
            "backend": config.get("backend") or (str(model).split(":", 1)[0] if model else None),
            "checkpoint_config_sha256": (checkpoint or {}).get("sha256"),
            "backend_settings": config.get("backend_settings"),
        },
        "prompt": {
            "name": prompt.name if prompt is not None else config.get("prompt"),
            "sha256": prompt.sha256 if prompt is not None else None,
            "text_source": text_source,
        },
        "protocol": config.get("protocol"),
        "reference_policy": config.get("reference_policy"),
        "frame": config.get("frame"),
        "segmenter": config.get("segmenter"),
        "decoding": {
            "temperature": temperature,
            "greedy": None if temperature is None else float(temperature) == 0.0,
            "max_new_tokens": config.get("max_new_tokens"),
        },
        "seed": config.get("seed"),
        "data": data_entry,
        "published": published,
    }


def recorded_packages(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The packages whose versions the run recorded in ``config.json`` (``versions``),
    so that the card compares the same packages at scoring time."""
    versions = config.get("versions")
    if not isinstance(versions, Mapping):
        return ()
    return tuple(str(name) for name in versions if name not in ("python", PACKAGE_NAME))


def make_card(
    config: Mapping[str, Any],
    *,
    data_path: str | os.PathLike[str] | None,
    prompt: PromptText | None = None,
    metrics: Mapping[str, Any] | None = None,
    packages: Sequence[str] | None = None,
    dialogues: Iterable[Dialogue] | None = None,
) -> dict[str, Any]:
    """:func:`build_card` with the pieces gathered from the files and the environment.

    Args:
        config: the run's ``config.json`` content.
        data_path: the benchmark file (``None`` or a missing file: no data summary);
            the card records its absolute path.
        prompt: the prompt's text (see :func:`build_card`).
        metrics: the run's metrics, for the published comparison.
        packages: packages whose versions the card records (beside Python's and ours);
            default :func:`recorded_packages`.
        dialogues: the records of ``data_path`` when already read (see
            :func:`summarize_data`).
    """
    data = None
    if data_path is not None and Path(data_path).is_file():
        data = summarize_data(Path(data_path).resolve(), dialogues)
    if packages is None:
        packages = recorded_packages(config)
    return build_card(
        config,
        data=data,
        prompt=prompt,
        environment=current_environment(packages),
        checkpoint=checkpoint_config_hash(config.get("model")),
        metrics=metrics,
    )


__all__ = [
    "CARD_FILE",
    "CARD_SCHEMA_VERSION",
    "PROMPT_FROM_CONFIG",
    "PROMPT_FROM_TEMPLATE",
    "PROMPT_PROBE_QUESTION",
    "PROMPT_TEXT_KEY",
    "DataSummary",
    "Environment",
    "PromptText",
    "build_card",
    "checkpoint_config_hash",
    "current_environment",
    "git_revision",
    "make_card",
    "published_comparison",
    "recorded_packages",
    "sha256_file",
    "summarize_data",
]
