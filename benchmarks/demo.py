"""Wall time of ``regionreasoner demo`` (the README's main command), end to end.

Runs the demo in-process as ``make demo`` does, through the library call the command
wraps (:func:`regionreasoner.dialogue.demo.run_demo`: build a fresh synthetic test set,
:func:`regionreasoner.evaluate` of the bundled micro model with the paper protocol and
predicted references, report.html) into a temporary folder, and reports the wall time,
turns per second and the model's overall acc@0.5. The target of issue 8 is under 2
minutes on a 2-core CPU.

    OMP_NUM_THREADS=2 python benchmarks/demo.py
    python benchmarks/demo.py --dialogues 50 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from regionreasoner.assets import bundled_model_path
from regionreasoner.dialogue.demo import DEFAULT_DEMO_DIALOGUES, run_demo

TARGET_S = 120.0


def run_once(out: Path, dialogues: int) -> tuple[float, dict]:
    start = time.perf_counter()
    result = run_demo(out, dialogues=dialogues)
    wall_s = time.perf_counter() - start
    return wall_s, result.run.metrics or {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dialogues", type=int, default=DEFAULT_DEMO_DIALOGUES)
    parser.add_argument("--repeats", type=int, default=1, help="best of N runs")
    args = parser.parse_args(argv)

    model = bundled_model_path()
    runs = []
    with tempfile.TemporaryDirectory(prefix="rr-demo-bench-") as tmp:
        for i in range(args.repeats):
            runs.append(run_once(Path(tmp) / f"run{i}", args.dialogues))
    wall_s, metrics = min(runs, key=lambda r: r[0])
    turns = metrics["overall"]["turns"]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, python "
        f"{platform.python_version()}; model: {model or 'oracle (no bundled model)'}; "
        f"best of {args.repeats}\n"
    )
    print("| dialogues | turns | wall s | turns/s | acc@0.5 (all turns) |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {args.dialogues} | {turns} | **{wall_s:.1f}** | {turns / wall_s:.1f} | "
        f"{100 * metrics['overall']['acc@0.5']:.1f} |"
    )
    ok = wall_s < TARGET_S
    print(f"\ntarget: < {TARGET_S:.0f} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
