"""The TRL launcher: data sources, TRL arguments, GRPO/SFT runs on CPU, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import regionreasoner
from hostile_images import write_bomb_png, write_grey16_png
from regionreasoner.errors import ConfigError, DataFormatError, ImageError
from regionreasoner.integrations.train import (
    RESOLVED_CONFIG_FILE,
    SUMMARY_FILE,
    TrainResult,
    find_resume_checkpoint,
)
from regionreasoner.integrations.train_config import (
    DataSection,
    ModelSection,
    TrainConfig,
    load_config,
)
from regionreasoner.integrations.train_data import DATA_CACHE_DIR, resolve_dataset_dir

pytest.importorskip("trl")

REWARD_COMPONENTS = (
    "tag_format",
    "answer_format",
    "ref_citation",
    "accuracy",
    "non_repeat",
    "consistency",
    "total",
)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from regionreasoner.micro.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="module")
def trl_dataset_dir(synth_bench: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from regionreasoner.integrations.export import export_train

    out = tmp_path_factory.mktemp("export") / "train-trl"
    export_train(synth_bench, out, "trl", frame=840)
    return out


def _config(tmp_path: Path, model: Path, train: Path | str, **sections: object) -> TrainConfig:
    raw: dict[str, object] = {
        "model": {"path": str(model)},
        "data": {"train": str(train)},
        "output_dir": str(tmp_path / "run"),
        "trainer": {
            "learning_rate": 1e-4,
            "max_steps": 2,
            "per_device_train_batch_size": 4,
            "use_cpu": True,
            "logging_steps": 1,
            "save_steps": 2,
            "report_to": "none",
        },
        "grpo": {"num_generations": 4, "max_completion_length": 12, "beta": 0.01},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}  # type: ignore[dict-item]
        else:
            raw[key] = value
    return TrainConfig.model_validate(raw)


def _steps(result: TrainResult) -> list[dict]:
    return [e for e in result.log_history if "train_runtime" not in e and "step" in e]


# --------------------------------------------------------------------------- data sources


def test_synth_spec_with_unknown_parameter_is_a_config_error(tmp_path: Path) -> None:
    section = DataSection(train=f"synth://{tmp_path}/s?dialogues=2&colour=red")
    with pytest.raises(ConfigError, match="unknown synth parameter 'colour'"):
        resolve_dataset_dir(section, tmp_path / "run")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "absent.jsonl", "no such file or folder"),
        (lambda root: root, "no dataset_info.json found"),
        (lambda root: (root / "x.csv").write_text("a") and root / "x.csv", "expected a RegionDial"),
    ],
)
def test_unusable_data_specs_are_config_errors(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_dataset_dir(DataSection(train=str(make(tmp_path))), tmp_path / "run")


@pytest.mark.slow
def test_jsonl_is_exported_once_into_the_run_cache(synth_bench: Path, tmp_path: Path) -> None:
    section = DataSection(train=str(synth_bench), frame=336)
    first = resolve_dataset_dir(section, tmp_path / "run")
    assert first.parent == tmp_path / "run" / DATA_CACHE_DIR
    stamp = (first / "dataset_info.json").stat().st_mtime_ns
    again = resolve_dataset_dir(section, tmp_path / "run")
    assert again == first
    assert (again / "dataset_info.json").stat().st_mtime_ns == stamp  # reused, not rebuilt
    other_frame = resolve_dataset_dir(DataSection(train=str(synth_bench)), tmp_path / "run")
    assert other_frame != first  # the frame is part of the cache key

    from datasets import load_from_disk

    row = load_from_disk(str(first))[0]
    assert row["image"].size == (336, 336)


def _released_json(folder: Path, *more: dict) -> Path:
    """A released training JSON: a cup on a 100x50 image ``a.png`` citing a box, then
    ``more`` samples."""
    from PIL import Image

    Image.new("RGB", (100, 50), (10, 20, 30)).save(folder / "a.png")
    cup = {
        "problem": "the cup next to bbox=[10,5,20,25]",
        "solution": '[{"bbox_2d": [50, 10, 100, 50], "point_2d": [75, 30]}]',
        "image": "a.png",
    }
    source = folder / "train.json"
    source.write_text(json.dumps({"samples": [cup, *more]}), encoding="utf-8")
    return source


@pytest.mark.slow
def test_released_json_is_resized_into_the_frame(tmp_path: Path) -> None:
    from datasets import load_from_disk
    from PIL import Image

    Image.new("RGB", (840, 840), (40, 50, 60)).save(tmp_path / "b.png")
    plate = {
        "problem": "the plate",
        "solution": [{"bbox_2d": [1, 2, 3, 4], "point_2d": [2, 3]}],
        "image": "b.png",
    }
    source = _released_json(tmp_path, plate)
    folder = resolve_dataset_dir(DataSection(train=str(source)), tmp_path / "run")
    rows = load_from_disk(str(folder))
    # 100x50 -> 840x840: x * 8.4, y * 16.8
    assert rows[0]["image"].size == (840, 840)
    assert json.loads(rows[0]["solution"]) == [
        {"bbox_2d": [420, 168, 840, 840], "point_2d": [630, 504]}
    ]
    assert rows[0]["problem"] == "the cup next to bbox=[84,84,168,420]"
    assert "the cup next to bbox=[84,84,168,420]" in rows[0]["prompt"][0]["content"]
    # an image already in the frame is kept as is
    assert json.loads(rows[1]["solution"]) == [{"bbox_2d": [1, 2, 3, 4], "point_2d": [2, 3]}]
    assert rows[1]["image"].getpixel((0, 0)) == (40, 50, 60)


@pytest.mark.slow
def test_released_json_is_written_in_a_named_frame(tmp_path: Path) -> None:
    """rel1000: the original image kept, boxes, points and references on the 0-1000 grid
    (computed here by hand), and the frame columns the rewards convert the rows with."""
    from datasets import load_from_disk

    source = _released_json(tmp_path)
    for frame in ("rel1000", "rel1"):
        section = DataSection(train=str(source), frame=frame)
        (row,) = load_from_disk(str(resolve_dataset_dir(section, tmp_path / "run")))
        assert row["image"].size == (100, 50)  # shown as it is
        assert (row["frame"], row["image_wh"]) == (frame, [100, 50])
        (item,) = json.loads(row["solution"])
        if frame == "rel1000":  # x * 10, y * 20
            assert item == {"bbox_2d": [500, 200, 1000, 1000], "point_2d": [750, 600]}
            assert row["problem"] == "the cup next to bbox=[100,100,200,500]"
        else:
            assert item == {"bbox_2d": [0.5, 0.2, 1.0, 1.0], "point_2d": [0.75, 0.6]}
            assert row["problem"] == "the cup next to bbox=[0.100,0.100,0.200,0.500]"


@pytest.mark.slow
def test_a_named_data_frame_refuses_a_training_set_written_in_another(
    tmp_path: Path, tiny_model_dir: Path, trl_dataset_dir: Path
) -> None:
    from regionreasoner.integrations.train import load_processor
    from regionreasoner.integrations.train_data import load_training_set

    config = _config(tmp_path, tiny_model_dir, trl_dataset_dir, data={"frame": "rel1000"})
    processor = load_processor(str(tiny_model_dir), config.model)
    with pytest.raises(DataFormatError, match=r"export-train .* --frame rel1000"):
        load_training_set(config, processor)  # trl_dataset_dir is the 840 square export


@pytest.mark.slow
@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
def test_image_tokens_of_non_square_rows_are_the_processors_own_count(
    synth_bench: Path, tmp_path: Path, family: str
) -> None:
    """Rows in rel1000 show the original (non-square) image: the prompt-length filter
    counts its visual tokens as the model's processor makes them, per row."""
    from datasets import load_from_disk

    from regionreasoner.integrations.export import export_train
    from regionreasoner.integrations.train import load_processor
    from regionreasoner.integrations.train_data import image_token_counter, shown_sizes
    from regionreasoner.micro.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "model", family=family)
    processor = load_processor(str(model), ModelSection(path=str(model)))
    export_train(synth_bench, tmp_path / "rel", "trl", frame="rel1000")
    export_train(synth_bench, tmp_path / "square", "trl", frame=336)
    count = image_token_counter(processor)
    image_token = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    for folder, section in (
        (tmp_path / "rel", DataSection(train="x", frame="rel1000")),
        (tmp_path / "square", DataSection(train="x", frame=336)),
    ):
        dataset = load_from_disk(str(folder))
        sizes = shown_sizes(dataset, section)
        for index in (0, len(dataset) - 1):
            image = dataset[index]["image"]
            assert image.size == sizes[index]
            inputs = processor(text=["<|image_pad|>"], images=[image], return_tensors="pt")
            assert count(sizes[index]) == int((inputs["input_ids"] == image_token).sum())
    rel = load_from_disk(str(tmp_path / "rel"))
    assert shown_sizes(rel, DataSection(train="x"))[0] == (160, 120)  # the rows' own frame


