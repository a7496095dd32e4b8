"""Training configs: strict keys, dotted overrides, shorthands, shipped configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from regionreasoner.errors import ConfigError
from regionreasoner.integrations.train_config import (
    LANGUAGE_MODEL_LINEAR_LAYERS,
    load_config,
    parse_override,
)

REPO = Path(__file__).resolve().parents[2]
MINIMAL = "model: tiny://m\ndata: synth://d?dialogues=4\noutput_dir: runs/x\n"


@pytest.fixture
def config_file(tmp_path: Path):
    def write(text: str) -> Path:
        path = tmp_path / "train.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_load_config_expands_shorthands_and_fills_defaults(config_file) -> None:
    config = load_config(config_file(MINIMAL))
    assert config.model.path == "tiny://m"
    assert config.data.train == "synth://d?dialogues=4"
    assert config.stage == "grpo"
    assert config.data.frame == 840
    assert config.data.max_image_pixels == 120_000_000
    assert config.rewards.profile == "paper"
    assert config.lora.target_modules == LANGUAGE_MODEL_LINEAR_LAYERS


@pytest.mark.parametrize(
    ("override", "path", "expected"),
    [
        ("trainer.learning_rate=1e-5", ("trainer", "learning_rate"), 1e-5),  # YAML 1.1 string
        ("trainer.max_steps=7", ("trainer", "max_steps"), 7),
        ("trainer.bf16=true", ("trainer", "bf16"), True),
        ("trainer.report_to=tensorboard", ("trainer", "report_to"), ["tensorboard"]),
        ("trainer.report_to=[tensorboard,wandb]", ("trainer", "report_to"),
         ["tensorboard", "wandb"]),
        ("grpo.generation_batch_size=null", ("grpo", "generation_batch_size"), None),
        ("model.dtype=bfloat16", ("model", "dtype"), "bfloat16"),  # into a string shorthand
        ("data.frame=448", ("data", "frame"), 448),
        ("data.max_image_pixels=5000", ("data", "max_image_pixels"), 5000),
        ("output_dir=runs/y=z", ("output_dir",), "runs/y=z"),  # split at the first '='
        ("lora.target_modules=[q_proj, v_proj]", ("lora", "target_modules"), ["q_proj", "v_proj"]),
    ],
)  # fmt: skip
def test_load_config_applies_typed_overrides(config_file, override, path, expected) -> None:
    config = load_config(config_file(MINIMAL), [override])
    value = config
    for part in path:
        value = getattr(value, part)
    assert value == expected


def test_load_config_stage_argument_replaces_the_file_stage(config_file) -> None:
    assert load_config(config_file(MINIMAL + "stage: grpo\n"), stage="sft").stage == "sft"


@pytest.mark.parametrize("frame", ["rel1000", "rel1", "image", "native", "square840"])
def test_data_frame_takes_a_frame_name_and_frame_sets_both_rollouts(config_file, frame) -> None:
    assert load_config(config_file(MINIMAL), [f"data.frame={frame}"]).data.frame == frame
    config = load_config(config_file(MINIMAL + "data: {train: x, frame: 448}\n"), frame=frame)
    assert (config.data.frame, config.dialogue.frame) == (frame, frame)


@pytest.mark.parametrize(
    ("overrides", "frame", "message"),
    [
        (["data.frame=rel100"], None, "data.frame: Value error, expected a square side in "
         "pixels or one of image, native, rel1, rel1000, square840"),
        (["data.frame=auto"], None, "the frame probe is for evaluation; name the frame"),
        (["data.frame=14"], None, "a square frame side must be at least 28"),
        (["dialogue.frame=rel100"], None, "dialogue.frame: Value error, expected one of image"),
        ([], "rel100", "expected a square side in pixels or one of"),
        ([], "rel100", "(set by a command-line override)"),
        (["model.tiny_family=qwen4-vl"], None, "unknown family; choose from qwen2.5-vl, qwen3-vl"),
    ],
)  # fmt: skip
def test_bad_frames_and_families_are_config_errors(config_file, overrides, frame, message) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_file(MINIMAL), overrides, frame=frame)
    assert message in str(info.value)


def test_extra_args_turn_exponent_strings_into_numbers(config_file) -> None:
    text = MINIMAL + "trainer:\n  extra_args: {adam_epsilon: 1e-8, optim: adamw_torch}\n"
    extra = load_config(config_file(text)).trainer.extra_args
    assert extra == {"adam_epsilon": 1e-8, "optim": "adamw_torch"}


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        (MINIMAL + "trainer:\n  learnin_rate: 1\n", [],
         "unknown key 'trainer.learnin_rate' (did you mean 'trainer.learning_rate'?)"),
        (MINIMAL + "sedd: 1\n", [], "unknown key 'sedd' (did you mean 'seed'?)"),
        (MINIMAL, ["grpo.temprature=0.5"],
         "unknown key 'grpo.temprature' (did you mean 'grpo.temperature'?) "
         "(set by a command-line override)"),
        (MINIMAL, ["grpo.num_generations=1"], "grpo.num_generations: Input should be greater"),
        (MINIMAL, ["stage=ppo"], "stage: Input should be 'grpo' or 'sft'"),
        (MINIMAL, ["data.max_image_pixels=0"],
         "data.max_image_pixels: Value error, data.max_image_pixels must be a positive integer"),
        (MINIMAL, ["data.max_image_pixels=200000000"], "above Pillow's own limit"),
        (MINIMAL, ["trainer.report_to=[none, wandb]"], "'none' cannot be combined"),
        (MINIMAL, ["trainer.report_to=mlflow"], "unknown target(s) ['mlflow']"),
        ("data: x\noutput_dir: y\n", [], "missing required key 'model'"),
        (MINIMAL, ["model.path.sub=1"], "'model.path' is not a section"),
        ("- a\n- b\n", [], "the config must be a mapping"),
        ("model: [unclosed\n", [], "not valid YAML"),
    ],
)  # fmt: skip
def test_load_config_errors_name_the_file_and_the_key(
    config_file, text: str, overrides: list[str], message: str
) -> None:
    path = config_file(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    assert message in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("bad", ["novalue", "=1", "a..b=1", ".a=1", "a.=1", "x=[unclosed"])
def test_parse_override_rejects_malformed_items(bad: str) -> None:
    with pytest.raises(ConfigError, match="override"):
        parse_override(bad)


def test_load_config_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config"):
        load_config(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    "name",
    [
        "grpo-tiny-cpu.yaml",
        "sft-tiny-cpu.yaml",
        "grpo-qwen2.5-vl-7b.yaml",
        "grpo-dialogue-tiny-cpu.yaml",
    ],
)
def test_shipped_configs_validate(name: str) -> None:
    config = load_config(REPO / "configs" / name)
    assert config.model.path
    assert config.data.train


def test_shipped_7b_config_is_the_paper_recipe() -> None:
    config = load_config(REPO / "configs" / "grpo-qwen2.5-vl-7b.yaml")
    assert config.grpo.num_generations == 8
    # 16 prompts x 8 generations per optimizer step on the documented 4 GPUs
    completions = 4 * config.trainer.per_device_train_batch_size
    completions *= config.trainer.gradient_accumulation_steps
    assert completions // config.grpo.num_generations == 16
    assert config.trainer.learning_rate == pytest.approx(1e-6)
    assert config.trainer.weight_decay == pytest.approx(0.01)
    assert config.grpo.beta == pytest.approx(1e-2)
    assert config.grpo.epsilon == pytest.approx(0.2)
    assert config.grpo.temperature == 1.0
    assert config.data.max_prompt_tokens == 1300
    assert config.grpo.max_completion_length == 2000
    assert config.trainer.num_train_epochs == 1
    assert config.trainer.bf16 and config.trainer.gradient_checkpointing
    assert config.grpo.use_vllm and config.grpo.vllm_mode == "colocate"


def test_shipped_tiny_configs_build_everything_on_the_fly() -> None:
    for name in ("grpo-tiny-cpu.yaml", "sft-tiny-cpu.yaml", "grpo-dialogue-tiny-cpu.yaml"):
        config = load_config(REPO / "configs" / name)
        assert config.model.path.startswith("tiny://")
        assert config.data.train.startswith("synth://")
        assert config.trainer.use_cpu and not config.trainer.bf16
        assert not Path(config.output_dir).is_absolute()


def test_rewards_normalisation_defaults_to_components_and_is_checked(config_file) -> None:
    path = config_file(MINIMAL)
    assert load_config(path).rewards.normalisation == "components"
    assert load_config(path, ["rewards.normalisation=base"]).rewards.normalisation == "base"
    with pytest.raises(ConfigError, match=r"rewards\.normalisation"):
        load_config(path, ["rewards.normalisation=mean"])
    with pytest.raises(ConfigError, match="not available with the 'official'") as info:
        load_config(path, ["rewards.profile=official", "rewards.normalisation=base"])
    assert str(path) in str(info.value)


def test_shipped_dialogue_config_is_the_tiny_config_with_dialogue_rollouts() -> None:
    single = load_config(REPO / "configs" / "grpo-tiny-cpu.yaml")
    dialogue = load_config(REPO / "configs" / "grpo-dialogue-tiny-cpu.yaml")
    assert (single.rollout, dialogue.rollout) == ("single", "dialogue")
    assert dialogue.model == single.model and dialogue.data == single.data
    assert dialogue.grpo == single.grpo and dialogue.rewards == single.rewards
    assert dialogue.dialogue.reference_curriculum.start == 1.0
    assert dialogue.dialogue.reference_curriculum.end == 0.0
    assert dialogue.trainer.gradient_accumulation_steps == 1
