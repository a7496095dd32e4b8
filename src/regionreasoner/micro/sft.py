"""Supervised warm start of the micro model: a plain PyTorch loop and its evaluation.

Why a plain loop and not ``regionreasoner train --stage sft``: on a 2-core CPU the
warm start needs thousands of steps of a 5 M-parameter model; the loop here keeps the
images in memory, batches by hand and checkpoints by wall time, and saves the same HF
folder (``Qwen2_5_VLForConditionalGeneration`` + processor) that ``train --stage grpo``
and ``hf:<path>`` load. GRPO then runs through ``regionreasoner train``.

The samples and their target styles are :mod:`.samples`. Options of the loop: dense
visual-token probes (``--aux-weight``, :mod:`.probes`), Gaussian soft targets on
coordinates (``--coord-sigma``), ``--device``. Run one stage with
``regionreasoner micro train`` (see ``--help``).
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regionreasoner._imports import require
from regionreasoner.geometry.boxes import IOU_HIT
from regionreasoner.geometry.frames import OFFICIAL_MODEL_SIZE
from regionreasoner.geometry.pairs import box_iou_pair
from regionreasoner.micro.model import (
    MICRO_IMAGE_SIDE,
    integer_tokens,
    new_micro_model,
    use_micro_chat_template,
)
from regionreasoner.micro.options import PROMPT_NAME
from regionreasoner.micro.probes import (
    CoordinateSoftLoss,
    attention_pointer_loss,
    aux_loss,
    build_probes,
    pointer_loss,
)
from regionreasoner.micro.qwen import save_pretrained_atomic
from regionreasoner.micro.samples import (
    MERGED_PATCH,
    ImageCache,
    MicroSample,
    collate,
    render_prompt,
    samples_from_bench,
)
from regionreasoner.parsing.response import parse_response

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "train_state.pt"
LOG_FILE = "train_log.jsonl"
EVAL_MAX_NEW_TOKENS = 200
EVAL_FORCED_TOKENS = 80
PROBE_SIGMA = 12.0
"""Soft-target width (pixels) of the vocabulary box probe when ``--coord-sigma`` is 0."""


_LISTED_BOX = re.compile(r"\[(\d+),(\d+),(\d+),(\d+)\]")


def scene_recall(scene: str | None, objects: Sequence[Sequence[int]]) -> float:
    """Fraction of the objects matched (IoU > 0.5) by some box listed in ``<scene>``."""
    listed = [tuple(int(v) for v in m.groups()) for m in _LISTED_BOX.finditer(scene or "")]
    hits = sum(any(_hit(box, obj) for box in listed) for obj in objects)
    return hits / max(len(objects), 1)


def _hit(pred: Sequence[float] | None, gt: Sequence[float]) -> float:
    return float(pred is not None and box_iou_pair(pred, gt) > IOU_HIT)


def _forced_prefix(sample: MicroSample) -> str:
    """The target's ``<scene>`` block and the newline after it (teacher-forced scene)."""
    end = sample.completion.index("</scene>") + len("</scene>\n")
    return sample.completion[:end]


def _generate(
    model: Any,
    processor: Any,
    images: ImageCache,
    chunk: Sequence[MicroSample],
    *,
    prefixes: Sequence[str],
    max_new_tokens: int,
) -> list[str]:
    torch = require("torch", extra="hf")
    prompts = [
        render_prompt(processor, s) + prefix for s, prefix in zip(chunk, prefixes, strict=True)
    ]
    processor.tokenizer.padding_side = "left"
    inputs = processor(
        text=prompts, images=[images.get(s.image_path) for s in chunk],
        padding=True, return_tensors="pt",
    ).to(model.device)  # fmt: skip
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    texts = processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    return [prefix + text for prefix, text in zip(prefixes, texts, strict=True)]


