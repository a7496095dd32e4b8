"""Helpers of recipes/micro/dialogue_ab.sh (the dialogue-level GRPO experiment).

    python recipes/micro/dialogue_ab.py steps --data BENCH.jsonl --seed S --target N
    python recipes/micro/dialogue_ab.py compute OUT
    python recipes/micro/dialogue_ab.py gap OUT

* ``steps``: how many dialogue-GRPO steps generate ``N`` turn completions, given the
  dialogues TRL's ``RepeatSampler`` hands the run (same seed, one dialogue x G
  trajectories per step): equal compute with the single-turn arm before any token is
  generated. The measured token counts are checked afterwards by ``compute``.
* ``compute``: generated tokens, steps and seconds of every training run, from their
  ``train_summary.json`` (``logging_steps: 1``: every step is logged).
* ``gap``: per-round predicted-minus-oracle acc@0.5 of every arm (mean ± sample std over
  seeds of each model's own gap).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from regionreasoner.evaluation.compare import LATER_ROUNDS, round_values, spread
from regionreasoner.evaluation.run_dir import read_metrics

ARMS = {"A": "A: single-turn GRPO", "B": "B: dialogue-level GRPO"}
SETS = ("demo", "test2")


def dialogue_steps(data: Path, seed: int, target: int, generations: int) -> int:
    """Fewest steps whose trajectories hold at least ``target`` turns, rounded to nearest."""
    from trl.trainer.utils import RepeatSampler

    turns = [len(json.loads(line)["turns"]) for line in data.read_text().splitlines() if line]
    sampler = RepeatSampler(
        data_source=turns, mini_repeat_count=generations, batch_size=1, shuffle=True, seed=seed
    )
    order = list(sampler)[::generations]  # one dialogue index per step
    total = 0
    for step, index in enumerate(order, start=1):
        before = total
        total += generations * turns[index]
        if total >= target:
            return step if total - target <= target - before else step - 1
    raise SystemExit(f"the data has too few dialogues for {target} turns")


def _generated_tokens(entry: dict, completions_per_step: int | None) -> float:
    if "dialogue/generated_tokens" in entry:
        return float(entry["dialogue/generated_tokens"])
    return float(entry["completions/mean_length"]) * float(completions_per_step or 0)


def compute_table(out: Path) -> str:
    """Markdown table of the compute each training run used."""
    lines = [
        "| run | steps | turn samples | generated tokens | train time (s) | s/step | ms/token |",
        "|---|---|---|---|---|---|---|",
    ]
    for summary in sorted(out.glob("*-s*/model/train_summary.json")):
        run = summary.parent.parent.name
        data = json.loads(summary.read_text())
        config = json.loads((summary.parent / "train_config.json").read_text())["config"]
        per_step = config["trainer"]["per_device_train_batch_size"]
        steps = [e for e in data["log_history"] if "step_time" in e]
        tokens = sum(_generated_tokens(e, per_step) for e in steps)
        samples = sum(float(e.get("dialogue/turn_samples", per_step)) for e in steps)
        runtime = float(data["train_runtime_s"])
        lines.append(
            f"| {run} | {data['global_step']} | {samples:.0f} | {tokens:.0f} | {runtime:.0f} "
            f"| {runtime / max(len(steps), 1):.1f} | {1000 * runtime / max(tokens, 1):.1f} |"
        )
    return "\n".join(lines)


def gap_table(out: Path, eval_set: str) -> str:
    """Per-round predicted-minus-oracle acc@0.5 (points) of each arm, over its seeds."""
    rows = {}
    for arm, label in ARMS.items():
        gaps: dict[str, list[float]] = {}
        for run in sorted(out.glob(f"{arm}-s*")):
            predicted = run / f"eval-{eval_set}-predicted"
            oracle = run / f"eval-{eval_set}-oracle"
            if (
                not (predicted / "metrics.json").is_file()
                or not (oracle / "metrics.json").is_file()
            ):
                continue
            p = round_values(read_metrics(predicted), "acc@0.5")
            o = round_values(read_metrics(oracle), "acc@0.5")
            for key in p.keys() & o.keys():
                gaps.setdefault(key, []).append(p[key] - o[key])
        if gaps:
            rows[label] = gaps
    keys = sorted(
        {k for g in rows.values() for k in g},
        key=lambda k: (1, 0) if k == LATER_ROUNDS else (0, int(k)),
    )
    keys = [k for k in keys if k != "1"]  # round 1 cites nothing: its gap is 0 by construction
    header = ["arm", *(f"R{k}" if k != LATER_ROUNDS else "R2+" for k in keys)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, gaps in rows.items():
        cells = [spread(gaps[k]).format() if k in gaps else "-" for k in keys]
        lines.append("| " + " | ".join([label, *cells]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    steps = sub.add_parser("steps")
    steps.add_argument("--data", type=Path, required=True)
    steps.add_argument("--seed", type=int, required=True)
    steps.add_argument("--target", type=int, required=True, help="turn completions to match")
    steps.add_argument("--generations", type=int, default=4)
    for name in ("compute", "gap"):
        sub.add_parser(name).add_argument("out", type=Path)
    args = parser.parse_args(argv)
    out = sys.stdout
    if args.command == "steps":
        out.write(f"{dialogue_steps(args.data, args.seed, args.target, args.generations)}\n")
    elif args.command == "compute":
        out.write(compute_table(args.out) + "\n")
    else:
        for eval_set in SETS:
            out.write(
                f"**predicted - oracle, acc@0.5, `{eval_set}`** "
                "(points, mean ± sample std over seeds)\n\n"
            )
            out.write(gap_table(args.out, eval_set) + "\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
