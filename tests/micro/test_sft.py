from __future__ import annotations

import math

import pytest

from regionreasoner.data.schema import Dialogue
from regionreasoner.geometry.frames import Frame
from regionreasoner.micro.sft import (
    StageSpec,
    _lr,
    render_completion,
    scene_objects,
)
from regionreasoner.parsing.response import parse_response

LISTED = [("green diamond", (82, 86, 311, 315)), ("yellow circle", (94, 476, 248, 630))]


def test_first_turn_completion_is_exact():
    text = render_completion(LISTED, (94, 476, 248, 630), ref_xyxy=None, relation_phrase=None)
    assert text == (
        "<scene> the image shows 2 shapes: green diamond [82,86,311,315]; "
        "yellow circle [94,476,248,630]. </scene>\n"
        "<think> the yellow circle is at [94,476,248,630]. </think>\n"
        '<answer>[{"bbox_2d": [94,476,248,630], "point_2d": [171,553]}]</answer>'
    )


def test_relation_completion_names_the_reference_and_cites_it():
    text = render_completion(
        LISTED, (82, 86, 311, 315), ref_xyxy=(94, 476, 248, 630), relation_phrase="above"
    )
    parsed = parse_response(text, required_tags=("scene", "focus", "think", "answer"))
    assert parsed.focus == "the reference holds the yellow circle"
    assert "above the reference bbox=[94,476,248,630]" in parsed.think
    assert "green diamond at [82,86,311,315]" in parsed.think
    # the target box is cited without the bbox prefix (no hallucination penalty)
    assert "bbox=[82" not in parsed.think
    assert parsed.regions.xyxy.tolist() == [[82.0, 86.0, 311.0, 315.0]]
    assert parsed.regions.points.tolist() == [[196.0, 200.0]]
    assert not parsed.issues


def test_direct_completion_counts_shapes_and_names_the_target():
    text = render_completion(
        LISTED, (82, 86, 311, 315), ref_xyxy=(94, 476, 248, 630), relation_phrase="above",
        style="direct",
    )  # fmt: skip
    parsed = parse_response(text, required_tags=("scene", "focus", "think", "answer"))
    assert parsed.scene == "the image shows 2 shapes."
    assert "[94,476" not in parsed.scene  # no listed boxes
    assert "above the reference bbox=[94,476,248,630]" in parsed.think
    assert parsed.regions.xyxy.tolist() == [[82.0, 86.0, 311.0, 315.0]]
    assert not parsed.issues


def _dialogue(objects):
    return Dialogue.from_dict(
        {
            "schema_version": 1,
            "dialogue_id": "d",
            "image": "x.png",
            "image_wh": [224, 224],
            "source": "synth",
            "turns": [
                {
                    "turn_index": 0,
                    "question": "the red circle",
                    "refers_to": None,
                    "relation": None,
                    "targets": [{"bbox": objects[0]["bbox"]}],
                }
            ],
            "meta": {"objects": objects},
        }
    )


def test_scene_objects_are_listed_top_to_bottom_in_the_840_frame():
    objects = [
        {"expression": "low", "bbox": [0, 160, 20, 200]},
        {"expression": "top right", "bbox": [100, 0, 140, 40]},
        {"expression": "top left", "bbox": [0, 0, 40, 40]},
    ]
    listed = scene_objects(_dialogue(objects), Frame.square((224, 224)))
    assert [name for name, _ in listed] == ["top left", "top right", "low"]
    # 224 -> 840 is a 3.75x scale: 160 * 3.75 = 600
    assert listed[2][1] == (0, 600, 75, 750)


@pytest.mark.parametrize(
    ("step", "expected"),
    [(0, 0.1), (9, 1.0), (10, 1.0), (110, 0.1), (60, 0.55)],
)
def test_stage_lr_warms_up_then_decays_to_a_floor(step, expected):
    spec = StageSpec("s", bench=None, steps=110, lr=1.0, warmup=10, min_lr_frac=0.1)  # type: ignore[arg-type]
    assert _lr(step, spec) == pytest.approx(expected)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    from regionreasoner.data.builders.synth import build_synth

    out = tmp_path_factory.mktemp("synth")
    build_synth(out, 2, seed=5, max_turns=3)
    return out


