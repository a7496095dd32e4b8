from __future__ import annotations

import re
from pathlib import Path

import pytest

from regionreasoner.dialogue.prompts import get_prompt
from regionreasoner.micro.model import (
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
    from regionreasoner.micro.model import MICRO_CHAT_TEMPLATE

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
    from regionreasoner.micro.model import (
        MICRO_CHAT_TEMPLATE,
        build_micro_processor,
        use_micro_chat_template,
    )
    from regionreasoner.micro.qwen import CHAT_TEMPLATE

    processor = build_micro_processor(tokenizer)
    assert processor.chat_template == MICRO_CHAT_TEMPLATE
    processor.chat_template = processor.tokenizer.chat_template = CHAT_TEMPLATE
    use_micro_chat_template(processor)
    assert processor.chat_template == processor.tokenizer.chat_template == MICRO_CHAT_TEMPLATE


@pytest.fixture(scope="module")
def saved_micro(tmp_path_factory):
    from regionreasoner.micro.model import build_micro_model

    return build_micro_model(tmp_path_factory.mktemp("micro") / "model", seed=0)


def _logits(model_dir):
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir, dtype="auto")
    ids = torch.arange(5, 45).unsqueeze(0)
    with torch.no_grad():
        return model.dtype, model(input_ids=ids).logits


def test_bundle_halves_the_weights_and_loads_in_float32(saved_micro, tmp_path):
    from safetensors.torch import load_file

    from regionreasoner.micro.model import BUNDLE_FILES, bundle_micro

    dest = bundle_micro(saved_micro, tmp_path / "bundle")
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        (*BUNDLE_FILES, "model.safetensors", "README.md")
    )
    assert dest.stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in dest.iterdir()} == {0o644}
    source_size = (saved_micro / "model.safetensors").stat().st_size
    assert (dest / "model.safetensors").stat().st_size < 0.55 * source_size
    stored = load_file(str(dest / "model.safetensors"))
    assert {str(t.dtype) for t in stored.values()} == {"torch.float16"}
    dtype_a, logits_a = _logits(saved_micro)
    dtype_b, logits_b = _logits(dest)
    assert str(dtype_a) == str(dtype_b) == "torch.float32"
    assert (logits_a - logits_b).abs().max().item() < 0.05
    assert not (logits_a == logits_b).all()  # the stored precision really changed


def test_bundle_replaces_a_previous_bundle_and_leaves_no_staging(saved_micro, tmp_path):
    import torch
    from safetensors.torch import load_file

    from regionreasoner.micro.model import bundle_micro

    dest = tmp_path / "bundle"
    dest.mkdir()
    (dest / "stale.txt").write_text("old", encoding="utf-8")
    bundle_micro(saved_micro, dest, weights_dtype="float32")
    assert not (dest / "stale.txt").exists()
    source = load_file(str(saved_micro / "model.safetensors"))
    stored = load_file(str(dest / "model.safetensors"))
    assert source.keys() == stored.keys()
    assert all(torch.equal(source[k], stored[k]) for k in source)  # float32: unchanged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_bundle_rejects_a_folder_without_weights_and_keeps_the_old_bundle(
    saved_micro, tmp_path, capsys
):
    from regionreasoner.cli.main import main
    from regionreasoner.errors import UserInputError
    from regionreasoner.micro.model import bundle_micro

    dest = bundle_micro(saved_micro, tmp_path / "bundle")
    before = (dest / "model.safetensors").read_bytes()
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(UserInputError, match=re.escape("missing config.json, model.safetensors")):
        bundle_micro(empty, dest)
    with pytest.raises(UserInputError, match="weights dtype"):
        bundle_micro(saved_micro, dest, weights_dtype="int8")
    assert main(["micro", "bundle", str(empty), "--dest", str(dest)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("regionreasoner micro: error: ") and "not-a-model" in err
    assert (dest / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "not-a-model"]


def test_default_bundle_is_where_the_demo_looks(saved_micro, tmp_path, monkeypatch):
    import regionreasoner.assets as assets
    from regionreasoner.micro import model as micro_model

    assert assets.bundled_model_dir().parent == Path(assets.__file__).parent
    assert assets.bundled_model_dir().name == assets.BUNDLED_MODEL_DIR
    # this checkout ships the model, so the path is found...
    assert assets.bundled_model_path() == assets.bundled_model_dir()
    assert (assets.bundled_model_dir() / "model.safetensors").is_file()
    # ...and an installation without it has none
    monkeypatch.setattr(assets, "bundled_model_dir", lambda: tmp_path / "no-model")
    assert assets.bundled_model_path() is None
    (tmp_path / "no-model").mkdir()
    assert assets.bundled_model_path() is None  # a folder without config.json
    (tmp_path / "no-model" / "config.json").write_text("{}", encoding="utf-8")
    assert assets.bundled_model_path() == tmp_path / "no-model"
    monkeypatch.undo()
    # without --dest, bundle writes where bundled_model_dir points
    monkeypatch.setattr(micro_model, "bundled_model_dir", lambda: tmp_path / "pkg" / "micro-model")
    assert micro_model.bundle_micro(saved_micro) == tmp_path / "pkg" / "micro-model"
    assert (tmp_path / "pkg" / "micro-model" / "config.json").is_file()


def test_the_bundled_model_states_its_licence_beside_the_weights():
    """The package's micro model carries the card a bundle writes, with its licence.

    (``tests/test_release.py`` checks that this licence is the package's own.)
    """
    import yaml

    import regionreasoner.assets as assets
    from regionreasoner.micro.model import MODEL_CARD, MODEL_CARD_FILE, MODEL_LICENSE

    folder = assets.bundled_model_path()
    if folder is None:
        pytest.skip("this installation has no bundled micro model")
    card = (folder / MODEL_CARD_FILE).read_text(encoding="utf-8")
    assert card == MODEL_CARD  # rewrite the card when MODEL_CARD changes
    front_matter = yaml.safe_load(card.split("---\n")[1])
    assert front_matter["license"] == MODEL_LICENSE.lower()  # Hugging Face licence ids
    assert front_matter["library_name"] == "transformers"
