"""Reward scoring throughput on one core, both profiles, on a realistic mix.

The mix: the 60 rows of the parity fixture (``../shared/fixtures``, when present) plus
generated completions (seeded): well-formed ones with one to three targets, with and
without references, correct or noisy answers, and malformed ones (truncated, no tags,
broken JSON, wrong box). Each completion is scored through the public
:func:`regionreasoner.rewards.score_completion` with its solution as JSON text, as a TRL
or veRL reward call does. Throughput is completions per CPU-second of this process
(single-threaded), best of ``--repeat`` passes after one warm-up pass; wall-clock rates
are printed too.

    python benchmarks/rewards.py                  # throughput table
    python benchmarks/rewards.py --hacking        # the reward-hacking table of docs/rewards.md
    python benchmarks/rewards.py --repeated-tags  # degenerate completions of 20,000 and
                                                  # 60,000 repeated tags (linear time)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

TARGETS = {"official": 8000.0, "paper": 5000.0}
"""Completions per second on one core (the project's acceptance targets)."""

FIXTURE = (
    Path(__file__).resolve().parents[1].parent / "shared/fixtures/official_rewards_sample.jsonl"
)
"""The parity fixture next to the checkout (``--fixture`` names another path)."""

REPEATED_TAG_COUNTS = (20_000, 60_000)
"""Tag counts of the degenerate completions of ``--repeated-tags``."""

REPEATED_TAG_CASES = {
    "<think> x N, none closed": lambda n: "<think>" * n,
    "<think> x N, then one </think>": lambda n: "<think>" * n + "</think>",
    "the four tags x N/4, none closed": lambda n: "<scene>a<focus>b<think>c<answer>d" * (n // 4),
}
"""Degenerate completions of a policy stuck repeating tags, by the tag count N."""

NOUNS = ["dog", "cup", "man", "woman", "car", "sofa", "table", "plate", "vase", "bicycle"]
RELATIONS = ["to the right of", "to the left of", "above", "below", "next to", "inside"]


def _box(rng: random.Random) -> list[int]:
    x1, y1 = rng.randint(0, 700), rng.randint(0, 700)
    return [x1, y1, x1 + rng.randint(20, 140), y1 + rng.randint(20, 140)]


def _item(box: list[int]) -> dict[str, list[int]]:
    return {"bbox_2d": box, "point_2d": [(box[0] + box[2]) // 2, (box[1] + box[3]) // 2]}


def generated_rows(count: int, seed: int) -> list[tuple[str, str, str]]:
    """``(completion, problem, solution_json)`` triples, 70 % well-formed."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        target, other = rng.choice(NOUNS), rng.choice(NOUNS)
        gt = [_item(_box(rng)) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
        ref = _box(rng) if rng.random() < 0.7 else None
        ref_text = f"bbox=[{','.join(map(str, ref))}]" if ref else ""
        relation = rng.choice(RELATIONS)
        problem = f"find the {target} {relation} {ref_text}" if ref else f"find the {target}"
        noisy = [_item([v + rng.randint(-6, 6) for v in g["bbox_2d"]]) for g in gt]
        answer = json.dumps(gt if rng.random() < 0.5 else noisy)
        scene = f"A room with a {target}, a {other} and a window in the background."
        focus = f"<focus>A {other} with a small {rng.choice(NOUNS)} on it.</focus>\n" if ref else ""
        think = (
            f"The reference {ref_text} holds the {other}. The {target} {relation} it is the "
            f"one I select; it is closest to the {other}."
            if ref
            else f"There is one {target} near the {other}. I select it."
        )
        text = f"<scene>{scene}</scene>\n{focus}<think>{think}</think>\n<answer>{answer}</answer>"
        kind = rng.random()
        if kind < 0.08:
            text = text[: rng.randint(0, len(text))]  # truncated generation
        elif kind < 0.16:
            text = scene + " " + think  # no tags
        elif kind < 0.24:
            text = text.replace("}]", "}")  # broken JSON
        elif kind < 0.30:
            text = text.replace(answer, json.dumps([_item(_box(rng))]))  # wrong box
        rows.append((text, problem, json.dumps(gt)))
    return rows


def fixture_rows(fixture: Path = FIXTURE) -> list[tuple[str, str, str]]:
    if not fixture.is_file():
        return []
    rows = []
    for line in fixture.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        solution = row["solution"]
        rows.append(
            (
                row["completion"],
                row["problem"],
                solution if isinstance(solution, str) else json.dumps(solution),
            )
        )
    return rows


def throughput(profile: str, rows: list[tuple[str, str, str]], repeat: int) -> tuple[float, float]:
    """Best (CPU-time, wall-time) completions per second over ``repeat`` passes."""
    from regionreasoner.rewards import score_completion

    for text, problem, solution in rows:  # warm-up: imports, lemma and solution caches
        score_completion(text, problem=problem, solution=solution, profile=profile)
    best_cpu = best_wall = 0.0
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        for text, problem, solution in rows:
            score_completion(text, problem=problem, solution=solution, profile=profile)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        best_cpu = max(best_cpu, len(rows) / cpu)
        best_wall = max(best_wall, len(rows) / wall)
    return best_cpu, best_wall


def repeated_tags(repeat: int) -> list[tuple[str, int, int, str, float, float]]:
    """``(case, N, characters, profile, best CPU s, best wall s)`` of one score each."""
    from regionreasoner.rewards import score_completion

    problem = "find the cup to the right of bbox=[100,100,200,200]"
    solution = '[{"bbox_2d": [220, 110, 300, 190], "point_2d": [260, 150]}]'
    for profile in ("official", "paper"):  # warm-up: imports, lemma dictionaries
        score_completion("<think>a cup</think>", problem=problem, solution=solution,
                         profile=profile)  # fmt: skip
    out = []
    for name, make in REPEATED_TAG_CASES.items():
        for count in REPEATED_TAG_COUNTS:
            text = make(count)
            for profile in ("official", "paper"):
                best_cpu = best_wall = float("inf")
                for _ in range(repeat):
                    cpu, wall = time.process_time(), time.perf_counter()
                    score_completion(text, problem=problem, solution=solution, profile=profile)
                    best_cpu = min(best_cpu, time.process_time() - cpu)
                    best_wall = min(best_wall, time.perf_counter() - wall)
                out.append((name, count, len(text), profile, best_cpu, best_wall))
    return out


def calibration_us() -> float:
    """Microseconds for ``sum(range(1000))``: a yardstick to compare machines."""
    best = float("inf")
    for _ in range(20):
        start = time.perf_counter()
        for _ in range(1000):
            sum(range(1000))
        best = min(best, (time.perf_counter() - start) / 1000 * 1e6)
    return best


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, load average {load}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generated", type=int, default=440, help="generated completions")
    parser.add_argument("--repeat", type=int, default=5, help="timed passes (best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hacking", action="store_true", help="print the hacking table")
    parser.add_argument(
        "--repeated-tags",
        action="store_true",
        help="time degenerate completions of 20,000 and 60,000 repeated tags",
    )
    parser.add_argument(
        "--fixture",
        type=Path,
        default=FIXTURE,
        help="the parity fixture JSONL (default: ../shared/fixtures next to the checkout)",
    )
    args = parser.parse_args(argv)

    if args.hacking:
        from regionreasoner.rewards.hacking import render_markdown

        print(render_markdown())
        return 0

    print(f"machine: {machine()}")
    print(f"calibration: sum(range(1000)) = {calibration_us():.1f} us")
    if args.repeated_tags:
        print("| completion | N | characters | profile | s (CPU time) | s (wall) |")
        print("|---|---:|---:|---|---:|---:|")
        for name, count, chars, profile, cpu, wall in repeated_tags(min(args.repeat, 3)):
            print(f"| {name} | {count:,} | {chars:,} | {profile} | {cpu:.3f} | {wall:.3f} |")
        return 0

    fixture = fixture_rows(args.fixture)
    rows = fixture + generated_rows(args.generated, args.seed)
    print(f"mix: {len(rows)} completions ({len(fixture)} fixture rows)")
    print("| profile | completions/s (CPU time) | completions/s (wall) | target | met |")
    print("|---|---:|---:|---:|---|")
    for profile in ("official", "paper"):
        cpu, wall = throughput(profile, rows, args.repeat)
        met = cpu >= TARGETS[profile]
        verdict = "yes" if met else "NO"
        print(f"| {profile} | {cpu:,.0f} | {wall:,.0f} | {TARGETS[profile]:,.0f} | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