def test_samples_cover_every_turn_with_references_in_the_840_frame(bench):
    from regionreasoner.data.io import read_dialogues
    from regionreasoner.micro.sft import samples_from_bench

    dialogues = read_dialogues(bench / "synth.jsonl")
    samples = samples_from_bench(bench, prompt_names=("regionreasoner", "regionreasoner-train"))
    assert len(samples) == sum(len(d.turns) for d in dialogues)
    # prompts alternate, references are the referenced turn's GT box x 840/224
    assert samples[0].user_text.startswith('Please find "')
    assert "spatial guidance only" in samples[0].user_text
    assert "spatial guidance only" not in samples[1].user_text
    turns = [t for d in dialogues for t in d.turns]
    for sample, turn in zip(samples, turns, strict=True):
        assert (sample.kind == "relation") == turn.has_reference
        x1, y1, x2, y2 = turn.targets[0].bbox
        # half-up rounding, as the protocols convert references (442.5 -> 443)
        expected = tuple(math.floor(v * 840 / 224 + 0.5) for v in (x1, y1, x2, y2))
        assert sample.gt_xyxy == expected
        assert sample.gt_xyxy in sample.object_xyxy
        if sample.ref_xyxy is not None:
            assert "bbox=[" + ",".join(map(str, sample.ref_xyxy)) + "]" in sample.user_text
        # dense targets: 8x8 cells; the target's box is the target of some cell
        assert len(sample.cells) == 64
        assert any(cell.xyxy == sample.gt_xyxy for cell in sample.cells)


@pytest.mark.slow
def test_collate_puts_labels_on_the_completion_only(bench):
    from regionreasoner.micro.model import build_micro_processor, build_micro_tokenizer
    from regionreasoner.micro.sft import ImageCache, collate, samples_from_bench

    processor = build_micro_processor(build_micro_tokenizer(seed=0))
    samples = samples_from_bench(bench)[:3]
    batch = collate(processor, ImageCache(), samples)
    tokenizer = processor.tokenizer
    for row, sample in enumerate(samples):
        labels = batch["labels"][row]
        text = tokenizer.decode(labels[labels != -100])
        assert text == sample.completion + "<|im_end|>\n"
    # 64 visual tokens per image (224x224 budget, 2x2 merge of 14 px patches)
    image_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert (batch["input_ids"] == image_id).sum(dim=1).tolist() == [64, 64, 64]


def test_schedule_steps_stretch_the_cosine_beyond_the_stage():
    spec = StageSpec("s", None, steps=60, lr=1.0, warmup=10, schedule_steps=110)  # type: ignore[arg-type]
    # step 60 is half-way through a 110-step schedule, not its end
    assert _lr(60, spec) == pytest.approx(0.55)
    assert _lr(60, StageSpec("s", None, steps=60, lr=1.0, warmup=10)) == pytest.approx(0.1)  # type: ignore[arg-type]


