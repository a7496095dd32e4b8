"""The library entry point of an evaluation: :func:`evaluate` (what ``regionreasoner eval`` runs).

``regionreasoner eval`` parses its flags into an :class:`EvalSettings` and calls
:func:`evaluate`; ``demo``, the benchmarks and the tests call it directly. One call runs
a model over a RegionDial JSONL file, round by round, into a run directory (DESIGN 3.3:
``config.json``, ``predictions.jsonl`` appended as turns finish, then ``metrics.json``,
``card.json``, ``report.md``, ``rounds.png`` and ``report.html``) and returns what it did::

    from regionreasoner import EvalSettings, evaluate

    result = evaluate(EvalSettings(data="bench.jsonl", model="oracle",
                                   segmenter="box-fill", out="runs/oracle"))
    result.metrics["overall"]["acc@0.5"]

The pieces a turn goes through (backend, segmenter, protocol, prompt) are an
:class:`Engine`, loaded from the model half of the settings (:class:`EngineSettings`),
which ``serve`` shares. A caller that evaluates one loaded model several times (a
benchmark) loads the engine once and passes it to each call.

An interrupted call (``KeyboardInterrupt``, including the CLI's SIGTERM handler) leaves a
resumable run directory: rows already written stay, the backend and the segmenter are
released, and the exception propagates to the caller. ``evaluate(dataclasses.replace(settings,
resume=True))`` continues it; no turn is lost or done twice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Protocol

from regionreasoner.backends import BackendOptions, load_backend
from regionreasoner.backends.base import DEFAULT_MAX_NEW_TOKENS, Backend
from regionreasoner.data.images import DEFAULT_MAX_IMAGE_PIXELS, check_max_pixels
from regionreasoner.data.io import read_dialogues
from regionreasoner.data.schema import Dialogue
from regionreasoner.dialogue.policy import ReferencePolicy, get_reference_policy
from regionreasoner.dialogue.probe import ProbeResult, Progress, run_probe
from regionreasoner.dialogue.prompts import PromptTemplate, get_prompt
from regionreasoner.dialogue.protocols import (
    DEFAULT_FRAME,
    PROTOCOLS,
    EvalProtocol,
    get_protocol,
)
from regionreasoner.dialogue.runner import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_WINDOW,
    DialogueRunner,
    RunStats,
    check_images,
)
from regionreasoner.errors import ConfigError, UserInputError
from regionreasoner.evaluation.card import PROMPT_TEXT_KEY, PromptText
from regionreasoner.evaluation.predictions import (
    PredictionsLog,
    read_done_rows,
    repair_torn_tail,
)
from regionreasoner.evaluation.report import write_reports
from regionreasoner.evaluation.run_dir import (
    CONFIG_FILE,
    PREDICTIONS_FILE,
    check_resume_compatible,
    check_run_dir,
    discard_run_files,
    prepare_run_dir,
    read_config,
    write_config,
)
from regionreasoner.geometry.frames import AUTO_FRAME
from regionreasoner.provenance import software_versions
from regionreasoner.segmenters import DEFAULT_SEGMENTER, Segmenter, load_segmenter

DEFAULT_PROTOCOL = "paper"
DEFAULT_PROMPT = "regionreasoner"
DEFAULT_REFERENCE_POLICY = "predicted"

VERSIONS_RECORDED = ("numpy", "pillow", "pycocotools", "torch", "transformers", "sam2", "httpx")
"""Packages whose versions ``config.json`` records (``versions``), beside Python's and
this package's own."""


def _path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None else Path(value)


