"""Dialogues per second of ``regionreasoner eval`` on CPU: batch 1 vs batch 16.

Builds the tiny offline Qwen2.5-VL (``regionreasoner.micro.tiny``) and a
synthetic benchmark, loads the engine (``hf`` backend) once, then runs
:func:`regionreasoner.evaluate` over the SAME dialogues with ``batch_size`` 1 and 16
(``box-fill`` masks, the ``paper`` protocol, 840x840 frame; ``predictions.jsonl`` written
as the CLI writes it, the reports left out), side by side, after a warm-up run.

The two batch sizes alternate ``--repeats`` times and the best wall time of each is kept,
so load from other processes on a shared machine affects both alike.

    python benchmarks/eval_batching.py                  # 16 dialogues, 64 new tokens, best of 3
    python benchmarks/eval_batching.py --dialogues 32 --repeats 1
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from regionreasoner import EvalSettings, evaluate
from regionreasoner.data.builders.synth import build_synth
from regionreasoner.data.io import read_dialogues
from regionreasoner.dialogue.engine import Engine
from regionreasoner.dialogue.runner import RunStats
from regionreasoner.micro.tiny import build_tiny_model

TARGET_SPEEDUP = 3.0
BATCH_SIZES = (1, 16)


def run(engine: Engine, settings: EvalSettings, batch_size: int, max_new_tokens: int) -> RunStats:
    changed = dataclasses.replace(settings, batch_size=batch_size, max_new_tokens=max_new_tokens)
    return evaluate(changed, engine=engine).stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dialogues", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="best of N alternating runs")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--image-size", default="320x240")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: stable figures on a shared machine)",
    )
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="rr-eval-batching-") as tmp:
        root = Path(tmp)
        model_dir = build_tiny_model(root / "model", seed=0)
        bench = build_synth(
            root / "bench", n_dialogues=args.dialogues, seed=0, image_size=args.image_size
        )
        turns = sum(len(d.turns) for d in read_dialogues(bench))
        settings = EvalSettings(
            data=bench,
            out=root / "run",
            model=f"hf:{model_dir}",
            segmenter="box-fill",
            device="cpu",
            overwrite=True,
            reports=False,
        )
        engine = Engine.load(settings)
        run(engine, settings, 16, 4)  # warm-up (allocator, kernels)
        results: dict[int, tuple[float, RunStats]] = {}
        for _ in range(args.repeats):
            for batch_size in BATCH_SIZES:
                start = time.perf_counter()
                stats = run(engine, settings, batch_size, args.max_new_tokens)
                wall = time.perf_counter() - start
                print(f"batch {batch_size}: {wall:.2f} s", file=sys.stderr)
                if batch_size not in results or wall < results[batch_size][0]:
                    results[batch_size] = (wall, stats)

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads), python "
        f"{platform.python_version()}; 1-min load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    print(
        f"{args.dialogues} dialogues ({turns} turns), images {args.image_size} shown at "
        f"840x840, {args.max_new_tokens} new tokens per turn, tiny Qwen2.5-VL, best of "
        f"{args.repeats}\n"
    )
    print("| batch size | wall s | model calls | dialogues/s | turns/s |")
    print("|---:|---:|---:|---:|---:|")
    for batch_size, (wall, stats) in results.items():
        print(
            f"| {batch_size} | {wall:.2f} | {stats.model_calls} | "
            f"{args.dialogues / wall:.2f} | {stats.turns / wall:.1f} |"
        )
    speedup = results[1][0] / results[16][0]
    ok = speedup >= TARGET_SPEEDUP
    print(
        f"\nspeed-up batch 16 / batch 1: **{speedup:.2f}x** (target >= {TARGET_SPEEDUP}x: "
        f"{'met' if ok else 'MISSED'})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
