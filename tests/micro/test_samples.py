"""The micro model's SFT samples: four-tag targets, ground-truth references in the 840
frame, dense cell targets and batches with labels on the completion only."""

from __future__ import annotations

import math

import pytest

from regionreasoner.data.schema import Dialogue
from regionreasoner.geometry.frames import Frame
from regionreasoner.micro.samples import render_completion, scene_objects
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


def test_samples_cover_every_turn_with_references_in_the_840_frame(bench):
    from regionreasoner.data.io import read_dialogues
    from regionreasoner.micro.samples import samples_from_bench

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
    from regionreasoner.micro.samples import ImageCache, collate, samples_from_bench

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
