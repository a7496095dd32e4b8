"""Dense visual-token targets and probes of the micro warm start (regionreasoner.micro.probes)."""

from __future__ import annotations

import pytest

from regionreasoner.micro import probes as micro_probes
from regionreasoner.micro.probes import COLOURS, SHAPES, TEXTURES, cell_targets


def test_cells_take_the_smallest_object_under_their_centre():
    big = ("red", "square", "plain", (0, 0, 840, 420))
    small = ("blue", "circle", "striped", (0, 0, 300, 300))  # inside the big one
    cells = cell_targets([big, small], grid=4, side=840)  # cells of 210 px, centres 105, 315...
    assert len(cells) == 16
    first, second = cells[0], cells[1]  # centres (105,105) and (315,105)
    assert (COLOURS[first.colour], SHAPES[first.shape], TEXTURES[first.texture]) == (
        "blue", "circle", "striped",
    )  # fmt: skip
    assert first.xyxy == (0, 0, 300, 300)
    assert COLOURS[second.colour] == "red" and second.xyxy == (0, 0, 840, 420)
    # bottom half is background: the cell's own box, class 0 everywhere
    last = cells[-1]
    assert (last.colour, last.shape, last.texture) == (0, 0, 0)
    assert last.xyxy == (630, 630, 840, 840)


def test_unknown_attribute_is_ignored_not_background():
    cells = cell_targets([("mauve", "circle", "plain", (0, 0, 840, 840))], grid=1, side=840)
    assert cells[0].colour == micro_probes.IGNORE
    assert SHAPES[cells[0].shape] == "circle"


def test_aux_loss_reads_the_visual_tokens_in_order():
    torch = pytest.importorskip("torch")
    hidden = 8
    probes = micro_probes.build_probes(hidden)
    image_id = 7
    input_ids = torch.tensor([[1, 7, 7, 2], [7, 7, 3, 0]])
    cells = cell_targets([("red", "circle", "plain", (0, 0, 420, 840))], grid=1, side=840)
    targets = [cells * 2, cells * 2]
    states = [torch.randn(2, 4, hidden, requires_grad=True) for _ in range(3)]
    loss, parts = micro_probes.aux_loss(probes, states, input_ids, image_id, targets, side=840)
    assert set(parts) == {"aux/colour", "aux/shape", "aux/texture", "aux/box"}
    loss.backward()
    # only the visual-token positions of the probed layers get gradient
    grad = states[micro_probes.BOX_LAYER].grad
    assert grad[0, 0].abs().sum() == 0 and grad[0, 1].abs().sum() > 0
    assert grad[1, 2].abs().sum() == 0 and grad[1, 0].abs().sum() > 0
    assert states[0].grad is None
    with pytest.raises(ValueError, match="4 visual tokens in the batch, 2 cell targets"):
        micro_probes.aux_loss(probes, states, input_ids, image_id, [cells, cells], side=840)


def test_aux_loss_goes_to_zero_for_a_perfect_probe():
    torch = pytest.importorskip("torch")
    probes = micro_probes.build_probes(4)
    cells = cell_targets([], grid=1, side=840)  # one background cell, box = whole frame
    n_classes = len(COLOURS) + len(SHAPES) + len(TEXTURES)
    with torch.no_grad():
        probes["attributes"].weight.zero_()
        bias = torch.full((n_classes,), -30.0)
        bias[[0, len(COLOURS), len(COLOURS) + len(SHAPES)]] = 30.0  # background x3
        probes["attributes"].bias.copy_(bias)
        probes["box"].weight.zero_()
        probes["box"].bias.copy_(torch.tensor([0.0, 0.0, 1.0, 1.0]))
    states = [torch.zeros(1, 1, 4)] * 3
    loss, _ = micro_probes.aux_loss(probes, states, torch.tensor([[5]]), 5, [cells], side=840)
    assert float(loss) < 1e-6


def test_soft_coordinate_loss_prefers_near_misses_and_keeps_plain_ce():
    torch = pytest.importorskip("torch")
    # vocabulary: 0..9 are "integers" 0..9 in order, 10 and 11 are words
    loss_fn = micro_probes.CoordinateSoftLoss(list(range(10)), sigma=1.0)
    labels = torch.tensor([[-100, 5, 10]])  # predicts 5 at position 0, word 10 at 1

    def logits_for(guess: int) -> object:
        out = torch.full((1, 3, 12), -20.0)
        out[0, 0, guess] = 20.0  # confident guess for the coordinate
        out[0, 1, 10] = 20.0  # the word is right
        return out

    near, far, exact = (float(loss_fn(logits_for(g), labels)) for g in (6, 9, 5))
    assert exact < near < far
    # a one-hot CE would charge the near and the far miss the same
    plain = torch.nn.functional.cross_entropy
    assert float(plain(logits_for(6)[0, :1], torch.tensor([5]))) == pytest.approx(
        float(plain(logits_for(9)[0, :1], torch.tensor([5])))
    )
    # words only: identical to the usual mean cross-entropy
    word_labels = torch.tensor([[-100, 11, 10]])
    logits = torch.randn(1, 3, 12)
    expected = plain(logits[0, :2], torch.tensor([11, 10]))
    assert float(loss_fn(logits, word_labels)) == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(ValueError):
        micro_probes.CoordinateSoftLoss([0, 1], sigma=0)


