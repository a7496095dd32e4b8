"""Dense auxiliary supervision for the micro model's warm start (training only).

A Qwen2.5-VL vision tower has no absolute position embedding (only 2-D rotary
attention), so where a visual token sits in the image is not in its features: the
language model has to work it out from causal attention and M-RoPE before it can write
a box. Learned from the answer tokens alone, that takes thousands of steps of a
from-scratch model (the lab log in ``docs/micro_reproduction.md``). The probes here give
every visual token of every sample a dense target instead, in the spirit of
deep supervision:

* after language-model layer :data:`ATTRIBUTE_LAYER`: the colour, shape and texture of the
  object under the token (or "background");
* after language-model layer :data:`BOX_LAYER`: the box, in the 840 model frame, of the
  object under the token, or the token's own cell when it shows background.

With the question before the image (the micro chat template), the visual tokens can
also read the question, and a third probe, the **pointer**, turns the lookup from words
to one object into a dense task: after layer :data:`POINTER_TARGET_LAYER` a softmax over
the image's visual tokens must put its mass on the cells the target covers (and, for a
turn with a reference box, after layer :data:`POINTER_REFERENCE_LAYER` on the cells the
reference covers). That is the attention pattern an answer token needs to copy the
target's box from the visual tokens.

The probes are small linear heads that live next to the model during SFT; they are
saved in the stage's ``train_state.pt`` and never in the HF checkpoint, so the shipped
model is a plain ``Qwen2_5_VLForConditionalGeneration``.

>>> cells = cell_targets([("red", "circle", "plain", (0, 0, 420, 420))], grid=2, side=840)
>>> [c.colour for c in cells], cells[0].xyxy, cells[3].xyxy
([1, 0, 0, 0], (0, 0, 420, 420), (420, 420, 840, 840))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from regionreasoner._imports import require
from regionreasoner.data.builders.templates import SYNTH_COLOURS, SYNTH_SHAPES, SYNTH_TEXTURES
from regionreasoner.micro.options import BOX_MODES

ATTRIBUTE_LAYER = 1
"""``hidden_states`` index probed for attributes (1 = after the first decoder layer)."""

BOX_LAYER = 2
"""``hidden_states`` index probed for boxes (2 = after the second decoder layer)."""

BACKGROUND = "background"
COLOURS = (BACKGROUND, *SYNTH_COLOURS)
SHAPES = (BACKGROUND, *SYNTH_SHAPES)
TEXTURES = (BACKGROUND, *SYNTH_TEXTURES)
IGNORE = -100
"""Class index ignored by the loss (an attribute outside the synth vocabulary)."""

BOX_LOSS_WEIGHT = 4.0
"""Weight of the box regression (smooth L1 on coordinates / 840) against the CE terms."""

VOCAB_BOX_LAYER = 3
"""``hidden_states`` index of the vocabulary-aligned box probe (``box_mode="vocab"``)."""

POINTER_REFERENCE_LAYER = 2
"""``hidden_states`` index where the pointer probe finds the reference box's cells."""

POINTER_TARGET_LAYER = 3
"""``hidden_states`` index where the pointer probe finds the target's cells."""


@dataclass(frozen=True, slots=True)
class CellTarget:
    """What the visual token of one grid cell should know.

    Attributes:
        colour, shape, texture: class indices into :data:`COLOURS`, :data:`SHAPES`,
            :data:`TEXTURES` (0 = background, :data:`IGNORE` = unknown).
        xyxy: the box of the object under the cell centre, or the cell itself, in the
            model frame.
    """

    colour: int
    shape: int
    texture: int
    xyxy: tuple[int, int, int, int]


def _index(names: Sequence[str], value: str) -> int:
    return names.index(value) if value in names else IGNORE


