"""``regionreasoner rewards``: score completions with a reward profile."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from regionreasoner.cli.commands.base import Command


class RewardsCommand(Command):
    """Score JSONL rows of completions and write them back with their rewards."""

    name = "rewards"
    help = "score completions with the official or paper reward profile"
    description = """\
Score model completions with a RegionReasoner reward profile.

Input: JSON lines {"id", "problem", "solution", "completion"} where problem is the raw
question with its references written bbox=[x1,y1,x2,y2], solution is the ground truth as
a JSON string or list of {"bbox_2d": [x1,y1,x2,y2], "point_2d": [x,y]} (model frame), and
completion is the model text (<scene> <focus> <think> <answer>).

Output: the same rows with "rewards": {total, tag_format, answer_format, ref_citation,
accuracy, non_repeat, consistency} added, as JSON lines to --out or stdout; the mean of
each component is printed on stderr. A malformed completion scores 0 on the affected
components (--with-issues adds the reasons as "reward_issues"); a malformed row or
ground truth stops the command with exit code 2.

Profiles (docs/rewards.md):
  paper     the paper's equations, each component in [0, 2],
            total = base + alpha * ref_citation + beta * consistency   (default)
            base = the sum of the four base components (--normalisation components,
            default) or their mean, in [0, 2] (--normalisation base)
  official  the released reward code, value for value

examples:
  regionreasoner rewards completions.jsonl --profile official --out scored.jsonl
  regionreasoner rewards completions.jsonl --alpha 0.5 --beta 2 > scored.jsonl
  regionreasoner rewards completions.jsonl --normalisation base > scored.jsonl
"""
    order = 70

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("input", metavar="IN.jsonl", help="rows to score")
        parser.add_argument(
            "--profile",
            choices=("paper", "official"),
            default="paper",
            help="reward profile (default: paper)",
        )
        parser.add_argument(
            "--out", metavar="OUT.jsonl", default=None, help="output file (default: stdout)"
        )
        parser.add_argument(
            "--alpha",
            type=float,
            default=1.0,
            metavar="A",
            help="weight of ref_citation in the total (default 1)",
        )
        parser.add_argument(
            "--beta",
            type=float,
            default=1.0,
            metavar="B",
            help="weight of consistency in the total (default 1)",
        )
        parser.add_argument(
            "--normalisation",
            choices=("components", "base"),
            default="components",
            help="reading of Eq. 7: R_base is the sum of its components (default) or "
            "their mean, in [0, 2] ('base'; paper profile only)",
        )
        parser.add_argument(
            "--with-issues",
            action="store_true",
            help='add "reward_issues": the reasons components lost points',
        )

    def run(self, args: argparse.Namespace) -> int:
        import contextlib
        import os

        from tqdm import tqdm

        from regionreasoner.errors import DataFormatError, UserInputError
        from regionreasoner.fileio import atomic_write, dump_json_line, iter_jsonl
        from regionreasoner.rewards import (
            REWARD_KEYS,
            check_normalisation,
            check_weights,
            score_completion,
        )

        alpha, beta = check_weights(args.alpha, args.beta)
        check_normalisation(args.profile, args.normalisation)
        if not os.path.isfile(args.input):
            raise UserInputError(f"no such file: {args.input}")
        sums = dict.fromkeys(REWARD_KEYS, 0.0)
        count = 0
        sink = atomic_write(args.out) if args.out else contextlib.nullcontext(sys.stdout)
        with sink as out, tqdm(desc="rewards", unit="row", file=sys.stderr, disable=None) as bar:
            for line, row in iter_jsonl(args.input):
                completion, problem, solution = _fields(row, args.input, line)
                try:
                    breakdown = score_completion(
                        completion,
                        problem=problem,
                        solution=solution,
                        profile=args.profile,
                        alpha=alpha,
                        beta=beta,
                        normalisation=args.normalisation,
                    )
                except DataFormatError as e:
                    raise DataFormatError(
                        e.message, path=args.input, record=_record(row, line), field=e.field
                    ) from e
                rewards = breakdown.to_dict()
                for key in REWARD_KEYS:
                    sums[key] += rewards[key]
                result = {**row, "rewards": rewards}
                if args.with_issues:
                    result["reward_issues"] = list(breakdown.issues)
                out.write(dump_json_line(result))
                count += 1
                bar.update()
        means = " ".join(f"{k}={sums[k] / max(count, 1):.4f}" for k in REWARD_KEYS)
        setting = (
            args.profile
            if args.normalisation == "components"
            else (f"{args.profile}, normalisation {args.normalisation}")
        )
        print(f"rewards ({setting}, {count} rows): mean {means}", file=sys.stderr)
        return 0


def _record(row: Any, line: int) -> str:
    if isinstance(row, dict) and isinstance(row.get("id"), str | int):
        return f"id {row['id']} (line {line})"
    return f"line {line}"


def _fields(row: Any, path: str, line: int) -> tuple[str, str | None, Any]:
    from regionreasoner.errors import DataFormatError

    record = _record(row, line)
    if not isinstance(row, dict):
        raise DataFormatError("expected a JSON object", path=path, record=record)
    for key in ("completion", "solution"):
        if key not in row:
            raise DataFormatError(f"missing {key!r}", path=path, record=record, field=key)
    completion, problem = row["completion"], row.get("problem")
    if not isinstance(completion, str):
        raise DataFormatError("expected a string", path=path, record=record, field="completion")
    if problem is not None and not isinstance(problem, str):
        raise DataFormatError(
            "expected a string or null", path=path, record=record, field="problem"
        )
    return completion, problem, row["solution"]


COMMAND = RewardsCommand()