def test_soft_targets_only_after_box_separators_when_asked():
    torch = pytest.importorskip("torch")
    # ids 0..9 are integers, 10 = "[", 11 = a word; "[ 5" is a coordinate, "word 5" a count
    soft = micro_probes.CoordinateSoftLoss(list(range(10)), sigma=1.0, after_ids=[10])
    one_hot_logits = torch.full((1, 2, 12), -20.0)
    one_hot_logits[0, 0, 6] = 20.0  # predicts 6 where 5 is right: a near miss
    coordinate = (torch.tensor([[10, 5]]), torch.tensor([[-100, 5]]))
    count = (torch.tensor([[11, 5]]), torch.tensor([[-100, 5]]))
    near_coordinate = float(soft(one_hot_logits, coordinate[1], coordinate[0]))
    near_count = float(soft(one_hot_logits, count[1], count[0]))
    # the count is one-hot: a near miss costs the full ~40 nats, the coordinate less
    assert near_count == pytest.approx(40.0, abs=0.1)
    assert near_coordinate < near_count - 5  # part of the soft target sits on 6
    with pytest.raises(ValueError, match="input_ids"):
        soft(one_hot_logits, coordinate[1])
    # the weight scales the coordinate's term and leaves a count alone
    heavy = micro_probes.CoordinateSoftLoss(list(range(10)), sigma=1.0, after_ids=[10], weight=3)
    assert float(heavy(one_hot_logits, *coordinate[::-1])) == pytest.approx(3 * near_coordinate)
    assert float(heavy(one_hot_logits, *count[::-1])) == pytest.approx(near_count)


def test_vocab_box_probe_scores_values_with_the_given_embeddings():
    torch = pytest.importorskip("torch")
    hidden, side = 6, 8
    probes = micro_probes.build_probes(hidden, box_mode="vocab")
    assert "box" not in probes and "box_vocab" in probes
    embeddings = torch.randn(side + 1, hidden, requires_grad=True)
    cells = cell_targets([("red", "circle", "plain", (2, 2, 6, 6))], grid=2, side=side)
    states = [torch.randn(1, 4, hidden) for _ in range(4)]
    input_ids = torch.tensor([[3, 3, 3, 3]])
    loss, parts = micro_probes.aux_loss(
        probes, states, input_ids, 3, [cells], side=side, integer_embeddings=embeddings, sigma=1.0
    )
    assert "aux/box_vocab" in parts and "aux/box" not in parts
    loss.backward()
    assert embeddings.grad is not None and embeddings.grad.abs().sum() > 0  # shared with the LM
    with pytest.raises(ValueError, match="integer_embeddings"):
        micro_probes.aux_loss(probes, states, input_ids, 3, [cells], side=side)
    with pytest.raises(ValueError, match="unknown box probe"):
        micro_probes.build_probes(hidden, box_mode="nope")


def test_soft_value_ce_is_lowest_at_the_true_value():
    torch = pytest.importorskip("torch")
    values = torch.tensor([4.0])
    losses = []
    for guess in range(9):
        logits = torch.full((1, 9), -10.0)
        logits[0, guess] = 10.0
        losses.append(float(micro_probes.soft_value_ce(logits, values, sigma=1.0)))
    assert min(range(9), key=losses.__getitem__) == 4
    assert losses[3] < losses[1] and losses[5] < losses[8]  # nearer is cheaper, both sides


def test_query_probe_reads_the_last_prompt_token_of_each_row():
    torch = pytest.importorskip("torch")
    hidden, side = 6, 8
    probes = micro_probes.build_probes(hidden, box_mode="vocab", query=True)
    embeddings = torch.randn(side + 1, hidden)
    cells = cell_targets([], grid=1, side=side)
    states = [torch.randn(2, 5, hidden, requires_grad=True) for _ in range(4)]
    input_ids = torch.tensor([[3, 1, 1, 1, 1], [1, 3, 1, 1, 1]])
    loss, parts = micro_probes.aux_loss(
        probes, states, input_ids, 3, [cells, cells], side=side, integer_embeddings=embeddings,
        sigma=1.0, query_positions=torch.tensor([2, 4]), query_xyxy=[(0, 0, 4, 4), (1, 1, 8, 8)],
    )  # fmt: skip
    assert "aux/query_box" in parts
    loss.backward()
    grad = states[micro_probes.VOCAB_BOX_LAYER].grad
    assert grad[0, 2].abs().sum() > 0 and grad[1, 4].abs().sum() > 0  # the query tokens
    assert grad[0, 3].abs().sum() == 0 and grad[1, 2].abs().sum() == 0  # other text tokens
    with pytest.raises(ValueError, match="query_positions"):
        micro_probes.aux_loss(
            probes, states, input_ids, 3, [cells, cells], side=side, integer_embeddings=embeddings
        )
    with pytest.raises(ValueError, match="box_mode='vocab'"):
        micro_probes.build_probes(hidden, query=True)