def test_released_json_images_go_through_the_guarded_loader(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    write_bomb_png(tmp_path / "bomb.png")
    grey = np.full((60, 80), 40_000, np.uint16)
    write_grey16_png(tmp_path / "grey16.png", grey)
    sample = {"problem": "the plate", "solution": [{"bbox_2d": [1, 2, 30, 40]}]}
    source = tmp_path / "train.json"
    source.write_text(json.dumps({"samples": [{**sample, "image": "bomb.png"}]}))
    with pytest.raises(ImageError) as info:
        resolve_dataset_dir(DataSection(train=str(source)), tmp_path / "run")
    assert str(info.value).startswith(f"{source}: samples[0]: image: ")
    assert "has 400,000,000 pixels, over the limit of 120,000,000 pixels" in str(info.value)

    # the limit of the config is the one applied
    source.write_text(json.dumps({"samples": [{**sample, "image": "grey16.png"}]}))
    section = DataSection(train=str(source), frame=112, max_image_pixels=4_000)
    with pytest.raises(ImageError, match="is 80x60 \\(4,800 pixels\\), over the limit of 4,000"):
        resolve_dataset_dir(section, tmp_path / "run")
    from datasets import load_from_disk

    section = DataSection(train=str(source), frame=112, max_image_pixels=5_000)
    [row] = load_from_disk(str(resolve_dataset_dir(section, tmp_path / "run")))
    # 16-bit grey 40,000 keeps its high byte (156), not Pillow's clipping to 255
    assert row["image"].size == (112, 112)
    assert row["image"].convert("RGB").getpixel((50, 50)) == (156, 156, 156)


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        ({"rows": []}, 'expected {"samples": [...]}'),
        ({"samples": [{"problem": "x", "solution": "[]", "image": "a.png"}]}, "non-empty"),
        ({"samples": [{"problem": "x", "solution": "[]", "image": 3}]}, "image path"),
        ({"samples": [{"problem": "", "solution": "[]", "image": "a.png"}]}, "missing text"),
        (
            {"samples": [{"problem": "x", "solution": "[]", "image": "../a.png"}]},
            "escapes",
        ),
    ],
)
def test_released_json_errors_name_the_sample(tmp_path: Path, samples, message: str) -> None:
    pytest.importorskip("datasets")
    source = tmp_path / "data" / "train.json"
    source.parent.mkdir()
    source.write_text(json.dumps(samples), encoding="utf-8")
    with pytest.raises(DataFormatError, match=message.replace("[", r"\[").replace("]", r"\]")):
        resolve_dataset_dir(DataSection(train=str(source)), tmp_path / "run")