def cell_targets(
    objects: Sequence[tuple[str, str, str, Sequence[int]]], *, grid: int, side: int
) -> tuple[CellTarget, ...]:
    """Targets for a ``grid x grid`` raster of cells over a square ``side`` frame.

    ``objects`` are ``(colour, shape, texture, model_xyxy)``. A cell belongs to the
    smallest object whose box contains the cell centre or whose own centre lies in the
    cell (so an object smaller than a cell still owns one; small shapes lie inside or on
    top of large ones), else to the background.
    """
    cell = side / grid

    def _owns(box: Sequence[int], col: int, row: int) -> bool:
        cx, cy = (col + 0.5) * cell, (row + 0.5) * cell
        if box[0] <= cx <= box[2] and box[1] <= cy <= box[3]:
            return True
        ox, oy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        return min(int(ox // cell), grid - 1) == col and min(int(oy // cell), grid - 1) == row

    out = []
    for row in range(grid):
        for col in range(grid):
            hits = [o for o in objects if _owns(o[3], col, row)]
            if hits:
                colour, shape, texture, box = min(
                    hits, key=lambda o: (o[3][2] - o[3][0]) * (o[3][3] - o[3][1])
                )
                out.append(
                    CellTarget(
                        _index(COLOURS, colour),
                        _index(SHAPES, shape),
                        _index(TEXTURES, texture),
                        tuple(int(v) for v in box),  # type: ignore[arg-type]
                    )
                )
            else:
                own = (round(col * cell), round(row * cell), round((col + 1) * cell),
                       round((row + 1) * cell))  # fmt: skip
                out.append(CellTarget(0, 0, 0, own))
    return tuple(out)


def cell_overlap(xyxy: Sequence[float], *, grid: int, side: int) -> list[float]:
    """Share of the box ``xyxy`` in each cell of a ``grid x grid`` raster over a square
    ``side`` frame (raster order; sums to 1, or to 0 for an empty box).

    >>> cell_overlap((0, 0, 420, 210), grid=2, side=840)
    [1.0, 0.0, 0.0, 0.0]
    >>> cell_overlap((210, 0, 630, 420), grid=2, side=840)
    [0.5, 0.5, 0.0, 0.0]
    """
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    cell = side / grid
    areas = []
    for row in range(grid):
        h = max(0.0, min(y2, (row + 1) * cell) - max(y1, row * cell))
        for col in range(grid):
            w = max(0.0, min(x2, (col + 1) * cell) - max(x1, col * cell))
            areas.append(w * h)
    total = sum(areas)
    return [a / total if total > 0 else 0.0 for a in areas]


def owned_cells(
    cells: Sequence[CellTarget], xyxy: Sequence[float], *, grid: int, side: int
) -> list[float]:
    """Pointer target for the object ``xyxy``: uniform over the cells it owns (their
    :class:`CellTarget` box is ``xyxy``: the tokens that hold its box), or
    :func:`cell_overlap` when it owns none (an object unknown to ``cells``, or no
    ``cells`` at all).

    >>> cells = cell_targets([("red", "circle", "plain", (0, 0, 420, 420))], grid=2, side=840)
    >>> owned_cells(cells, (0, 0, 420, 420), grid=2, side=840)
    [1.0, 0.0, 0.0, 0.0]
    """
    box = tuple(round(float(v)) for v in xyxy)
    owned = [1.0 if c.xyxy == box else 0.0 for c in cells]
    if not any(owned) or len(cells) != grid * grid:
        return cell_overlap(xyxy, grid=grid, side=side)
    return [w / sum(owned) for w in owned]


def pointer_loss(
    head: Any,
    hidden_states: Sequence[Any],
    visual_mask: Any,
    target_xyxy: Sequence[Sequence[float]],
    ref_xyxy: Sequence[Sequence[float] | None],
    *,
    grid: int,
    side: int,
    cells: Sequence[Sequence[CellTarget]] | None = None,
) -> tuple[Any, dict[str, float]]:
    """Loss of the pointer probe (``head``: hidden -> 2 logits, target and reference).

    Each row's visual tokens (``visual_mask``, ``grid * grid`` of them, raster order) get
    one logit; a softmax over them is trained (cross-entropy) towards the cells of the
    row's target box, and, for rows with a reference box, a second softmax towards the
    reference's cells. With ``cells`` (each row's :func:`cell_targets`) those are the
    cells the object owns (:func:`owned_cells`: the tokens that hold its box), else the
    cells it covers (:func:`cell_overlap`). Logged: the two losses and ``pointer_hit``,
    the share of rows whose most likely cell is one of the target's.
    """
    torch = require("torch", extra="hf")
    rows = len(target_xyxy)
    n_cells = grid * grid
    if int(visual_mask.sum()) != rows * n_cells:
        raise ValueError(f"{int(visual_mask.sum())} visual tokens, expected {rows} x {n_cells}")

    def _logits(layer: int, column: int) -> Any:
        states = hidden_states[layer][visual_mask].view(rows, n_cells, -1)
        return head(states.float())[..., column]

    row_cells = cells if cells is not None else [()] * rows

    def _dist(boxes: Sequence[Sequence[float]], rows_of: Sequence[int], device: Any) -> Any:
        weights = [
            owned_cells(row_cells[r], b, grid=grid, side=side)
            for r, b in zip(rows_of, boxes, strict=True)
        ]
        return torch.tensor(weights, dtype=torch.float32, device=device)

    target_logits = _logits(POINTER_TARGET_LAYER, 0)
    target = _dist(target_xyxy, range(rows), target_logits.device)
    losses = {"pointer_target": -(target * torch.log_softmax(target_logits, dim=1)).sum(1).mean()}
    with_ref = [i for i, ref in enumerate(ref_xyxy) if ref is not None]
    if with_ref:
        ref_logits = _logits(POINTER_REFERENCE_LAYER, 1)[with_ref]
        ref = _dist([ref_xyxy[i] for i in with_ref], with_ref, ref_logits.device)  # type: ignore[misc]
        losses["pointer_reference"] = -(ref * torch.log_softmax(ref_logits, dim=1)).sum(1).mean()
    best = target_logits.argmax(dim=1)
    hit = (target.gather(1, best[:, None]) > 0).float().mean()
    total = sum(losses.values())
    parts = {f"aux/{k}": float(v.detach()) for k, v in losses.items()}
    parts["aux/pointer_hit"] = float(hit)
    return total, parts


def attention_pointer_loss(
    attentions: Any,
    query_positions: Sequence[Sequence[int]],
    visual_mask: Any,
    target_xyxy: Sequence[Sequence[float]],
    *,
    grid: int,
    side: int,
    cells: Sequence[Sequence[CellTarget]] | None = None,
) -> tuple[Any, dict[str, float]]:
    """Loss that makes SOME attention head of one layer read the target's visual tokens.

    ``attentions``: one layer's weights (batch x heads x query x key). For each row, at
    each of its ``query_positions`` (the tokens that predict the target box's
    coordinates), the attention mass a head puts on the target's cells (those it owns
    with ``cells``, see :func:`owned_cells`, else those it overlaps) is
    summed; the loss is ``-log`` of the best head's mass (only that head is pushed, the
    others stay free). Logged: ``aux/attn_target`` (the loss) and ``aux/attn_mass`` (the
    best head's mean mass on the target).
    """
    torch = require("torch", extra="hf")
    row_cells = cells if cells is not None else [()] * len(query_positions)
    losses, masses = [], []
    for row, positions in enumerate(query_positions):
        if not positions:
            continue
        visual = visual_mask[row].nonzero()[:, 0]
        if len(visual) != grid * grid:
            raise ValueError(f"row {row}: {len(visual)} visual tokens, expected {grid * grid}")
        weights_of = owned_cells(row_cells[row], target_xyxy[row], grid=grid, side=side)
        on_target = torch.tensor([w > 0 for w in weights_of], device=attentions.device)
        weights = attentions[row][:, list(positions)][:, :, visual[on_target]].float()
        best = weights.sum(-1).max(dim=0).values  # per query position
        losses.append(-torch.log(best + 1e-6))
        masses.append(best.detach())
    if not losses:
        zero = attentions.sum() * 0.0
        return zero, {"aux/attn_target": 0.0, "aux/attn_mass": 0.0}
    loss = torch.cat(losses).mean()
    mass = float(torch.cat(masses).mean())
    return loss, {"aux/attn_target": float(loss.detach()), "aux/attn_mass": mass}


def build_probes(
    hidden_size: int, box_mode: str = "regression", query: bool = False, pointer: bool = False
) -> Any:
    """The linear heads: ``attributes`` (colour + shape + texture logits) and ``box``
    (``regression``: 4 outputs) or ``box_vocab`` (``vocab``: 4 maps into the embedding
    space, see :data:`.options.BOX_MODES`). ``query=True`` (vocab only) adds ``query_box``: the
    same kind of map for the last prompt token, which must hold the TARGET's box.
    ``pointer=True`` adds ``pointer`` (see :func:`pointer_loss`)."""
    torch = require("torch", extra="hf")
    if box_mode not in BOX_MODES:
        raise ValueError(f"unknown box probe {box_mode!r}; expected one of {BOX_MODES}")
    n_attributes = len(COLOURS) + len(SHAPES) + len(TEXTURES)
    heads = {"attributes": torch.nn.Linear(hidden_size, n_attributes)}
    if box_mode == "regression":
        heads["box"] = torch.nn.Linear(hidden_size, 4)
    else:
        heads["box_vocab"] = torch.nn.Linear(hidden_size, 4 * hidden_size, bias=False)
    if query:
        if box_mode != "vocab":
            raise ValueError("the query probe needs box_mode='vocab'")
        heads["query_box"] = torch.nn.Linear(hidden_size, 4 * hidden_size, bias=False)
    if pointer:
        heads["pointer"] = torch.nn.Linear(hidden_size, 2)
    return torch.nn.ModuleDict(heads)


def gaussian_targets(values: Any, n_values: int, sigma: float) -> Any:
    """N x ``n_values`` soft targets over the values 0..n_values-1: a Gaussian of width
    ``sigma`` centred on each of ``values`` (N), normalised to sum to 1."""
    torch = require("torch", extra="hf")
    grid = torch.arange(n_values, dtype=torch.float32, device=values.device)
    distance = (grid[None, :] - values[:, None].float()) / sigma
    return torch.softmax(-0.5 * distance**2, dim=-1)


def soft_value_ce(logits: Any, values: Any, sigma: float) -> Any:
    """Mean cross-entropy of ``logits`` (N x V over the values 0..V-1) against Gaussian
    soft targets of width ``sigma`` centred on ``values`` (N)."""
    torch = require("torch", extra="hf")
    soft = gaussian_targets(values, logits.shape[-1], sigma)
    return -(soft * torch.log_softmax(logits, dim=-1)).sum(-1).mean()


def _vocab_box_ce(head: Any, states: Any, integer_embeddings: Any, xyxy: Any, sigma: float) -> Any:
    """Soft CE of a vocabulary-aligned box head: ``head`` maps each of ``states`` (N x H)
    to 4 vectors that the integer embeddings score against the 4 values of ``xyxy``."""
    mapped = head(states.float()).view(states.shape[0], 4, -1)
    logits = mapped @ integer_embeddings.float().T  # N x 4 x (side + 1)
    return soft_value_ce(logits.reshape(-1, logits.shape[-1]), xyxy.reshape(-1), sigma)


def aux_loss(
    probes: Any,
    hidden_states: Sequence[Any],
    input_ids: Any,
    image_token_id: int,
    targets: Sequence[Sequence[CellTarget]],
    *,
    side: int,
    integer_embeddings: Any = None,
    sigma: float = 12.0,
    query_positions: Any = None,
    query_xyxy: Sequence[Sequence[int]] | None = None,
) -> tuple[Any, dict[str, float]]:
    """Loss of the probes on the visual tokens of a batch, and its parts for the log.

    The visual tokens of each row are taken in order (raster order of the merged grid)
    and must be exactly as many as that row's targets. Probes built with
    ``box_mode="vocab"`` need ``integer_embeddings`` (the embeddings of the integer
    tokens 0..side, in value order; gradients flow into them) and use ``sigma``.
    With a ``query_box`` probe, ``query_positions`` (one index per row: the last prompt
    token) and ``query_xyxy`` (each row's target box) add ``aux/query_box``: the
    question must be resolved to the target's box before the answer starts.
    """
    torch = require("torch", extra="hf")
    functional = torch.nn.functional
    mask = input_ids == image_token_id
    expected = sum(len(t) for t in targets)
    if int(mask.sum()) != expected:
        raise ValueError(f"{int(mask.sum())} visual tokens in the batch, {expected} cell targets")
    flat = [c for row in targets for c in row]
    attr = probes["attributes"](hidden_states[ATTRIBUTE_LAYER][mask].float())
    n_c, n_s = len(COLOURS), len(SHAPES)
    losses = {}
    for name, logits, labels in (
        ("colour", attr[:, :n_c], [c.colour for c in flat]),
        ("shape", attr[:, n_c : n_c + n_s], [c.shape for c in flat]),
        ("texture", attr[:, n_c + n_s :], [c.texture for c in flat]),
    ):
        losses[name] = functional.cross_entropy(
            logits, torch.tensor(labels, device=logits.device), ignore_index=IGNORE
        )
    gt = torch.tensor([c.xyxy for c in flat], dtype=torch.float32, device=attr.device)
    if "box" in probes:
        box = probes["box"](hidden_states[BOX_LAYER][mask].float())
        losses["box"] = functional.smooth_l1_loss(box, gt / side, beta=0.05)
        total = sum(losses.values()) + (BOX_LOSS_WEIGHT - 1.0) * losses["box"]
    else:
        if integer_embeddings is None:
            raise ValueError("the vocabulary box probe needs integer_embeddings")
        layer = hidden_states[VOCAB_BOX_LAYER]
        losses["box_vocab"] = _vocab_box_ce(
            probes["box_vocab"], layer[mask], integer_embeddings, gt, sigma
        )
        if "query_box" in probes:
            if query_positions is None or query_xyxy is None:
                raise ValueError("the query probe needs query_positions and query_xyxy")
            rows = torch.arange(len(query_xyxy), device=attr.device)
            target = torch.tensor(query_xyxy, dtype=torch.float32, device=attr.device)
            losses["query_box"] = _vocab_box_ce(
                probes["query_box"], layer[rows, query_positions], integer_embeddings, target,
                sigma,
            )  # fmt: skip
        total = sum(losses.values())
    return total, {f"aux/{k}": float(v.detach()) for k, v in losses.items()}


class CoordinateSoftLoss:
    """Language-model loss where integer (coordinate) tokens get a Gaussian soft target.

    A one-hot target says nothing about how far a wrong coordinate is; with the target
    ``softmax(-(v - v*)^2 / 2 sigma^2)`` over the integer tokens (a few pixels of width)
    a near miss costs less than a far one, so the gradient points towards the right
    place from the first steps. The mode of the target stays the true value, so greedy
    decoding is unaffected. Other tokens keep the usual cross-entropy; the result is
    the mean over every labelled token (the same normalisation as the model's loss).

    Args:
        integer_ids: token ids of the integers ``0..N`` in value order.
        sigma: the Gaussian's width in integer units (pixels of the model frame).
        after_ids: when given, only integers that follow one of these tokens (``[`` and
            ``,`` of a box) are coordinates; other integers (a count) stay one-hot.
        weight: factor on the coordinates' terms (the few tokens that carry the
            grounding are otherwise ~1/10 of the mean over a four-tag completion).
        exact_copies: a coordinate whose token already appears earlier in the row (a
            copy: the reference box cited from the question, the answer repeating the
            think box) gets the one-hot target, so copies are learned verbatim; only
            values read off the image stay soft. Needs ``input_ids``.
    """

    def __init__(
        self,
        integer_ids: Sequence[int],
        sigma: float,
        after_ids: Sequence[int] | None = None,
        weight: float = 1.0,
        exact_copies: bool = False,
    ) -> None:
        torch = require("torch", extra="hf")
        if sigma <= 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        self.ids = torch.tensor(list(integer_ids))
        self.sigma = float(sigma)
        self.weight = float(weight)
        self.exact_copies = exact_copies
        # token id -> its integer value (ids of other tokens are never looked up)
        self._value_of = torch.zeros(int(self.ids.max()) + 1, dtype=torch.long)
        self._value_of[self.ids] = torch.arange(len(self.ids))
        self.after = torch.tensor(list(after_ids)) if after_ids is not None else None

    def __call__(self, logits: Any, labels: Any, input_ids: Any = None) -> Any:
        """Mean loss; ``input_ids`` is needed when the loss was built with ``after_ids``."""
        torch = require("torch", extra="hf")
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        target = labels[:, 1:]
        valid = target != IGNORE
        is_int = torch.isin(target, self.ids.to(target.device)) & valid
        if (self.after is not None or self.exact_copies) and input_ids is None:
            raise ValueError("input_ids are needed to find the coordinates and the copies")
        if self.after is not None:
            is_int &= torch.isin(input_ids[:, :-1], self.after.to(target.device))
        nll = -logp.gather(-1, target.clamp(min=0)[..., None])[..., 0]
        total = nll[valid & ~is_int].sum()
        if self.exact_copies and bool(is_int.any()):
            rows, cols = is_int.nonzero(as_tuple=True)
            seen = input_ids[rows] == target[rows, cols][:, None]  # n x T
            before = (
                torch.arange(input_ids.shape[1], device=target.device)[None, :] <= cols[:, None]
            )
            copied = torch.zeros_like(is_int)
            copied[rows, cols] = (seen & before).any(dim=1)
            total = total + self.weight * nll[copied].sum()
            is_int &= ~copied
        if bool(is_int.any()):
            values = self._value_of.to(target.device)[target[is_int]]
            soft = gaussian_targets(values, len(self.ids), self.sigma)
            # log-probabilities over the whole vocabulary, read at the integer tokens
            soft_ce = -(soft * logp[is_int][:, self.ids.to(logp.device)]).sum()
            total = total + self.weight * soft_ce
        return total / valid.sum().clamp(min=1)