@dataclass(frozen=True, kw_only=True)
class EngineSettings(BackendOptions):
    """What answers a question: the model, how turns are asked and read, and masks.

    The backend's options (:class:`~regionreasoner.backends.base.BackendOptions`:
    ``dtype``, ``device``, ``device_map``, ``attn_implementation``, ``concurrency``,
    ``request_timeout_s``, ``max_retries``, ``retry_backoff_s``, ``image_format``,
    ``temperature``, ``seed``) and:

    Attributes:
        model: model spec (``hf:PATH``, ``openai:URL#MODEL``, ``replay:FILE``, ``oracle``).
        protocol: ``paper`` or ``official``.
        frame: model frame of the ``paper`` protocol (a
            :data:`~regionreasoner.geometry.frames.FRAMES` name), or ``auto``: the
            engine runs the frame probe (:mod:`regionreasoner.dialogue.probe`) with this
            model and prompt when it loads, and uses the frame it names
            (:meth:`Engine.load`).
        prompt: prompt template name.
        segmenter: segmenter spec (``sam2[...]``, ``box-fill``, ``none``).
        max_new_tokens: generation budget per turn.
        max_image_pixels: largest image accepted, in stored pixels (W x H); a larger one
            is refused from its header, before decoding (``docs/data_format.md``,
            section 5).

    The defaults are those of ``regionreasoner eval``; each field is the flag of the same
    name (``request_timeout_s``: ``--request-timeout``).
    """

    model: str
    protocol: str = DEFAULT_PROTOCOL
    frame: str = DEFAULT_FRAME
    prompt: str = DEFAULT_PROMPT
    segmenter: str = DEFAULT_SEGMENTER
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError(f"--max-new-tokens must be >= 1, got {self.max_new_tokens}")
        check_max_pixels(self.max_image_pixels, what="--max-image-pixels")
        if self.max_retries < 0:
            raise ConfigError(f"--max-retries must be >= 0, got {self.max_retries}")
        if self.frame == AUTO_FRAME:
            fixed = PROTOCOLS.get(self.protocol).fixed_frame
            if fixed is not None:
                raise ConfigError(
                    f"--frame {AUTO_FRAME}: the {self.protocol} protocol always uses the "
                    f"{fixed} frame; drop --frame"
                )
        BackendOptions.__post_init__(self)

    @property
    def auto_frame(self) -> bool:
        """Whether the frame is left to the frame probe (``frame="auto"``)."""
        return self.frame == AUTO_FRAME

    def backend_options(self) -> BackendOptions:
        """The backend's options alone (what ``load_backend`` takes)."""
        return BackendOptions(**{f.name: getattr(self, f.name) for f in fields(BackendOptions)})

    def protocol_and_prompt(self) -> tuple[EvalProtocol, PromptTemplate]:
        """The protocol (checked against the decoding) and the prompt template, by name.

        Raises:
            UnknownComponentError: an unknown name.
            ConfigError: the protocol refuses the frame or the decoding; the frame is
                ``auto`` (resolve it first: :meth:`Engine.load` runs the probe).
        """
        if self.auto_frame:
            raise ConfigError(
                f"--frame {AUTO_FRAME} is resolved by the frame probe when the engine loads"
            )
        protocol = get_protocol(self.protocol, frame=self.frame)
        protocol.check_decoding(greedy=self.greedy)
        return protocol, get_prompt(self.prompt)


@dataclass
class Engine:
    """The loaded pieces a turn goes through (release them with :meth:`close`).

    Attributes:
        backend: generates the answers.
        segmenter: turns predicted regions into masks.
        protocol: frame, reference writing and answer reading.
        prompt: the prompt template.
        frame_probe: the frame probe's result when the settings' frame was ``auto``
            (its verdict is ``protocol.frame_name``), else ``None``.
    """

    backend: Backend
    segmenter: Segmenter
    protocol: EvalProtocol
    prompt: PromptTemplate
    frame_probe: ProbeResult | None = None

    @classmethod
    def load(
        cls,
        settings: EngineSettings,
        *,
        backend: Backend | None = None,
        probe_progress: Progress[Any] | None = None,
    ) -> Engine:
        """Resolve the names and load the segmenter, then the backend (the segmenter
        loads quicker than a large model, so a bad segmenter spec fails fast).

        With ``frame="auto"``, the frame probe then asks the loaded model about its
        synthetic scenes in every registered frame, with the settings' prompt and
        generation budget (:func:`probe_frame`), and the engine uses the frame it names.

        Args:
            settings: what to load.
            backend: a backend object to use instead of loading ``settings.model`` (a
                test double or an instrumented backend); it is closed with the engine.
            probe_progress: wraps the probe's loop over batches (``frame="auto"``).

        Raises:
            UnknownComponentError, ConfigError: a bad name, spec or option.
            MissingDependencyError: an extra (``hf``, ``openai``, ``sam2``) is missing.
            UserInputError: ``frame="auto"`` and no frame is a clear winner (the
                backend and the segmenter are released).
        """
        if not settings.auto_frame:
            settings.protocol_and_prompt()  # bad names fail before anything loads
        else:
            get_prompt(settings.prompt)
        options = settings.backend_options()
        segmenter = load_segmenter(settings.segmenter, device=settings.device)
        try:
            if backend is None:
                backend = load_backend(settings.model, options)
            probe = None
            if settings.auto_frame:
                probe = probe_frame(backend, settings, progress=probe_progress)
                settings = replace(settings, frame=probe.verdict)
            protocol, prompt = settings.protocol_and_prompt()
        except BaseException:
            try:
                if backend is not None:
                    backend.close()
            finally:
                segmenter.close()
            raise
        return cls(backend, segmenter, protocol, prompt, probe)

    def close(self) -> None:
        """Release the backend and the segmenter."""
        try:
            self.backend.close()
        finally:
            self.segmenter.close()