def loss_breakdown(
    model: Any, processor: Any, images: ImageCache, samples: Sequence[MicroSample]
) -> dict[str, float]:
    """Mean per-token NLL (nats) of the target, split four ways.

    ``scene_int``/``scene_word``: integer / other tokens inside ``<scene>`` (perception);
    ``after_int``/``after_word``: after ``</scene>`` (selection: the integers there are
    copies of a listed box or of the reference). Uniform guessing over the ~225 integers
    a 224-px image maps to in the 840 frame costs ~5.4 nats.
    """
    torch = require("torch", extra="hf")
    tokenizer = processor.tokenizer
    int_ids = set(tokenizer.convert_tokens_to_ids(integer_tokens()))
    scene_end = tokenizer.convert_tokens_to_ids("</scene>")
    batch = _to_device(collate(processor, images, samples), model.device)
    labels = batch.pop("labels")
    model.eval()
    with torch.inference_mode():
        logits = model(**batch).logits[:, :-1].float()
    model.train()
    target = labels[:, 1:]
    nll = -torch.log_softmax(logits, dim=-1).gather(-1, target.clamp(min=0)[..., None])[..., 0]
    parts: dict[str, list[float]] = {}
    for row in range(target.shape[0]):
        after = False
        for col in range(target.shape[1]):
            token = int(target[row, col])
            if token == -100:
                continue
            key = ("after_" if after else "scene_") + ("int" if token in int_ids else "word")
            parts.setdefault(key, []).append(float(nll[row, col]))
            after = after or token == scene_end
    return {f"nll/{k}": round(sum(v) / len(v), 4) for k, v in sorted(parts.items())}


def evaluate(
    model: Any,
    processor: Any,
    images: ImageCache,
    samples: Sequence[MicroSample],
    *,
    batch_size: int = 16,
    max_new_tokens: int = EVAL_MAX_NEW_TOKENS,
    forced_scene: bool = True,
) -> dict[str, float]:
    """Greedy single-turn accuracy (ground-truth references) per kind, plus baselines.

    Keys ``<kind>/<metric>``: ``acc`` (IoU > 0.5), ``miou``, ``parsed``, ``on_object``
    (the answer matches SOME object), ``scene_recall`` (objects matched by a box listed
    in ``<scene>``) and ``random_object`` (expected accuracy of picking a random object,
    the reference excluded). With ``forced_scene`` also ``<kind>/forced_acc``: the
    accuracy when the ground-truth ``<scene>`` block is given (teacher forcing), i.e.
    the selection step alone, without the perception step.
    """
    model.eval()
    stats: dict[str, list[float]] = {}
    for start in range(0, len(samples), batch_size):
        chunk = samples[start : start + batch_size]
        texts = _generate(
            model, processor, images, chunk, prefixes=[""] * len(chunk),
            max_new_tokens=max_new_tokens,
        )  # fmt: skip
        forced = (
            _generate(
                model,
                processor,
                images,
                chunk,
                prefixes=[_forced_prefix(s) for s in chunk],
                max_new_tokens=EVAL_FORCED_TOKENS,
            )
            if forced_scene
            else [None] * len(chunk)
        )
        for sample, text, forced_text in zip(chunk, texts, forced, strict=True):
            parsed = parse_response(text, required_tags=("scene", "think", "answer"))
            boxes = parsed.regions.xyxy
            pred = [float(v) for v in boxes[0]] if len(boxes) else None
            objects = sample.object_xyxy
            candidates = [
                o for o in objects if sample.ref_xyxy is None or tuple(o) != sample.ref_xyxy
            ]
            chance = sum(_hit(o, sample.gt_xyxy) for o in candidates) / max(len(candidates), 1)
            on_object = float(pred is not None and any(_hit(pred, o) for o in objects))
            values = [
                ("acc", _hit(pred, sample.gt_xyxy)),
                ("miou", box_iou_pair(pred, sample.gt_xyxy) if pred else 0.0),
                ("parsed", float(pred is not None)),
                ("on_object", on_object),
                ("scene_recall", scene_recall(parsed.scene, objects)),
                ("random_object", chance),
            ]
            if forced_text is not None:
                forced_boxes = parse_response(forced_text).regions.xyxy
                forced_pred = [float(v) for v in forced_boxes[0]] if len(forced_boxes) else None
                values.append(("forced_acc", _hit(forced_pred, sample.gt_xyxy)))
            for key, value in values:
                stats.setdefault(f"{sample.kind}/{key}", []).append(value)
    out = {k: round(sum(v) / len(v), 4) for k, v in sorted(stats.items())}
    for start in range(0, len(samples), batch_size):
        for key, value in loss_breakdown(
            model, processor, images, samples[start : start + batch_size]
        ).items():
            stats.setdefault(key, []).append(value)
    out.update({k: round(sum(v) / len(v), 4) for k, v in stats.items() if k.startswith("nll/")})
    model.train()
    return out