@pytest.mark.slow
def test_stage_trains_with_probes_and_soft_targets_then_resumes(bench, tmp_path):
    """Three steps, a checkpoint with the probes, then a resume to step five."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import json

    from regionreasoner.cli.main import main as cli_main

    def main(argv: list[str]) -> int:  # one stage through the CLI, as recipes/micro/run.sh
        return cli_main(["micro", "train", *argv])

    out = tmp_path / "stage"
    args = [
        "--bench", str(bench), "--eval-bench", str(bench), "--eval-samples", "2",
        "--out", str(out), "--batch-size", "2", "--threads", "1", "--style", "direct",
        "--aux-weight", "1.0", "--coord-sigma", "12", "--warmup", "1",
        "--eval-every-s", "0", "--checkpoint-every-s", "0", "--resume",
    ]  # fmt: skip
    assert main([*args, "--steps", "3"]) == 0
    state = torch.load(out / "train_state.pt", weights_only=False)
    assert state["step"] == 3
    probe_keys = {"attributes.weight", "attributes.bias", "box.weight", "box.bias"}
    assert set(state["probes"]) == probe_keys
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2, 3]
    assert all(e["aux/box"] > 0 and math.isfinite(e["loss"]) for e in log)
    assert "first/acc" in log[-1] and "first/random_object" in log[-1]
    model = transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained(out / "checkpoint")
    assert not any("probe" in name for name, _ in model.named_parameters())

    assert main([*args, "--steps", "5"]) == 0
    resumed = torch.load(out / "train_state.pt", weights_only=False)
    assert resumed["step"] == 5
    # the probes were restored and trained two more steps (lr <= 1e-3), not re-initialised
    # (two independent inits in +-1/16 differ by 0.042 on average)
    before, after = state["probes"]["box.weight"], resumed["probes"]["box.weight"]
    assert not torch.equal(before, after)
    assert float((before - after).abs().mean()) < 0.01
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2, 3, 4, 5]

    # the vocabulary-aligned box probe and the query probe, from the checkpoint
    vocab_out = tmp_path / "vocab"
    vocab_args = [*args, "--steps", "2", "--probe-box", "vocab", "--query-probe"]
    vocab_args[vocab_args.index(str(out))] = str(vocab_out)
    assert main([*vocab_args, "--init", str(out / "checkpoint")]) == 0
    entry = json.loads((vocab_out / "train_log.jsonl").read_text().splitlines()[-1])
    assert entry["aux/box_vocab"] > 0 and entry["aux/query_box"] > 0
    assert "aux/box" not in entry

    # the pointer probe, starting from the vocab stage's probe weights
    pointer_out = tmp_path / "pointer"
    pointer_args = [*vocab_args, "--pointer-weight", "0.5", "--text-first", "--attn-weight", "0.2"]
    pointer_args += ["--exact-copies", "--coord-weight", "5"]
    pointer_args[pointer_args.index(str(vocab_out))] = str(pointer_out)
    pointer_args += ["--init", str(vocab_out / "checkpoint")]
    assert main([*pointer_args, "--init-probes", str(vocab_out / "train_state.pt")]) == 0
    entry = json.loads((pointer_out / "train_log.jsonl").read_text().splitlines()[-1])
    assert entry["aux/pointer_target"] > 0 and 0 <= entry["aux/pointer_hit"] <= 1
    assert 0 < entry["aux/attn_mass"] <= 1  # the completions hold the target box
    vocab_state = torch.load(vocab_out / "train_state.pt", weights_only=False)["probes"]
    pointer_state = torch.load(pointer_out / "train_state.pt", weights_only=False)["probes"]
    assert set(pointer_state) == set(vocab_state) | {"pointer.weight", "pointer.bias"}
    # started from the vocab stage's query probe (two steps at lr <= 1e-3 move it little)
    drift = (pointer_state["query_box.weight"] - vocab_state["query_box.weight"]).abs().mean()
    assert float(drift) < 0.01


def test_last_prompt_positions():
    torch = pytest.importorskip("torch")
    from regionreasoner.micro.sft import last_prompt_positions

    labels = torch.tensor([[-100, -100, 7, 8, -100], [-100, 5, 6, -100, -100]])
    assert last_prompt_positions(labels).tolist() == [1, 0]
    with pytest.raises(ValueError, match="without labelled"):
        last_prompt_positions(torch.tensor([[-100, -100]]))


def test_box_query_positions_find_the_first_labelled_box():
    torch = pytest.importorskip("torch")
    from regionreasoner.micro.sft import box_query_positions

    # prompt: the same box in the question (unlabelled); completion: "[ 1 , 2 , 3 , 4 ]"
    ids = torch.tensor([7, 1, 9, 2, 9, 3, 9, 4, 8, 1, 9, 2, 9, 3, 9, 4, 8])
    labels = torch.tensor([-100] * 8 + ids[8:].tolist())
    assert box_query_positions(ids, labels, [1, 2, 3, 4]) == [8, 10, 12, 14]
    assert box_query_positions(ids, labels, [1, 2, 3, 5]) == []
