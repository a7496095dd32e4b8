"""Speed of the bootstrap intervals of a run (``regionreasoner.evaluation.bootstrap``).

A simulated run shaped like RegionDial-Bench: ``--dialogues`` dialogues whose lengths
follow the RefCOCOg part of the paper's Table 6 (2 to 7 turns, 4,405 turns per 1,580
dialogues), every turn with a hit, mask counts, one of ten relations (none in round 1)
and a size class. The groups are those ``metrics.json`` reports: all turns, each round,
rounds 2+, each relation and each size (22 groups). Timed, best of ``--repeat``:

- building the per-dialogue table from the scored turns;
- ``bootstrap_intervals`` (acc@0.5, gIoU and cIoU of every group) for each
  ``--resamples`` count;
- ``paired_difference`` of two such runs on the same dialogues.

    python benchmarks/bootstrap.py
    python benchmarks/bootstrap.py --dialogues 2000 --resamples 1000 10000 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from regionreasoner.evaluation.accumulators import TurnScore
from regionreasoner.evaluation.bootstrap import (
    TurnEntry,
    bootstrap_intervals,
    dialogue_table,
    paired_difference,
    turn_groups,
)

LENGTHS_REFCOCOG = {2: 1010, 3: 280, 4: 110, 5: 55, 6: 45, 7: 80}
"""Dialogues per length of RegionDial-Bench RefCOCOg (Table 6, differenced)."""

RELATIONS = (
    "above",
    "below",
    "left_of",
    "right_of",
    "next_to",
    "inside",
    "overlapping",
    "touching",
    "closest_to",
    "farthest_from",
)
SIZES = ("small", "medium", "large")


def simulated_entries(dialogues: int, seed: int) -> list[TurnEntry]:
    """Scored turns of a simulated run (seeded)."""
    rng = np.random.default_rng(seed)
    lengths = rng.choice(
        list(LENGTHS_REFCOCOG),
        size=dialogues,
        p=np.array(list(LENGTHS_REFCOCOG.values())) / sum(LENGTHS_REFCOCOG.values()),
    )
    entries = []
    for d, length in enumerate(lengths):
        skill = rng.beta(4, 2)
        for t in range(int(length)):
            union = int(rng.integers(500, 50_000))
            inter = int(rng.binomial(union, skill))
            score = TurnScore(
                t + 1, bool(rng.random() < skill), True, inter, union, True, None, None, False
            )
            relation = None if t == 0 else RELATIONS[int(rng.integers(len(RELATIONS)))]
            size = SIZES[int(rng.integers(len(SIZES)))]
            entries.append(
                TurnEntry(f"{d}", score, turn_groups(score, relation=relation, size=size))
            )
    return entries


def best_of(repeat: int, call: Callable[[], Any]) -> tuple[float, float]:
    """Best wall-clock and CPU seconds of ``repeat`` calls (after one warm-up call)."""
    call()
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialogues", type=int, default=2000)
    parser.add_argument("--resamples", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    entries = simulated_entries(args.dialogues, args.seed)
    other = simulated_entries(args.dialogues, args.seed + 1)
    table = dialogue_table(entries)
    other_table = dialogue_table(other)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, numpy {np.__version__}, load average "
        f"{os.getloadavg()[0]:.1f}; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"
    )
    print(
        f"run: {len(table.dialogue_ids)} dialogues, {len(entries)} turns, "
        f"{len(table.groups)} groups x 3 metrics\n"
    )
    print("| step | resamples | wall s (best) | CPU s (best) |")
    print("|---|---:|---:|---:|")
    wall, cpu = best_of(args.repeat, lambda: dialogue_table(entries))
    print(f"| per-dialogue table | - | {wall:.3f} | {cpu:.3f} |")
    for resamples in args.resamples:
        wall, cpu = best_of(
            args.repeat, lambda r=resamples: bootstrap_intervals(table, resamples=r, seed=0)
        )
        print(f"| bootstrap_intervals | {resamples:,} | {wall:.3f} | {cpu:.3f} |")
    for resamples in args.resamples:
        wall, cpu = best_of(
            args.repeat,
            lambda r=resamples: paired_difference(table, other_table, resamples=r, seed=0),
        )
        print(f"| paired_difference | {resamples:,} | {wall:.3f} | {cpu:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
