"""Training throughput of dialogue-level GRPO against single-turn GRPO on the micro model.

Runs ``regionreasoner train`` twice from the bundled micro model, each in its own process:
single-turn GRPO with ``recipes/micro/grpo-micro.yaml`` (4 prompts x 4 generations per
step, ground-truth references) and dialogue-level GRPO with
``recipes/micro/grpo-dialogue-micro.yaml`` (1 dialogue x 4 trajectories per step, all
turns), on the recipe's GRPO prompts, for ``--steps`` steps each (``logging_steps 1``).
Reports seconds per step, generated tokens per step, milliseconds per generated token and
the peak resident memory of each process. The first step of each run is left out of the
per-step figures (model loading and warm-up happen there).

    OMP_NUM_THREADS=2 python benchmarks/dialogue_grpo.py --steps 12
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    "single-turn": REPO / "recipes" / "micro" / "grpo-micro.yaml",
    "dialogue": REPO / "recipes" / "micro" / "grpo-dialogue-micro.yaml",
}
# The child trains in-process and prints its own peak RSS (kB on Linux) last.
CHILD = (
    "import resource, sys\n"
    "from regionreasoner.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def run(mode: str, model: Path, data: str, steps: int, out: Path) -> dict:
    """Train ``steps`` steps in a child process; per-step figures from its summary."""
    args = [
        "train",
        "--config",
        str(CONFIGS[mode]),
        f"model={model}",
        f"output_dir={out}",
        f"data.train={data}",
        f"trainer.max_steps={steps}",
        "trainer.logging_steps=1",
        f"trainer.save_steps={steps + 1}",
    ]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"{mode}: train failed\n{done.stderr[-3000:]}")
    maxrss_kb = int(done.stdout.rsplit("MAXRSS", 1)[1].split()[0])
    summary = json.loads((out / "train_summary.json").read_text())
    config = json.loads((out / "train_config.json").read_text())["config"]
    per_step = config["trainer"]["per_device_train_batch_size"]
    entries = [e for e in summary["log_history"] if "step_time" in e][1:]  # skip warm-up
    seconds = sum(e["step_time"] for e in entries)
    tokens = sum(
        e.get("dialogue/generated_tokens", e["completions/mean_length"] * per_step) for e in entries
    )
    samples = sum(e.get("dialogue/turn_samples", per_step) for e in entries)
    return {
        "mode": mode,
        "steps": len(entries),
        "s_per_step": seconds / len(entries),
        "samples_per_step": samples / len(entries),
        "tokens_per_step": tokens / len(entries),
        "ms_per_token": 1000 * seconds / tokens,
        "peak_rss_mb": maxrss_kb / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    from regionreasoner.assets import bundled_model_path
    from regionreasoner.cli.main import main as cli_main

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=12, help="steps per mode (first skipped)")
    parser.add_argument("--data", type=Path, help="a RegionDial JSONL (default: build one)")
    args = parser.parse_args(argv)
    model = bundled_model_path()
    if model is None:
        raise SystemExit("no bundled micro model in this installation")
    rows = []
    with tempfile.TemporaryDirectory(prefix="rr-dialogue-grpo-bench-") as tmp:
        data = args.data
        if data is None:  # the micro recipe's GRPO prompts
            cli_main(
                ["build", "synth", "--out", f"{tmp}/data", "--dialogues", "400", "--seed", "202"]
            )
            data = Path(tmp) / "data" / "synth.jsonl"
        for mode in CONFIGS:
            rows.append(run(mode, model, str(data), args.steps, Path(tmp) / mode))
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, python {platform.python_version()}; "
        f"model: {model}; {args.steps} steps per mode, the first left out\n"
    )
    print(
        "| mode | steps | s/step | turn samples/step | generated tokens/step | ms/token "
        "| peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['steps']} | {r['s_per_step']:.2f} | {r['samples_per_step']:.1f} "
            f"| {r['tokens_per_step']:.0f} | {r['ms_per_token']:.2f} | {r['peak_rss_mb']:.0f} |"
        )
    single, dialogue = rows
    print(
        f"\ndialogue / single-turn: {dialogue['ms_per_token'] / single['ms_per_token']:.2f}x "
        f"time per generated token, {dialogue['s_per_step'] / single['s_per_step']:.2f}x per step, "
        f"{dialogue['peak_rss_mb'] / single['peak_rss_mb']:.2f}x peak memory"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
