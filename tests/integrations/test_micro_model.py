from __future__ import annotations

import pytest

from regionreasoner.dialogue.prompts import get_prompt
from regionreasoner.integrations.micro_model import (
    FORMAT_CHUNKS,
    MICRO_MAX_INT,
    build_micro_tokenizer,
    integer_tokens,
    ordinal_code,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tokenizer():
    return build_micro_tokenizer(seed=0)


def test_every_integer_of_the_frame_is_one_token(tokenizer):
    for value in range(MICRO_MAX_INT + 1):
        ids = tokenizer(str(value), add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, value
        assert tokenizer.decode(ids) == str(value)


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("bbox=[12,30,400,58]", ["bbox=[", "12", ",", "30", ",", "400", ",", "58", "]"]),
        # above the frame: the longest integer prefix, then the rest
        ("841", ["84", "1"]),
        ("9999", ["99", "99"]),
    ],
)
def test_numbers_split_as_expected(tokenizer, text, pieces):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == pieces
    assert tokenizer.decode(ids) == text


@pytest.mark.parametrize("name", ["regionreasoner", "regionreasoner-train"])
def test_fixed_prompt_text_costs_two_tokens(tokenizer, name):
    question = "the yellow circle"
    text = get_prompt(name).render_user(question)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    alone = tokenizer(" yellow circle", add_special_tokens=False)["input_ids"]
    # head chunk + "the" + " yellow circle" + tail chunk
    assert len(ids) == 2 + 1 + len(alone)
    assert tokenizer.decode(ids) == text


def test_words_keep_their_tokens_across_contexts(tokenizer):
    inside_list = tokenizer("; striped yellow star [1,2,3,4]", add_special_tokens=False)
    inside_question = tokenizer('"the striped yellow star', add_special_tokens=False)
    words = tokenizer(" striped yellow star", add_special_tokens=False)["input_ids"]
    for ids in (inside_list["input_ids"], inside_question["input_ids"]):
        n = len(words)
        assert any(ids[i : i + n] == words for i in range(len(ids) - n + 1))


def test_format_chunks_are_single_tokens(tokenizer):
    for chunk in FORMAT_CHUNKS:
        assert len(tokenizer(chunk, add_special_tokens=False)["input_ids"]) == 1, chunk


def test_integer_tokens_are_in_order():
    tokens = integer_tokens(12)
    assert tokens[0] == "0" and tokens[-1] == "12" and len(tokens) == 13


def test_ordinal_code_is_smooth():
    # cosine similarity to 100 falls with the distance: 101 close, 110 less, 600 far
    code = ordinal_code([100, 101, 110, 600], 64)
    unit = code / code.norm(dim=1, keepdim=True)
    sims = [float((unit[0] * unit[i]).sum()) for i in (1, 2, 3)]
    assert sims[0] > 0.85
    assert sims[0] > sims[1] > sims[2]
    assert sims[2] < 0.3


def test_micro_chat_template_puts_the_question_before_the_image(tokenizer):
    from regionreasoner.integrations.micro_model import MICRO_CHAT_TEMPLATE

    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "find it"}]}
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert tokenizer.chat_template == MICRO_CHAT_TEMPLATE
    assert text.index("find it") < text.index("<|vision_start|><|image_pad|><|vision_end|>")
    assert text.count("<|image_pad|>") == 1
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")


def test_old_processors_switch_to_the_micro_template(tokenizer):
    from regionreasoner.integrations.micro_model import (
        MICRO_CHAT_TEMPLATE,
        build_micro_processor,
        use_micro_chat_template,
    )
    from regionreasoner.integrations.tiny_model import CHAT_TEMPLATE

    processor = build_micro_processor(tokenizer)
    assert processor.chat_template == MICRO_CHAT_TEMPLATE
    processor.chat_template = processor.tokenizer.chat_template = CHAT_TEMPLATE
    use_micro_chat_template(processor)
    assert processor.chat_template == processor.tokenizer.chat_template == MICRO_CHAT_TEMPLATE