@pytest.mark.slow  # builds a tiny Qwen3-VL
def test_tiny_scheme_builds_the_configured_family_and_refuses_another(tmp_path: Path) -> None:
    from regionreasoner.integrations.train import resolve_model

    qwen3 = ModelSection(path=f"tiny://{tmp_path / 'tiny'}", tiny_family="qwen3-vl")
    path = Path(resolve_model(qwen3))
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == ["Qwen3VLForConditionalGeneration"]
    stamp = (path / "config.json").stat().st_mtime_ns
    assert resolve_model(qwen3) == str(path)  # reused, not rebuilt
    assert (path / "config.json").stat().st_mtime_ns == stamp
    with pytest.raises(ConfigError, match=r"model\.tiny_family=qwen2\.5-vl"):
        resolve_model(ModelSection(path=f"tiny://{tmp_path / 'tiny'}"))  # the default family


# --------------------------------------------------------------------------- TRL arguments


@pytest.mark.slow
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"not_a_trl_arg": 1},
            "trainer.extra_args.not_a_trl_arg: not an argument of trl.GRPOConfig",
        ),
        ({"beta": 0.5}, "trainer.extra_args.beta: this key has a typed setting"),
    ],
)
def test_build_trl_args_checks_extra_args(tmp_path: Path, extra, message: str) -> None:
    from regionreasoner.integrations.train import build_trl_args

    config = _config(tmp_path, tmp_path, tmp_path, trainer={"extra_args": extra})
    with pytest.raises(ConfigError) as info:
        build_trl_args(config, reward_weights=[1.0], source="cfg.yaml")
    assert str(info.value).startswith("cfg.yaml: ")
    assert message in str(info.value)


