"""Milliseconds per turn that ``regionreasoner eval`` spends outside the model.

Runs :func:`regionreasoner.evaluate` (what the CLI runs) with the ``oracle`` backend and
the ``box-fill`` segmenter over a synthetic benchmark of 640x480 images, writing
``predictions.jsonl`` as the CLI does (one flushed line per turn, fsync per round; the
reports are left out: ``reports=False``), and reports
``(wall time - time inside backend.generate) / turns``. That is the engine's own cost:
reference handling, prompt rendering, parsing, frame conversion, mask filling, RLE
encoding, mask I/U, row building and writing.

A second line measures the same run with a backend that needs the pixels (the image is
decoded once per dialogue and resized to 840x840 once), as an ``hf``/``openai`` run does.
A last line times the ``openai`` backend's response handling, which runs inside
``backend.generate`` and so is not in the lines above: rebuilding the completion from a
chat message whose ``<think>`` block a server split out (``rebuild_completion``).

    python benchmarks/eval_overhead.py                 # 200 dialogues
    python benchmarks/eval_overhead.py --dialogues 50
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
import timeit
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from regionreasoner import EvalSettings, evaluate
from regionreasoner.backends.base import Backend, Generation, GenerationRequest
from regionreasoner.backends.chat_message import rebuild_completion
from regionreasoner.backends.oracle import OracleBackend
from regionreasoner.data.builders.synth import build_synth
from regionreasoner.dialogue.engine import Engine
from regionreasoner.dialogue.runner import RunStats

IMAGE_WH = (640, 480)
TARGET_MS_PER_TURN = 2.0


class PixelOracle(OracleBackend):
    """The oracle, but asking for the image like a real model backend."""

    needs_image: ClassVar[bool] = True

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        assert all(r.image is not None and r.image.size == (840, 840) for r in requests)
        return super().generate(requests)


SPLIT_MESSAGE = {  # as transformers serve returns a RegionReasoner turn (measured shape)
    "role": "assistant",
    "content": '<answer>[{"bbox_2d": [255,578,398,758], "point_2d": [326,671]}]</answer>',
    "reasoning_content": "the plain orange circle next to bbox=[255,557,398,706] is at "
    "[255,557,398,706].",
}


def rebuild_us_per_response(number: int = 20_000) -> float:
    """Microseconds per ``rebuild_completion`` of :data:`SPLIT_MESSAGE` (best of 5)."""
    timer = timeit.Timer(lambda: rebuild_completion(SPLIT_MESSAGE, "stop"))
    return 1e6 * min(timer.repeat(repeat=5, number=number)) / number


def run_once(bench: Path, backend: Backend, out: Path, batch_size: int) -> RunStats:
    settings = EvalSettings(
        data=bench,
        out=out,
        model="oracle",
        segmenter="box-fill",
        batch_size=batch_size,
        overwrite=True,
        reports=False,
    )
    return evaluate(settings, engine=Engine.load(settings, backend=backend)).stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dialogues", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="best of N runs")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="rr-eval-overhead-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        bench = build_synth(root / "bench", n_dialogues=args.dialogues, seed=0, image_size=IMAGE_WH)
        print(
            f"built {args.dialogues} dialogues of {IMAGE_WH[0]}x{IMAGE_WH[1]} images in "
            f"{time.perf_counter() - start:.1f} s",
            file=sys.stderr,
        )
        results = {}
        for label, backend in (
            ("oracle + box-fill (no pixels needed)", OracleBackend()),
            ("pixel-reading backend + box-fill (decode + 840x840 resize)", PixelOracle()),
        ):
            runs = [
                run_once(bench, backend, root / "run", args.batch_size) for _ in range(args.repeats)
            ]
            best = min(runs, key=lambda s: s.wall_s - s.model_s)
            results[label] = best

    print(
        f"\nmachine: {platform.processor() or platform.machine()}, python "
        f"{platform.python_version()}; {args.dialogues} dialogues, "
        f"batch {args.batch_size}, best of {args.repeats}\n"
    )
    print("| run | turns | wall s | model s | outside the model, ms/turn |")
    print("|---|---:|---:|---:|---:|")
    for label, stats in results.items():
        print(
            f"| {label} | {stats.turns} | {stats.wall_s:.3f} | {stats.model_s:.3f} | "
            f"**{stats.overhead_ms_per_turn:.3f}** |"
        )
    print(
        f"\nopenai response handling (rebuild_completion of a split message): "
        f"{rebuild_us_per_response():.2f} us/response"
    )
    headline = next(iter(results.values())).overhead_ms_per_turn or 0.0
    ok = headline < TARGET_MS_PER_TURN
    print(
        f"\ntarget: < {TARGET_MS_PER_TURN} ms/turn (oracle + box-fill): {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