def test_cell_overlap_spreads_a_box_over_the_cells_it_covers():
    weights = micro_probes.cell_overlap((105, 0, 315, 105), grid=8, side=840)
    assert sum(weights) == pytest.approx(1.0)
    # columns 1 and 2 of the top row, half each; nothing else
    assert weights[1] == pytest.approx(0.5) and weights[2] == pytest.approx(0.5)
    assert sum(weights[3:]) == 0 and weights[0] == 0
    # a box inside one cell puts everything on that cell (row 2, column 5)
    small = micro_probes.cell_overlap((530, 220, 560, 250), grid=8, side=840)
    assert small.index(max(small)) == 2 * 8 + 5 and max(small) == pytest.approx(1.0)
    assert micro_probes.cell_overlap((10, 10, 10, 40), grid=2, side=840) == [0.0] * 4


def _pointer_setup(torch, rows=2, grid=2, hidden=4):
    """Rows of [text, 4 visual tokens]; every visual token's state is one-hot on its cell."""
    image_id = 9
    input_ids = torch.tensor([[1] + [image_id] * grid * grid] * rows)
    states = torch.zeros(rows, 1 + grid * grid, hidden)
    for cell in range(grid * grid):
        states[:, 1 + cell, cell] = 1.0
    hidden_states = [states] * 5
    return hidden_states, input_ids == image_id


def test_pointer_loss_rewards_pointing_at_the_target_and_the_reference():
    torch = pytest.importorskip("torch")
    hidden_states, mask = _pointer_setup(torch)
    target = [(0, 0, 420, 420), (420, 420, 840, 840)]  # cells 0 and 3
    refs = [None, (0, 420, 420, 840)]  # row 1 has a reference in cell 2
    head = torch.nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        head.weight.zero_()
    uniform, parts = micro_probes.pointer_loss(
        head, hidden_states, mask, target, refs, grid=2, side=840
    )
    assert float(uniform) == pytest.approx(2 * float(torch.log(torch.tensor(4.0))), rel=1e-5)
    assert set(parts) == {"aux/pointer_target", "aux/pointer_reference", "aux/pointer_hit"}
    # a head that scores cell 0 high for the target and cell 2 high for the reference:
    # row 0 (target in cell 0) and the reference of row 1 are found, row 1's target not
    with torch.no_grad():
        head.weight[0, 0] = 10.0
        head.weight[1, 2] = 10.0
    _, parts = micro_probes.pointer_loss(head, hidden_states, mask, target, refs, grid=2, side=840)
    assert parts["aux/pointer_hit"] == pytest.approx(0.5)
    assert parts["aux/pointer_reference"] < 0.01
    # row 0: -log(e^10 / (e^10 + 3)) ~ 0; row 1: its target cell 3 scores 0 against 10
    assert parts["aux/pointer_target"] == pytest.approx(5.0, abs=1e-3)


def test_pointer_loss_without_references_and_with_a_wrong_token_count():
    torch = pytest.importorskip("torch")
    hidden_states, mask = _pointer_setup(torch)
    head = torch.nn.Linear(4, 2)
    _, parts = micro_probes.pointer_loss(
        head, hidden_states, mask, [(0, 0, 10, 10)] * 2, [None, None], grid=2, side=840
    )
    assert "aux/pointer_reference" not in parts
    with pytest.raises(ValueError, match="visual tokens"):
        micro_probes.pointer_loss(
            head, hidden_states, mask, [(0, 0, 10, 10)] * 2, [None, None], grid=3, side=840
        )


def test_pointer_probe_is_built_on_request_only():
    pytest.importorskip("torch")
    assert "pointer" not in micro_probes.build_probes(8)
    probes = micro_probes.build_probes(8, box_mode="vocab", pointer=True)
    assert probes["pointer"].out_features == 2 and "box_vocab" in probes