def probe_frame(
    backend: Backend, settings: EngineSettings, *, progress: Progress[Any] | None = None
) -> ProbeResult:
    """Run the frame probe (:func:`~regionreasoner.dialogue.probe.run_probe`, every
    registered frame) on ``backend`` with the settings' prompt and generation budget, as
    ``--frame auto`` does; returns a result with a verdict.

    Raises:
        UserInputError: no frame is a clear winner (the message gives the probe's reason).
    """
    result = run_probe(
        backend,
        get_prompt(settings.prompt),
        batch_size=getattr(backend, "preferred_batch_size", None) or DEFAULT_BATCH_SIZE,
        max_new_tokens=settings.max_new_tokens,
        **({} if progress is None else {"progress": progress}),
    )
    if not result.clear:
        raise UserInputError(
            f"--frame {AUTO_FRAME}: the frame probe found no clear winner for "
            f"{settings.model}: {result.reason}; pass --frame NAME (`regionreasoner "
            "probe-frame` prints the whole table)"
        )
    return result


@dataclass(frozen=True, kw_only=True)
class EvalSettings(EngineSettings):
    """Everything an evaluation is run with (``regionreasoner eval``'s flags).

    Beside the :class:`EngineSettings` (paths may be given as strings):

    Attributes:
        data: the RegionDial JSONL benchmark.
        out: the run directory (new or empty unless ``resume``/``overwrite``).
        reference: reference policy, ``predicted`` (the model's own earlier box) or
            ``oracle`` (ground-truth references).
        images_root: folder the image paths are relative to (default: the data's folder).
        resume: continue an interrupted run in ``out`` with the same settings.
        overwrite: start again in a non-empty ``out`` (removes only the run's files).
        shard: ``(I, N)``: only dialogues whose 0-based index in the file is I modulo N.
        limit: only the first N dialogues (of the shard).
        batch_size: requests per model call (default: the backend's preferred size,
            else 8).
        window: dialogues in flight at once.
        reports: score the run and write ``metrics.json``, ``card.json`` and the
            reports at the end (``False``: only ``config.json`` and
            ``predictions.jsonl``, to score later with ``regionreasoner score``).
    """

    data: Path
    out: Path
    reference: str = DEFAULT_REFERENCE_POLICY
    images_root: Path | None = None
    resume: bool = False
    overwrite: bool = False
    shard: tuple[int, int] | None = None
    limit: int | None = None
    batch_size: int | None = None
    window: int = DEFAULT_WINDOW
    reports: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "data", Path(self.data))
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "images_root", _path(self.images_root))
        if self.shard is not None:
            index, count = self.shard
            if count < 1 or not 0 <= index < count:
                raise ConfigError(f"--shard: expected I/N with 0 <= I < N, got {index}/{count}")
        for name in ("limit", "batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if self.window < 1:
            raise ConfigError(f"--window must be >= 1, got {self.window}")

    @property
    def predictions_path(self) -> Path:
        """The run's ``predictions.jsonl``."""
        return self.out / PREDICTIONS_FILE


class EvalProgress(Protocol):
    """Receives the progress of :func:`evaluate` (the CLI draws a bar with it)."""

    def start(self, *, todo: int, done: int, predictions: Path) -> None:
        """The run starts: ``todo`` turns to answer, ``done`` already in ``predictions``."""

    def update(self, turns: int) -> None:
        """``turns`` more turns are finished."""

    def close(self) -> None:
        """The run ended (finished, failed or interrupted)."""


@dataclass(frozen=True)
class EvalResult:
    """What :func:`evaluate` did.

    Attributes:
        out: the run directory.
        metrics: the ``metrics.json`` dict, or ``None`` when ``reports`` was off.
        stats: turns answered, failures, model calls and timings of this call.
        resumed_turns: turns found already done in ``predictions.jsonl``.
        config: the run's ``config.json``.
    """

    out: Path
    metrics: dict[str, Any] | None
    stats: RunStats
    resumed_turns: int
    config: dict[str, Any]


def _select(dialogues: list[Dialogue], settings: EvalSettings) -> list[Dialogue]:
    if settings.shard is not None:
        index, count = settings.shard
        dialogues = [d for i, d in enumerate(dialogues) if i % count == index]
    if settings.limit is not None:
        dialogues = dialogues[: settings.limit]
    return dialogues


def _output_settings(
    settings: EvalSettings,
    protocol: EvalProtocol,
    policy: ReferencePolicy,
    prompt: PromptTemplate,
) -> dict[str, Any]:
    """The settings ``config.json`` records first (those a resume compares, and where
    the images are)."""
    return {
        "data": str(settings.data.resolve()),
        "images_root": str(settings.images_root.resolve()) if settings.images_root else None,
        "model": settings.model,
        "protocol": protocol.name,
        "reference_policy": policy.name,
        "prompt": prompt.name,
        "frame": protocol.frame_name,
        "segmenter": settings.segmenter,
        "shard": f"{settings.shard[0]}/{settings.shard[1]}" if settings.shard else None,
        "limit": settings.limit,
        "max_new_tokens": settings.max_new_tokens,
        "temperature": settings.temperature,
        "seed": settings.seed,
    }


def _check_engine(engine: Engine, protocol: EvalProtocol, prompt: PromptTemplate) -> None:
    if (engine.protocol.name, engine.protocol.frame_name, engine.prompt.name) != (
        protocol.name,
        protocol.frame_name,
        prompt.name,
    ):
        raise ValueError(
            f"the engine was loaded for protocol {engine.protocol.name!r} (frame "
            f"{engine.protocol.frame_name!r}) and prompt {engine.prompt.name!r}; the settings "
            f"say {protocol.name!r} ({protocol.frame_name!r}) and {prompt.name!r}"
        )


def evaluate(
    settings: EvalSettings,
    progress: EvalProgress | None = None,
    *,
    engine: Engine | None = None,
    probe_progress: Progress[Any] | None = None,
) -> EvalResult:
    """Run a multi-round evaluation into ``settings.out`` and score it.

    With ``frame="auto"``, the engine runs the frame probe when it loads and the run uses
    the frame it names; ``config.json`` records the probe's table (``frame_probe``). A
    resumed run (``resume``) keeps the frame its ``config.json`` records, without probing
    again; an explicit frame must be that frame.

    Args:
        settings: what to run (see :class:`EvalSettings`).
        progress: told how many turns there are and as each batch finishes.
        engine: an already loaded engine to use (and leave open) instead of loading
            one from ``settings``; its protocol and prompt must be the settings' ones
            (with ``frame="auto"``: the engine's frame is used).
        probe_progress: wraps the frame probe's loop over batches (``frame="auto"``).

    Returns:
        The metrics (when ``settings.reports``), the run statistics and the config.

    Raises:
        UserInputError: bad settings, data or run directory, or no clear frame for
            ``frame="auto"`` (nothing is written, and nothing is changed in an existing
            run directory, when the checks fail).
        DataFormatError: a bad data file or a bad row in ``predictions.jsonl``.
        UnknownComponentError, ConfigError, MissingDependencyError: from loading.
        KeyboardInterrupt: the run was interrupted; it can be resumed.
    """
    data, out = settings.data, settings.out
    if not data.is_file():
        raise UserInputError(f"--data {data}: file not found")
    policy = get_reference_policy(settings.reference)

    dialogues = _select(read_dialogues(data), settings)
    if not dialogues:
        raise UserInputError(f"--data {data}: no dialogues to evaluate (empty file or shard)")
    check_run_dir(out, resume=settings.resume, overwrite=settings.overwrite)
    previous = read_config(out) if settings.resume else None
    if settings.auto_frame:
        settings = _known_frame(settings, previous, engine)
    output_settings = None
    if not settings.auto_frame:
        protocol, prompt = settings.protocol_and_prompt()
        output_settings = _output_settings(settings, protocol, policy, prompt)
        if previous is not None:
            check_resume_compatible(previous, output_settings)
    check_images(
        dialogues,
        data_path=data,
        images_root=settings.images_root,
        max_pixels=settings.max_image_pixels,
    )

    owned = engine is None
    if engine is None:
        engine = Engine.load(settings, probe_progress=probe_progress)
    else:
        _check_engine(engine, protocol, prompt)
    try:
        if output_settings is None:  # the probe has chosen the frame
            settings = replace(settings, frame=engine.protocol.frame_name)
            output_settings = _output_settings(settings, engine.protocol, policy, engine.prompt)
        return _run(settings, engine, policy, dialogues, output_settings, previous, progress)
    finally:
        if owned:
            engine.close()


def _known_frame(
    settings: EvalSettings, previous: dict[str, Any] | None, engine: Engine | None
) -> EvalSettings:
    """``frame="auto"`` resolved without probing where the frame is already known: a
    resumed run keeps the frame of its ``config.json``; a caller's engine brings its own.
    Otherwise the settings are returned as they are (the engine will probe)."""
    if previous is not None:
        recorded = previous.get("frame")
        if not isinstance(recorded, str) or recorded == AUTO_FRAME:
            raise UserInputError(
                f"cannot resume with --frame {AUTO_FRAME}: {CONFIG_FILE} records no frame "
                f"(got {recorded!r}); pass --frame NAME"
            )
        return replace(settings, frame=recorded)
    if engine is not None:
        return replace(settings, frame=engine.protocol.frame_name)
    return settings


def _run(
    settings: EvalSettings,
    engine: Engine,
    policy: ReferencePolicy,
    dialogues: list[Dialogue],
    output_settings: dict[str, Any],
    previous: dict[str, Any] | None,
    progress: EvalProgress | None,
) -> EvalResult:
    out, predictions = settings.out, settings.predictions_path
    runner = DialogueRunner(
        engine.backend,
        engine.segmenter,
        engine.protocol,
        policy,
        engine.prompt,
        data_path=settings.data,
        images_root=settings.images_root,
        batch_size=(
            settings.batch_size
            or getattr(engine.backend, "preferred_batch_size", None)
            or DEFAULT_BATCH_SIZE
        ),
        window=settings.window,
        max_new_tokens=settings.max_new_tokens,
        max_pixels=settings.max_image_pixels,
    )
    created = not out.exists()
    prepare_run_dir(out, resume=settings.resume, overwrite=settings.overwrite)
    done = {}
    if settings.resume:
        repair_torn_tail(predictions)
        done = read_done_rows(predictions)
    config = previous
    if config is None:
        config = {
            **output_settings,
            "dialogues": len(dialogues),
            "turns": sum(len(d.turns) for d in dialogues),
            "batch_size": runner.batch_size,
            "window": runner.window,
            "max_image_pixels": settings.max_image_pixels,
            "backend": engine.backend.name,
            "backend_settings": engine.backend.describe(),
            "segmenter_settings": engine.segmenter.describe(),
            "protocol_settings": engine.protocol.describe(),
            "frame_probe": (
                None if engine.frame_probe is None else engine.frame_probe.to_dict(answers=False)
            ),
            "system_prompt": engine.prompt.system,
            PROMPT_TEXT_KEY: PromptText.from_template(engine.prompt).to_config(),
            "versions": software_versions(VERSIONS_RECORDED),
        }
        write_config(out, config)

    todo = runner.pending_turns(dialogues, done)
    if progress is not None:
        progress.start(todo=todo, done=len(done), predictions=predictions)
    log = PredictionsLog(predictions)
    try:
        with log:
            stats = runner.run(
                dialogues,
                done=done,
                emit=log.append,
                end_round=log.sync,
                progress=progress.update if progress is not None else None,
            )
    except UserInputError:
        # Bad input found before any row (e.g. a damaged image in the first window):
        # a new run leaves nothing behind; rows already written stay, resumable.
        if previous is None and log.rows_written == 0:
            discard_run_files(out, remove_dir=created)
        raise
    finally:
        if progress is not None:
            progress.close()

    metrics = write_reports([out], data_path=settings.data) if settings.reports else None
    return EvalResult(out, metrics, stats, len(done), config)


__all__ = [
    "DEFAULT_PROMPT",
    "DEFAULT_PROTOCOL",
    "DEFAULT_REFERENCE_POLICY",
    "VERSIONS_RECORDED",
    "Engine",
    "EngineSettings",
    "EvalProgress",
    "EvalResult",
    "EvalSettings",
    "evaluate",
    "probe_frame",
]
