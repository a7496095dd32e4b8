"""The micro recipe (`recipes/micro/run.sh`) as a pipeline: which stage starts from which.

The script is run with a stub `RR` program (for `regionreasoner`) that only records its
arguments, so these tests check the wiring of the stages (each stage starts from a
checkpoint an earlier stage wrote, trains on data the data stage builds, GRPO starts from
the last SFT stage), that the real command-line parser accepts every call, and the
wall-time log, without training anything.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from regionreasoner.cli.main import build_parser
from regionreasoner.integrations.train_config import load_config

REPO = Path(__file__).resolve().parents[2]
RUN_SH = REPO / "recipes" / "micro" / "run.sh"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="a bash recipe")

STAGE_CLOCK_S = 3808.4  # what the stub `micro train` reports as its stage's training clock
MICRO_TRAIN = ["rr", "micro", "train"]


def _stub(path: Path, log: Path, name: str) -> Path:
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        f"    f.write(json.dumps([{name!r}, *sys.argv[1:]]) + '\\n')\n"
        # like `micro train`: the stage's training clock (carried across resumes) is the
        # `wall_s` of the last line of OUT/train_log.jsonl
        "if sys.argv[1:3] == ['micro', 'train'] and '--out' in sys.argv:\n"
        "    import pathlib\n"
        "    out = pathlib.Path(sys.argv[sys.argv.index('--out') + 1])\n"
        "    out.mkdir(parents=True, exist_ok=True)\n"
        "    with (out / 'train_log.jsonl').open('a') as f:\n"
        f"        f.write(json.dumps({{'step': 1, 'wall_s': {STAGE_CLOCK_S}}}) + '\\n')\n"
    )
    path.chmod(0o755)
    return path


def _run(
    tmp_path: Path, stages: str | None = None, device: str | None = None
) -> tuple[list[list[str]], Path]:
    log = tmp_path / "calls.jsonl"
    root = tmp_path / "root"
    env = dict(os.environ, RR=str(_stub(tmp_path / "rr", log, "rr")), ROOT=str(root))
    if stages is not None:
        env["STAGES"] = stages
    else:
        env.pop("STAGES", None)
    env.pop("DEVICE", None)
    env.pop("BATCH", None)
    if device is not None:
        env["DEVICE"] = device
    subprocess.run(["bash", str(RUN_SH)], env=env, check=True, capture_output=True, timeout=60)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return calls, root


def _flag(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


def _default_stages() -> list[str]:
    for line in RUN_SH.read_text().splitlines():
        if line.startswith("STAGES="):
            return shlex.split(line.split(":-", 1)[1].split("}", 1)[0])[0].split()
    raise AssertionError("run.sh has no STAGES default")


def test_every_stage_starts_from_an_earlier_stage_and_known_data(tmp_path: Path) -> None:
    calls, root = _run(tmp_path)
    built = {_flag(c, "--out") for c in calls if c[:3] == ["rr", "build", "synth"]}
    data_splits = {str(root / "data" / Path(out).name) for out in built}
    sft_calls = [c for c in calls if c[:3] == MICRO_TRAIN]
    order = [_flag(c, "--name") for c in sft_calls]
    assert order == [s for s in _default_stages() if s.startswith("sft")]

    done: set[str] = set()
    for args in sft_calls:
        name = _flag(args, "--name")
        for flag in ("--bench", "--eval-bench"):
            assert _flag(args, flag) in data_splits, (name, flag)
        assert _flag(args, "--out") == str(root / name)
        init = _flag(args, "--init")
        if init is not None:
            assert Path(init).name == "checkpoint" and Path(init).parent.parent == root
            assert Path(init).parent.name in done, f"{name} starts from a stage not run before it"
        probes = _flag(args, "--init-probes")
        if probes is not None:
            assert Path(probes).name == "train_state.pt"
            assert Path(probes).parent.name in done, (
                f"{name} takes probes from a stage not run before it"
            )
        assert "--resume" in args
        done.add(name)
    assert _flag(sft_calls[0], "--init") is None, "the first stage trains from scratch"

    (grpo,) = [c for c in calls if c[:2] == ["rr", "train"]]
    model = next(a.split("=", 1)[1] for a in grpo if a.startswith("model="))
    assert model == str(root / order[-1] / "checkpoint"), "GRPO starts from the last SFT stage"
    assert "--resume" in grpo


def test_walltimes_has_one_line_per_stage_across_reruns(tmp_path: Path) -> None:
    _run(tmp_path, stages="data sft1 sft2")
    _, root = _run(tmp_path, stages="data sft1 sft2 sft3")
    rows = [line.split("\t") for line in (root / "walltimes.tsv").read_text().splitlines()]
    assert [r[0] for r in rows] == ["data", "sft1", "sft2", "sft3"]
    assert all(r[1].isdigit() and r[2].endswith("Z") for r in rows)
    # an SFT stage logs its own training clock (which spans resumes across sessions),
    # not only the seconds of the invocation that finished it
    assert {r[0]: int(r[1]) for r in rows if r[0].startswith("sft")} == {
        s: int(STAGE_CLOCK_S) for s in ("sft1", "sft2", "sft3")
    }


@pytest.mark.parametrize(("device", "use_cpu"), [(None, "true"), ("cuda", "false")])
def test_device_reaches_sft_and_grpo(tmp_path: Path, device: str | None, use_cpu: str) -> None:
    calls, _ = _run(tmp_path, stages="sft1 grpo", device=device)
    (sft,) = [c for c in calls if c[:3] == MICRO_TRAIN]
    assert _flag(sft, "--device") == (device or "cpu")
    assert _flag(sft, "--batch-size") == "8", "the recipe's batch, on any device"
    (grpo,) = [c for c in calls if c[:2] == ["rr", "train"]]
    assert f"trainer.use_cpu={use_cpu}" in grpo


def test_only_the_named_stages_run(tmp_path: Path) -> None:
    calls, _ = _run(tmp_path, stages="sft4")
    assert [_flag(c, "--name") for c in calls] == ["sft4"]


def test_every_call_of_the_recipe_parses_with_the_real_cli(tmp_path: Path) -> None:
    """The stub records the arguments; the real parser must accept each call (a flag the
    recipe passes but `regionreasoner micro train` lacks would exit 2 here)."""
    sft_stages = [s for s in _default_stages() if s.startswith("sft")] + ["sft9"]
    calls, root = _run(tmp_path, stages=" ".join([*_default_stages(), "sft9", "bundle"]))
    parser = build_parser()
    commands = []
    for call in calls:
        args = parser.parse_args(call[1:])
        commands.append(args._command.name)
        if call[:3] == MICRO_TRAIN:
            assert args.bench.parent == args.eval_bench.parent == root / "data"
    # the eval stage finds no trained model (the stubs write none), so it calls nothing
    assert set(commands) == {"build", "micro", "train"}
    assert commands.count("micro") == len(sft_stages) + 1  # every SFT stage, the bundle
    (bundle,) = [c for c in calls if c[:3] == ["rr", "micro", "bundle"]]
    assert bundle[3:] == [str(root / "grpo")], "bundles the GRPO model by default"


ABLATION_SH = REPO / "recipes" / "micro" / "ablation.sh"
LAB_LOG = REPO / "docs" / "micro_reproduction.md"
# The paper's rows (Tables 3-4): alpha scales the citation reward, beta the consistency.
ABLATION_WEIGHTS = {
    "base": {"rewards.alpha=0", "rewards.beta=0"},
    "ref": {"rewards.alpha=1", "rewards.beta=0"},
    "ref+cons": {"rewards.alpha=1", "rewards.beta=1"},
}


def _run_ablation(tmp_path: Path) -> tuple[list[list[str]], Path]:
    log = tmp_path / "calls.jsonl"
    sft = tmp_path / "sft" / "checkpoint"
    sft.mkdir(parents=True, exist_ok=True)
    (sft / "config.json").write_text("{}")
    out = tmp_path / "ablation"
    env = dict(
        os.environ,
        RR=str(_stub(tmp_path / "rr", log, "rr")),
        ROOT=str(tmp_path / "root"),
        SFT=str(sft),
        OUT=str(out),
    )
    env.pop("SEEDS", None)
    subprocess.run(["bash", str(ABLATION_SH)], env=env, check=True, capture_output=True, timeout=60)
    return [json.loads(line) for line in log.read_text().splitlines()], out


def test_ablation_trains_three_variants_times_three_seeds_from_one_checkpoint(
    tmp_path: Path,
) -> None:
    calls, out = _run_ablation(tmp_path)
    trains = [c for c in calls if c[:2] == ["rr", "train"]]
    runs = {}
    for args in trains:
        opts = dict(a.split("=", 1) for a in args if "=" in a and not a.startswith("-"))
        assert opts["model"] == str(tmp_path / "sft" / "checkpoint")
        run = Path(opts["output_dir"]).parent.name
        variant, seed = run.rsplit("-s", 1)
        assert {f"rewards.{k}={opts[f'rewards.{k}']}" for k in ("alpha", "beta")} == (
            ABLATION_WEIGHTS[variant]
        )
        assert opts["seed"] == seed
        runs[run] = opts
    assert sorted(runs) == sorted(f"{v}-s{s}" for v in ABLATION_WEIGHTS for s in "012")
    evals = [c for c in calls if c[:2] == ["rr", "eval"]]
    # SFT plus nine GRPO models, each with predicted and with oracle references
    assert sorted(_flag(c, "--reference") for c in evals) == ["oracle"] * 10 + ["predicted"] * 10
    compares = [c for c in calls if c[:2] == ["rr", "compare"]]
    assert [_flag(c, "--out") for c in compares] == [
        str(out / "table-predicted.md"),
        str(out / "table-oracle.md"),
    ]


def test_ablation_walltimes_has_one_line_per_step_across_reruns(tmp_path: Path) -> None:
    _run_ablation(tmp_path)
    _, out = _run_ablation(tmp_path)  # the stubs write no model, so every step runs again
    keys = [line.split("\t")[0] for line in (out / "walltimes.tsv").read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 1 + 9 * 2  # eval-sft, then grpo- and eval- per run


def _markdown_rows(text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("|---")
    ]


def test_the_lab_log_holds_the_ablation_table_with_seeds() -> None:
    """Issue 8's Done-when: the ablation table with seeds is in the lab log, for predicted
    and for oracle references, with the rows `ablation.sh` makes."""
    labels = [
        part.split("=", 1)[0].strip('"')
        for part in shlex.split(
            ABLATION_SH.read_text().split('"$RR" compare', 1)[1].split("--out")[0]
        )
        if "=" in part
    ]
    assert labels[0] == "SFT only" and len(labels) == 4
    section = (
        LAB_LOG.read_text().split("### The ablation (issue item 4)", 1)[1].split("\n### ", 1)[0]
    )
    for refs in ("Predicted references", "Oracle references"):
        block = section.split(refs, 1)[1]
        for metric in ("**acc@0.5**", "**gIoU**"):
            parts = block.split("Training-side", 1)[0].split(metric, 1)
            assert len(parts) == 2, f"{refs}: no {metric} table in the lab log"
            table = parts[1].split("\n\n", 2)[1]
            rows = _markdown_rows(table)
            header, body = rows[0], rows[1:]
            assert header[:3] == ["variant", "runs", "R1"] and header[-1] == "R2+"
            assert [r[0] for r in body] == labels, (refs, metric)
            for row in body[1:]:
                assert int(row[1]) >= 3, f"{row[0]}: fewer than 3 seeds"
                assert all("±" in cell for cell in row[2:]), f"{row[0]}: no spread"


def test_the_grpo_config_validates_and_defaults_to_the_recipe_folders() -> None:
    config = load_config(REPO / "recipes" / "micro" / "grpo-micro.yaml")
    last_sft = [s for s in _default_stages() if s.startswith("sft")][-1]
    assert config.model.path == f"artifacts/micro/{last_sft}/checkpoint"
    assert config.output_dir == "artifacts/micro/grpo"
    assert (config.rewards.profile, config.rewards.alpha, config.rewards.beta) == ("paper", 1, 1)
    assert config.trainer.use_cpu and not config.trainer.bf16
    run_sh = RUN_SH.read_text()
    assert f"GRPO_STEPS=${{GRPO_STEPS:-{config.trainer.max_steps}}}" in run_sh