@dataclass(frozen=True, slots=True)
class StageSpec:
    """One SFT stage: a benchmark folder, a step budget and a learning-rate schedule."""

    name: str
    bench: Path
    steps: int
    lr: float
    warmup: int = 50
    min_lr_frac: float = 0.1
    schedule_steps: int | None = None
    """Length of the cosine schedule (default ``steps``); a stage may stop before its end."""


def _lr(step: int, spec: StageSpec) -> float:
    if step < spec.warmup:
        return spec.lr * (step + 1) / spec.warmup
    length = spec.schedule_steps or spec.steps
    progress = min((step - spec.warmup) / max(length - spec.warmup, 1), 1.0)
    return spec.lr * (
        spec.min_lr_frac + (1 - spec.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress))
    )


def last_prompt_positions(labels: Any) -> Any:
    """Index of each row's last prompt token (the one before the first labelled token)."""
    torch = require("torch", extra="hf")
    labelled = labels != -100
    if not bool(labelled.any(dim=1).all()):
        raise ValueError("a row without labelled tokens")
    first = torch.argmax(labelled.int(), dim=1)
    return first - 1


def box_query_positions(input_ids: Any, labels: Any, box_ids: Sequence[int]) -> list[int]:
    """Positions of the tokens that predict a box's four coordinates in a completion.

    ``box_ids`` are the token ids of ``x1, y1, x2, y2``; the first labelled run
    ``x1 , y1 , x2 , y2`` (one separator token between coordinates) is taken, and the
    positions returned are those of the tokens right before each coordinate. Empty when
    the completion does not hold the box.
    """
    ids = input_ids.tolist()
    labelled = (labels != -100).tolist()
    for i in range(1, len(ids) - 6):
        if labelled[i] and all(ids[i + 2 * k] == box_ids[k] for k in range(4)):
            return [i - 1 + 2 * k for k in range(4)]
    return []


def _to_device(batch: dict[str, Any], device: Any) -> dict[str, Any]:
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}


def _box_separator_ids(tokenizer: Any) -> list[int]:
    """Ids of the tokens a box coordinate follows: those ending in ``[`` or ``,``."""
    return [i for t, i in tokenizer.get_vocab().items() if len(t) <= 2 and t[-1:] in "[,"]


def _save_checkpoint(
    out: Path, model: Any, processor: Any, optimizer: Any, state: dict[str, Any]
) -> None:
    torch = require("torch", extra="hf")
    ckpt = out / CHECKPOINT_DIR
    save_pretrained_atomic(model, processor, ckpt)
    tmp = out / (STATE_FILE + ".tmp")
    torch.save({"optimizer": optimizer.state_dict(), **state}, tmp)
    tmp.replace(out / STATE_FILE)


