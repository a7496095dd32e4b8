"""Prompt templates: the released wording (the models' interface), normalisation, parsing."""

from __future__ import annotations

import dataclasses

import pytest

from regionreasoner.dialogue.prompts import ANSWER_EXAMPLE, PROMPTS, PromptTemplate, get_prompt
from regionreasoner.errors import UnknownComponentError
from regionreasoner.parsing.answer import parse_answer_regions

# Retyped from the released code (test/vision_reasoner/models/vision_reasoner_model.py,
# DETECTION_TEMPLATE, and train/verl/utils/rl_dataset.py, user_prompt without "<image>\n")
# to pin the wording the released checkpoints were trained and evaluated with.
RELEASED_EXAMPLE = (
    '[{"bbox_2d": [10,100,200,210], "point_2d": [30,110]}, '
    '{"bbox_2d": [225,296,706,786], "point_2d": [302,410]}]'
)
RELATIONS_LINE = (
    "If a reference bbox is provided (e.g., 'above/ below/ to the left of/ to the right of/ "
    "inside/ overlapping with/ touching bbox=[x1,y1,x2,y2]'), "
)
STEPS_3_4 = (
    "3) In <think> </think>, reason over the whole image by combining the global scene and the "
    "reference bbox relation. Explicitly state which spatial relation from the question you "
    "apply (e.g., 'target is above the reference'), and use it to constrain the search over the "
    "scene to locate the target object(s). If multiple candidates exist, compare them and pick "
    "the closest match.\n"
    "4) In <answer> </answer>, output the bbox(es) and point(s) for the target object(s) in JSON.\n"
)


def released_inference_prompt(question: str) -> str:
    return (
        f'Please find "{question}" with bboxs and points.\n'
        + RELATIONS_LINE
        + "use it as spatial guidance only.\n\n"
        "1) In <scene> </scene>, give a concise global scene description.\n"
        "2) If a reference bbox exists, in <focus> </focus> describe ONLY what is visible inside "
        "that bbox (do not output the final answer or target label here).\n"
        + STEPS_3_4
        + "\nFormat:\n"
        "<scene> global scene description </scene>\n"
        "<focus> description of reference bbox content (if provided bbox=[x1,y1,x2,y2]) </focus>\n"
        "<think> reasoning that applies the spatial relation to the scene and narrows to the final "
        "target(s) </think>\n"
        f"<answer>{RELEASED_EXAMPLE}</answer>"
    )


def released_training_prompt(question: str) -> str:
    return (
        f'Please find "{question}" with bboxs and points.\n'
        + RELATIONS_LINE
        + "use it as spatial guidance.\n\n"
        "1) In <scene> </scene>, give a concise global scene description.\n"
        "2) In <focus> </focus>, describe what is visible inside the reference bbox (if provided). "
        "(do not output the final answer or target label here).\n" + STEPS_3_4 + "\nFormat:\n"
        "<scene> global description of the image here </scene>\n"
        "<focus> description of reference bbox content here </focus>\n"
        "<think> thinking process here </think>\n"
        f"<answer>{RELEASED_EXAMPLE}</answer>"
    )


def test_registered_names():
    assert PROMPTS.names() == sorted(
        [
            "regionreasoner",
            "regionreasoner-train",
            "visionreasoner",
            "qwen-grounding",
            "qwen3-grounding",
            "plain",
        ]
    )
    for name in PROMPTS:
        prompt = get_prompt(name)
        assert isinstance(prompt, PromptTemplate) and prompt.name == name


def test_unknown_prompt():
    with pytest.raises(UnknownComponentError, match="Did you mean 'regionreasoner'"):
        get_prompt("regionreasonr")


def test_answer_example_is_the_released_one_and_parses():
    assert ANSWER_EXAMPLE == RELEASED_EXAMPLE
    regions, total, issues = parse_answer_regions(ANSWER_EXAMPLE)
    assert issues == [] and total == 2
    assert regions.xyxy.tolist() == [[10, 100, 200, 210], [225, 296, 706, 786]]
    assert regions.points.tolist() == [[30, 110], [302, 410]]


@pytest.mark.parametrize(
    "question",
    ["The silver car near bbox=[1,2,3,4].", '"Which dog?"', "a cup!", "Person  on the LEFT"],
)
def test_inference_prompt_is_the_released_text(question):
    # the release lower-cases and strips . " ? ! from both ends
    expected = released_inference_prompt(question.lower().strip('."?!'))
    assert get_prompt("regionreasoner").render_user(question) == expected
    assert get_prompt("regionreasoner").system is None


@pytest.mark.parametrize("question", ["The Dog.", "Where is it?.", "cup near bbox=[1,2,3,4]"])
def test_training_prompt_is_the_released_text(question):
    # training lower-cases and strips only "."
    expected = released_training_prompt(question.lower().strip("."))
    prompt = get_prompt("regionreasoner-train")
    assert prompt.render_user(question) == expected
    assert prompt.system == "You are a helpful assistant."


@pytest.mark.parametrize(
    ("name", "question", "normalized"),
    [
        ("regionreasoner", 'The Cup."', "the cup"),
        ("regionreasoner", "?!Cup?!", "cup"),
        ("regionreasoner-train", "The Cup?.", "the cup?"),
        ("qwen-grounding", "The Cup.", "The Cup."),  # kept as written
        ("plain", "The Cup.", "the cup"),
    ],
)
def test_normalize_question(name, question, normalized):
    assert get_prompt(name).normalize_question(question) == normalized


def test_qwen_grounding_text():
    text = get_prompt("qwen-grounding").render_user("The red cup")
    assert text == 'Locate "The red cup", report the bboxes coordinates in JSON format.'


def test_plain_prompt_keeps_literal_braces():
    text = get_prompt("plain").render_user("the cup")
    assert '"the cup"' in text
    assert '[{"bbox_2d": [x1, y1, x2, y2], "point_2d": [x, y]}]' in text


def test_visionreasoner_prompt_mentions_only_think_and_answer():
    text = get_prompt("visionreasoner").render_user("the cup")
    assert "<think>" in text and "<answer>" in text
    assert "<scene>" not in text and "<focus>" not in text
    assert text.endswith(f"<answer>{RELEASED_EXAMPLE}</answer>")


GOOD = '[{"bbox_2d": [1, 2, 3, 4], "point_2d": [2, 3]}]'


@pytest.mark.parametrize(
    ("name", "text", "ok"),
    [
        ("regionreasoner", f"<scene>s</scene><think>t</think><answer>{GOOD}</answer>", True),
        ("regionreasoner", f"<think>t</think><answer>{GOOD}</answer>", False),  # no scene
        ("visionreasoner", f"<think>t</think><answer>{GOOD}</answer>", True),
        ("qwen-grounding", f"```json\n{GOOD}\n```", True),  # bare JSON answer
        ("plain", GOOD, True),
        ("plain", "I cannot see it.", False),
    ],
)
def test_parse_uses_the_prompts_rules(name, text, ok):
    parsed = get_prompt(name).parse(text)
    assert parsed.format_ok is ok
    if ok:
        assert parsed.regions.xyxy.tolist() == [[1, 2, 3, 4]]


def test_prompt_template_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_prompt("plain").template = "x"  # type: ignore[misc]