@pytest.mark.slow
def test_build_trl_args_maps_the_recipe_onto_grpo_config(tmp_path: Path) -> None:
    from regionreasoner.integrations.train import build_trl_args

    repo = Path(__file__).resolve().parents[2]
    config = load_config(
        repo / "configs" / "grpo-qwen2.5-vl-7b.yaml",
        ["trainer.bf16=false", "trainer.use_cpu=true", "trainer.report_to=none",
         "grpo.use_vllm=false", f"output_dir={tmp_path / 'run'}",
         "trainer.extra_args={adam_epsilon: 1e-8}"],
    )  # fmt: skip
    args = build_trl_args(config, reward_weights=[0, 0, 0, 0, 0, 0, 1.0])
    assert (args.num_generations, args.max_completion_length) == (8, 2000)
    assert (args.beta, args.epsilon, args.temperature) == (0.01, 0.2, 1.0)
    assert args.learning_rate == 1e-6 and args.weight_decay == 0.01
    assert args.entropy_coef == 0.001
    assert args.vllm_max_model_length == 1300 + 2000
    assert args.reward_weights == [0, 0, 0, 0, 0, 0, 1.0]
    assert args.gradient_checkpointing is True
    assert args.adam_epsilon == 1e-8
    assert args.model_init_kwargs["dtype"] == "bfloat16"


@pytest.mark.slow
def test_build_trl_args_wraps_trl_rejections(tmp_path: Path) -> None:
    from regionreasoner.integrations.train import build_trl_args

    # 6 completions per step cannot be split into groups of 4 generations
    config = _config(tmp_path, tmp_path, tmp_path, trainer={"per_device_train_batch_size": 6})
    with pytest.raises(ConfigError, match="TRL rejected the settings"):
        build_trl_args(config, reward_weights=[1.0])


def test_find_resume_checkpoint_refuses_to_restart_over_checkpoints(tmp_path: Path) -> None:
    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "checkpoint-10").mkdir()  # numeric order, not text order
    (tmp_path / "checkpoint-99").write_text("")  # a file, not a checkpoint
    (tmp_path / "checkpoint-50-old").mkdir()  # not the trainer's naming
    assert find_resume_checkpoint(tmp_path, resume=True) == tmp_path / "checkpoint-10"
    with pytest.raises(ConfigError, match="pass --resume"):
        find_resume_checkpoint(tmp_path, resume=False)
    assert find_resume_checkpoint(tmp_path / "fresh", resume=True) is None


