"""One SFT stage of the micro model: the lr schedule, the training loop with probes and
soft targets (through `regionreasoner micro train`), resume, and the probe positions."""

from __future__ import annotations

import math

import pytest

from regionreasoner.micro.sft import StageSpec, _lr


@pytest.mark.parametrize(
    ("step", "expected"),
    [(0, 0.1), (9, 1.0), (10, 1.0), (110, 0.1), (60, 0.55)],
)
def test_stage_lr_warms_up_then_decays_to_a_floor(step, expected):
    spec = StageSpec("s", bench=None, steps=110, lr=1.0, warmup=10, min_lr_frac=0.1)  # type: ignore[arg-type]
    assert _lr(step, spec) == pytest.approx(expected)


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