def run_stage(
    spec: StageSpec,
    *,
    out: Path,
    init: Path | None,
    eval_bench: Path | None,
    seed: int,
    batch_size: int,
    threads: int,
    resume: bool,
    eval_every_s: float,
    checkpoint_every_s: float,
    eval_samples: int,
    prompt_names: Sequence[str] = (PROMPT_NAME,),
    style: str = "enumerate",
    aux_weight: float = 0.0,
    coord_sigma: float = 0.0,
    device: str = "cpu",
    probe_box: str = "regression",
    query_probe: bool = False,
    pointer_weight: float = 0.0,
    text_first: bool = False,
    init_probes: Path | None = None,
    coord_weight: float = 1.0,
    attn_weight: float = 0.0,
    exact_copies: bool = False,
) -> dict[str, Any]:
    """Train one stage into ``out`` (resumable); returns the final log entry.

    With ``aux_weight > 0`` the dense probes of :mod:`.probes` add their loss
    (times ``aux_weight``) to the language-model loss. With ``coord_sigma > 0``
    coordinate tokens are trained on a Gaussian soft target of that width
    (:class:`.probes.CoordinateSoftLoss`). With ``pointer_weight > 0`` the pointer
    probe (:func:`.probes.pointer_loss`) adds its loss times ``pointer_weight``.
    ``text_first`` switches a checkpoint made before :data:`.model.MICRO_CHAT_TEMPLATE`
    to it (new models have it already). ``init_probes``: a ``train_state.pt`` whose probe
    weights start this stage (heads missing there start fresh). With ``attn_weight > 0``
    the last language-model layer runs eager attention and
    :func:`.probes.attention_pointer_loss` (times ``attn_weight``) makes one of its
    heads read the target's visual tokens where the box's coordinates are predicted.
    """
    torch = require("torch", extra="hf")
    transformers = require("transformers", extra="hf")

    # the data first: a bad benchmark fails before the model is built or OUT is created
    samples = samples_from_bench(spec.bench, prompt_names=prompt_names, style=style)
    held_out = samples_from_bench(eval_bench, style=style)[:eval_samples] if eval_bench else []
    torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"step": 0, "wall_s": 0.0, "stage": spec.name}
    ckpt = out / CHECKPOINT_DIR
    if resume and (out / STATE_FILE).is_file() and ckpt.is_dir():
        source = ckpt
    else:
        resume = False
        source = init
    if source is None:
        model, processor = new_micro_model(seed)
    else:
        model = transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained(source)
        processor = transformers.AutoProcessor.from_pretrained(source)
    if text_first:
        use_micro_chat_template(processor)
    if attn_weight > 0:
        model.set_attn_implementation("eager")
    model.to(device).train()
    hidden = model.config.text_config.hidden_size
    use_probes = aux_weight > 0 or pointer_weight > 0
    probes = (
        build_probes(hidden, box_mode=probe_box, query=query_probe, pointer=pointer_weight > 0)
        if use_probes
        else None
    )
    if probes is not None and init_probes is not None and not resume:
        saved_probes = torch.load(init_probes, weights_only=False, map_location="cpu")["probes"]
        own = probes.state_dict()
        kept = {k: v for k, v in saved_probes.items() if k in own and own[k].shape == v.shape}
        probes.load_state_dict(kept, strict=False)
        heads = sorted({k.split(".")[0] for k in kept})
        logger.info("probe weights from %s: %s", init_probes, heads)
    int_ids = torch.tensor(processor.tokenizer.convert_tokens_to_ids(integer_tokens()))
    if probes is not None:
        probes.to(device)
    params = list(model.parameters()) + (list(probes.parameters()) if probes else [])
    optimizer = torch.optim.AdamW(params, lr=spec.lr, betas=(0.9, 0.98), weight_decay=0.01)
    if resume:
        saved = torch.load(out / STATE_FILE, weights_only=False, map_location=device)
        optimizer.load_state_dict(saved.pop("optimizer"))
        probe_state = saved.pop("probes", None)
        if probes is not None and probe_state is not None:
            probes.load_state_dict(probe_state)
        state.update(saved)
        logger.info("resumed %s at step %d", spec.name, state["step"])
    images = ImageCache()
    rng = random.Random(f"micro:{seed}:{spec.name}:{state['step']}")
    log_path = out / LOG_FILE
    last_eval = last_ckpt = time.monotonic()
    t0 = time.monotonic() - state["wall_s"]
    soft_loss = (
        CoordinateSoftLoss(
            int_ids.tolist(),
            coord_sigma,
            after_ids=_box_separator_ids(processor.tokenizer),
            weight=coord_weight,
            exact_copies=exact_copies,
        )
        if coord_sigma > 0
        else None
    )
    grid = MICRO_IMAGE_SIDE // MERGED_PATCH
    losses: list[float] = []
    aux_log: dict[str, list[float]] = {}
    entry: dict[str, Any] = {}
    while state["step"] < spec.steps:
        batch = rng.sample(samples, min(batch_size, len(samples)))
        inputs = _to_device(collate(processor, images, batch), device)
        for group in optimizer.param_groups:
            group["lr"] = _lr(state["step"], spec)
        outputs = model(
            **inputs,
            output_hidden_states=probes is not None,
            output_attentions=attn_weight > 0,
        )
        loss = (
            outputs.loss
            if soft_loss is None
            else soft_loss(outputs.logits, inputs["labels"], inputs["input_ids"])
        )
        losses.append(float(loss.detach()))
        visual = inputs["input_ids"] == model.config.image_token_id
        cells = [s.cells for s in batch]
        terms = []  # (weight, (loss, parts for the log)) of each auxiliary loss
        if probes is not None and aux_weight > 0:
            terms.append((aux_weight, aux_loss(
                probes, outputs.hidden_states, inputs["input_ids"], model.config.image_token_id,
                cells, side=OFFICIAL_MODEL_SIZE,
                integer_embeddings=model.get_input_embeddings().weight[int_ids.to(device)],
                sigma=coord_sigma or PROBE_SIGMA,
                query_positions=last_prompt_positions(inputs["labels"]) if query_probe else None,
                query_xyxy=[s.gt_xyxy for s in batch] if query_probe else None,
            )))  # fmt: skip
        if probes is not None and pointer_weight > 0:
            terms.append((pointer_weight, pointer_loss(
                probes["pointer"], outputs.hidden_states, visual,
                [s.gt_xyxy for s in batch], [s.ref_xyxy for s in batch],
                grid=grid, side=OFFICIAL_MODEL_SIZE, cells=cells,
            )))  # fmt: skip
        if attn_weight > 0:
            queries = [
                box_query_positions(
                    inputs["input_ids"][r], inputs["labels"][r],
                    processor.tokenizer.convert_tokens_to_ids([str(v) for v in s.gt_xyxy]),
                )
                for r, s in enumerate(batch)
            ]  # fmt: skip
            terms.append((attn_weight, attention_pointer_loss(
                outputs.attentions[-1], queries, visual, [s.gt_xyxy for s in batch],
                grid=grid, side=OFFICIAL_MODEL_SIZE, cells=cells,
            )))  # fmt: skip
        for weight, (extra, parts) in terms:
            loss = loss + weight * extra
            for key, value in parts.items():
                aux_log.setdefault(key, []).append(value)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        state["step"] += 1
        state["wall_s"] = time.monotonic() - t0
        now = time.monotonic()
        done = state["step"] >= spec.steps
        if held_out and (now - last_eval >= eval_every_s or done):
            entry = {
                "stage": spec.name, "step": state["step"], "wall_s": round(state["wall_s"], 1),
                "loss": round(sum(losses) / len(losses), 4), "lr": _lr(state["step"], spec),
                **{k: round(sum(v) / len(v), 4) for k, v in aux_log.items()},
                **evaluate(
                    model, processor, images, held_out, forced_scene=style == "enumerate"
                ),
            }  # fmt: skip
            losses, aux_log = [], {}
            with log_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
            logger.info("%s", entry)
            last_eval = time.monotonic()
        if now - last_ckpt >= checkpoint_every_s or done:
            extra_state = {"probes": probes.state_dict()} if probes is not None else {}
            _save_checkpoint(out, model, processor, optimizer, {**state, **extra_state})
            last_ckpt = time.monotonic()
    return entry