def test_attention_pointer_loss_follows_the_best_head():
    torch = pytest.importorskip("torch")
    # one row: a text token, 4 visual tokens (2x2 grid), then two query tokens
    mask = torch.tensor([[False, True, True, True, True, False, False]])
    attn = torch.zeros(1, 2, 7, 7)
    attn[0, 0, 5, 1] = 0.9  # head 0 at query 5: 0.9 on cell 0 (the target)
    attn[0, 1, 5, 4] = 0.9  # head 1 at query 5: on cell 3
    attn[0, 1, 6, 1] = 0.25  # query 6: head 1 puts 0.25 on the target, head 0 nothing
    loss, parts = micro_probes.attention_pointer_loss(
        attn, [[5, 6]], mask, [(0, 0, 400, 400)], grid=2, side=840
    )
    expected = -(torch.log(torch.tensor(0.9)) + torch.log(torch.tensor(0.25))) / 2
    assert float(loss) == pytest.approx(float(expected), rel=1e-4)
    assert parts["aux/attn_mass"] == pytest.approx((0.9 + 0.25) / 2)
    # rows without query positions add nothing; a wrong grid is refused
    zero, parts = micro_probes.attention_pointer_loss(
        attn, [[]], mask, [(0, 0, 400, 400)], grid=2, side=840
    )
    assert float(zero) == 0.0 and parts["aux/attn_mass"] == 0.0
    with pytest.raises(ValueError, match="visual tokens"):
        micro_probes.attention_pointer_loss(attn, [[5]], mask, [(0, 0, 1, 1)], grid=3, side=840)


def test_an_object_smaller_than_a_cell_still_owns_the_cell_of_its_centre():
    # 105-px cells, centres at 52.5 + 105 k
    small = (110, 110, 150, 150)  # centre (130, 130) in cell (1, 1); no cell centre inside
    big = (0, 0, 420, 420)
    cells = cell_targets(
        [("red", "circle", "plain", big), ("blue", "square", "plain", small)], grid=8, side=840
    )
    assert cells[1 * 8 + 1].xyxy == small  # the small object's own cell
    assert cells[0].xyxy == big and cells[2 * 8 + 2].xyxy == big
    assert micro_probes.owned_cells(cells, small, grid=8, side=840)[9] == pytest.approx(1.0)
    owned_big = micro_probes.owned_cells(cells, big, grid=8, side=840)
    assert owned_big[9] == 0 and sum(owned_big) == pytest.approx(1.0)
    # an object the cells do not know falls back to the overlap with the box
    other = micro_probes.owned_cells(cells, (735, 735, 840, 840), grid=8, side=840)
    assert other[63] == pytest.approx(1.0)


def test_pointer_loss_with_cells_points_at_the_owned_cells_only():
    torch = pytest.importorskip("torch")
    hidden_states, mask = _pointer_setup(torch, rows=1)
    box = (0, 0, 500, 300)  # overlaps cells 0 and 1, owns cell 0 (the centre of 1 is outside)
    cells = cell_targets([("red", "circle", "plain", box)], grid=2, side=840)
    head = torch.nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        head.weight.zero_()
        head.weight[0, 0] = 10.0  # all mass on cell 0
    owned, parts = micro_probes.pointer_loss(
        head, hidden_states, mask, [box], [None], grid=2, side=840, cells=[cells]
    )
    overlap, _ = micro_probes.pointer_loss(
        head, hidden_states, mask, [box], [None], grid=2, side=840
    )
    assert float(owned) < 0.01 and parts["aux/pointer_hit"] == 1.0
    assert float(overlap) > 1.0  # a fifth of the box lies in cell 1, which scores 10 lower


def test_exact_copies_get_one_hot_targets_and_read_values_stay_soft():
    torch = pytest.importorskip("torch")
    # ids 0..9 are integers, 10 = "[". Row: "[ 5 [ 5": the first 5 is read, the second a copy
    input_ids = torch.tensor([[10, 5, 10, 5]])
    labels = torch.tensor([[-100, 5, -100, 5]])
    logits = torch.full((1, 4, 11), -20.0)
    logits[0, 0, 6] = 20.0  # near miss (6) for the read value
    logits[0, 2, 6] = 20.0  # the same near miss for the copy
    soft = micro_probes.CoordinateSoftLoss(list(range(10)), sigma=1.0, after_ids=[10])
    exact = micro_probes.CoordinateSoftLoss(
        list(range(10)), sigma=1.0, after_ids=[10], exact_copies=True
    )
    both_soft = float(soft(logits, labels, input_ids))
    copy_exact = float(exact(logits, labels, input_ids))
    # the copy now costs the one-hot ~40 nats; the read value keeps its soft cost
    read_soft = both_soft  # mean over 2 tokens of two equal soft costs
    assert copy_exact == pytest.approx((read_soft + 40.0) / 2, abs=0.1)
    with pytest.raises(ValueError, match="input_ids"):
        exact(logits, labels)