def test_reward_setup_threads_the_rewards_section(tmp_path: Path) -> None:
    from regionreasoner.integrations.train import reward_setup
    from regionreasoner.rewards import score_completion
    from regionreasoner.rewards.hacking import GOOD_COMPLETION, PROBLEM, SOLUTION

    path = tmp_path / "c.yaml"
    path.write_text("model: tiny://m\ndata: synth://d?dialogues=4\noutput_dir: runs/x\n")
    overrides = ["rewards.alpha=0.5", "rewards.beta=2", "rewards.normalisation=base"]
    funcs, weights = reward_setup(load_config(path, overrides))
    assert [f.__name__ for f in funcs] == list(REWARD_COMPONENTS)
    assert weights == [0.0] * 6 + [1.0]
    total = funcs[-1](completions=[GOOD_COMPLETION], problem=[PROBLEM], solution=[SOLUTION])
    expected = score_completion(GOOD_COMPLETION, problem=PROBLEM, solution=SOLUTION,
                                alpha=0.5, beta=2.0, normalisation="base")  # fmt: skip
    assert total == [expected.total]


# --------------------------------------------------------------------------- runs


@pytest.mark.slow
def test_grpo_two_steps_log_every_reward_component(
    tmp_path: Path, tiny_model_dir: Path, trl_dataset_dir: Path
) -> None:
    from regionreasoner.integrations.train import run_training

    result = run_training(_config(tmp_path, tiny_model_dir, trl_dataset_dir))
    assert result.global_step == 2
    steps = _steps(result)
    assert [e["step"] for e in steps] == [1, 2]
    for entry in steps:
        for name in REWARD_COMPONENTS:
            assert f"rewards/{name}/mean" in entry, name
    # the optimised reward is the profile total (the components are logged at weight 0)
    assert steps[0]["reward"] == pytest.approx(steps[0]["rewards/total/mean"], abs=1e-5)
    run = tmp_path / "run"
    assert (run / "checkpoint-2").is_dir()
    assert (run / "model.safetensors").is_file()  # final model, loadable as hf:run
    summary = json.loads((run / SUMMARY_FILE).read_text())
    assert summary["global_step"] == 2
    assert "rewards/accuracy/mean" in summary["last_log"]
    versions = json.loads((run / RESOLVED_CONFIG_FILE).read_text())["versions"]
    assert versions["regionreasoner"] == regionreasoner.__version__
    assert versions["trl"] and versions["torch"]


@pytest.mark.slow
def test_sft_two_steps_train_on_four_tag_targets(
    tmp_path: Path, tiny_model_dir: Path, trl_dataset_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batches TRL computes the loss on hold the four-tag targets (three tags without
    a reference), and the loss covers exactly those target tokens, never the prompt."""
    import math

    import numpy as np
    import trl
    from datasets import load_from_disk

    from regionreasoner.integrations.train import load_processor, run_training
    from regionreasoner.parsing import find_cited_boxes, parse_response, tags_in_order

    batches: list[dict] = []
    compute_loss = trl.SFTTrainer.compute_loss

    def recording(self, model, inputs, *args, **kwargs):  # type: ignore[no-untyped-def]
        batches.append({k: inputs[k].detach().clone() for k in ("input_ids", "labels")})
        batches[-1]["attention_mask"] = inputs["attention_mask"].detach().clone()
        return compute_loss(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(trl.SFTTrainer, "compute_loss", recording)
    config = _config(tmp_path, tiny_model_dir, trl_dataset_dir, stage="sft")
    result = run_training(config)
    assert result.global_step == 2
    losses = [e["loss"] for e in _steps(result)]
    assert len(losses) == 2 and all(math.isfinite(v) and v > 0 for v in losses)
    assert (tmp_path / "run" / "model.safetensors").is_file()

    tokenizer = load_processor(str(tiny_model_dir), config.model).tokenizer
    rows = list(load_from_disk(str(trl_dataset_dir)))
    assert len(batches) == 2
    tag_sequences = set()
    for batch in batches:
        for ids, labels, mask in zip(
            batch["input_ids"].numpy(),
            batch["labels"].numpy(),
            batch["attention_mask"].numpy(),
            strict=True,
        ):
            scored = labels != -100
            # the loss is on the real tokens, one contiguous run that ends the sequence
            assert np.array_equal(labels[scored], ids[scored]) and not (scored & (mask == 0)).any()
            positions = np.flatnonzero(scored)
            assert positions.size > 0 and np.all(np.diff(positions) == 1)
            assert positions[-1] == np.flatnonzero(mask)[-1]
            prompt = tokenizer.decode(ids[(mask == 1) & ~scored])
            target = tokenizer.decode(ids[scored]).removesuffix("\n").removesuffix("<|im_end|>")
            assert prompt.endswith("<|im_start|>assistant\n") and "<|im_start|>" not in target
            # the sample of this target: the longest question the prompt holds (one text
            # may be asked about several images, with different answers)
            matching = [r for r in rows if r["problem"] in prompt]
            problem = max((r["problem"] for r in matching), key=len)
            solutions = [
                [item["bbox_2d"] for item in json.loads(r["solution"])]
                for r in matching
                if r["problem"] == problem
            ]
            references = [c.xyxy for c in find_cited_boxes(problem) if c.style != "bare"]
            expected = (
                ("scene", "focus", "think", "answer")
                if references
                else ("scene", "think", "answer")
            )
            assert tags_in_order(target) == expected
            parsed = parse_response(target)
            assert parsed.issues == ()
            assert parsed.regions.xyxy.tolist() in solutions  # the ground truth, as JSON
            assert {c.xyxy for c in parsed.cited} == set(references)
            tag_sequences.add(expected)
    assert len(tag_sequences) == 2  # both kinds of target were trained on


@pytest.mark.slow
def test_grpo_resume_continues_the_global_step(
    tmp_path: Path, tiny_model_dir: Path, trl_dataset_dir: Path
) -> None:
    from regionreasoner.integrations.train import run_training

    first = run_training(_config(tmp_path, tiny_model_dir, trl_dataset_dir))
    assert first.global_step == 2
    longer = _config(tmp_path, tiny_model_dir, trl_dataset_dir, trainer={"max_steps": 3})
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        run_training(longer)
    resumed = run_training(longer, resume=True)
    assert resumed.resumed_from == tmp_path / "run" / "checkpoint-2"
    assert resumed.global_step == 3
    # the resumed process trains step 3 only; steps 1-2 come from the checkpoint's history
    assert [e["step"] for e in _steps(resumed)] == [1, 2, 3]


@pytest.mark.slow
def test_max_prompt_tokens_below_any_prompt_leaves_nothing(
    tmp_path: Path, tiny_model_dir: Path, trl_dataset_dir: Path
) -> None:
    from regionreasoner.integrations.train import load_processor
    from regionreasoner.integrations.train_data import load_training_set

    config = _config(tmp_path, tiny_model_dir, trl_dataset_dir, data={"max_prompt_tokens": 20})
    processor = load_processor(str(tiny_model_dir), config.model)
    with pytest.raises(DataFormatError, match="empty"):
        load_training_set(config, processor)
    roomy = _config(tmp_path, tiny_model_dir, trl_dataset_dir, data={"max_prompt_tokens": 4000})
    kept = load_training_set(roomy, processor)
    assert len(kept) == len(
        load_training_set(_config(tmp_path, tiny_model_dir, trl_dataset_dir), processor)
    )


@pytest.mark.slow
def test_lora_adapts_only_the_language_model_and_saves_merged_weights(
    tmp_path: Path, tiny_model_dir: Path, trl_dataset_dir: Path
) -> None:
    from safetensors import safe_open

    from regionreasoner.integrations.train import MERGED_DIR, run_training

    lora = {"enabled": True, "r": 4, "lora_alpha": 8}
    config = _config(tmp_path, tiny_model_dir, trl_dataset_dir, stage="sft", lora=lora)
    assert run_training(config).global_step == 2
    run = tmp_path / "run"
    with safe_open(str(run / "adapter_model.safetensors"), "pt") as adapter:
        names = list(adapter.keys())
    # 2 text layers x 7 linear layers x (A, B); nothing in the vision tower
    assert len(names) == 2 * 7 * 2
    assert all(".language_model." in n for n in names)
    with safe_open(str(run / MERGED_DIR / "model.safetensors"), "pt") as merged:
        assert not [n for n in merged.keys() if "lora" in n]  # noqa: SIM118
