"""Benchmark ``regionreasoner convert`` on a large official-format file.

Generates an official release file (JSON list, dense 640x480 0/1 masks of random blobs,
pretty-printed with ``indent=2`` exactly like the released ``*_multi_turn.json``) of at
least ``--size-mb`` MB in a temporary folder, converts it with the CLI in a child process,
and prints the input throughput, the child's peak RSS (its own ``VmHWM``, read inside it by
``tests/peak_rss.py``) and the input/output size ratio. Exit status 1 when a target is
missed.

The peak RSS was first read with ``getrusage(RUSAGE_CHILDREN)``, which on Linux reports at
least the parent's own peak (``ru_maxrss`` survives ``exec``): here the generator's, about
150 MB, not the conversion's.

    python benchmarks/convert.py              # about 220 MB, the documented run
    python benchmarks/convert.py --size-mb 50 --compact
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from peak_rss import command_peak_rss

IMAGE_HW = (480, 640)
TARGET_PEAK_RSS_MB = 400.0
TARGET_MIN_RATIO = 20.0
TARGET_MIN_MB_PER_S = 20.0
PLACEHOLDER = "<box>{context_bbox}</box>"
MASK_TOKEN = "@@MASK{}@@"
RELEASE_INDENT = 2
MASK_DEPTH = 5  # list item > turns list > turn > masks list > mask (json indent levels)
MAX_TURNS = 7
MAX_BLOBS = 3


def blob_mask(rng: np.random.Generator) -> np.ndarray:
    """A realistic object mask: the union of 1-3 rotated ellipses (H, W) uint8."""
    height, width = IMAGE_HW
    yy, xx = np.mgrid[:height, :width]
    mask = np.zeros(IMAGE_HW, dtype=bool)
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    for _ in range(rng.integers(1, MAX_BLOBS + 1)):
        ox, oy = cx + rng.normal(0, 40), cy + rng.normal(0, 40)
        a, b = rng.uniform(15, 160), rng.uniform(15, 120)
        theta = rng.uniform(0, np.pi)
        u = (xx - ox) * np.cos(theta) + (yy - oy) * np.sin(theta)
        v = -(xx - ox) * np.sin(theta) + (yy - oy) * np.cos(theta)
        mask |= (u / a) ** 2 + (v / b) ** 2 <= 1
    if not mask.any():
        mask[int(cy), int(cx)] = True
    return mask.astype(np.uint8)


def render_mask(mask: np.ndarray, indent: int | None) -> bytes:
    """The text ``json.dumps`` writes for ``mask.tolist()`` at the masks' nesting depth."""
    if indent is None:
        rows = [b"[" + b", ".join(b"01"[v : v + 1] for v in row) + b"]" for row in mask]
        return b"[" + b", ".join(rows) + b"]"
    base = MASK_DEPTH * indent
    value_sep = b",\n" + b" " * (base + 2 * indent)
    cell = np.frombuffer(b"0" + value_sep, dtype=np.uint8)
    table = np.tile(cell, (mask.shape[1], 1))
    open_row = b" " * (base + indent) + b"[\n" + b" " * (base + 2 * indent)
    close_row = b"\n" + b" " * (base + indent) + b"]"
    rows = []
    for row in mask:
        table[:, 0] = row + ord("0")
        rows.append(open_row + table.tobytes()[: -len(value_sep)] + close_row)
    return b"[\n" + b",\n".join(rows) + b"\n" + b" " * base + b"]"


def _box(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def write_official(path: Path, size_bytes: int, *, indent: int | None, seed: int) -> int:
    """Write dialogues until the file holds at least ``size_bytes``; returns the masks."""
    rng = np.random.default_rng(seed)
    n_masks = 0
    with open(path, "wb") as handle:
        handle.write(b"[")
        image_id = 0
        while handle.tell() < size_bytes:
            masks = [blob_mask(rng) for _ in range(int(rng.integers(2, MAX_TURNS + 1)))]
            turns = []
            for i, mask in enumerate(masks):
                turn: dict[str, object] = {"question": f"object number {i}", "bboxes": [_box(mask)]}
                if i:
                    turn["question"] = f"the object near the {PLACEHOLDER}."
                    turn["context_from_turn"] = int(rng.integers(0, i))
                turn["ann_ids"] = [image_id * 10 + i]
                turn["masks"] = [MASK_TOKEN.format(i)]
                turns.append(turn)
            item = {
                "image_id": image_id,
                "conversational_turns": turns,
                "image_path": f"images/{image_id}.jpg",
            }
            text = json.dumps([item], indent=indent).encode()
            text = text[1:-1].strip(b"\n")  # the item alone, at list-element depth
            for i, mask in enumerate(masks):
                text = text.replace(
                    json.dumps(MASK_TOKEN.format(i)).encode(), render_mask(mask, indent)
                )
            if indent is None:
                handle.write(b", " if image_id else b"")
            else:
                handle.write(b",\n" if image_id else b"\n")
            handle.write(text)
            n_masks += len(masks)
            image_id += 1
        handle.write(b"\n]" if indent is not None else b"]")
    return n_masks


def machine() -> str:
    """CPU model and core count."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> int:
    """Generate, convert in a child process, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=220.0, help="input size (220)")
    parser.add_argument(
        "--compact",
        action="store_true",
        help="write the input without indentation (the release uses indent=2)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    indent = None if args.compact else RELEASE_INDENT
    with tempfile.TemporaryDirectory(prefix="rr-bench-convert-") as folder:
        src, dst = Path(folder) / "official.json", Path(folder) / "out.jsonl"
        started = time.perf_counter()
        n_masks = write_official(src, int(args.size_mb * 1e6), indent=indent, seed=args.seed)
        generated_s = time.perf_counter() - started
        size_in = src.stat().st_size
        started = time.perf_counter()
        child = command_peak_rss(["convert", str(src), str(dst)])
        elapsed = time.perf_counter() - started
        if child.exit_code != 0:
            print(child.stderr, file=sys.stderr)
            return 1
        peak_mb = child.peak_mb
        size_out = dst.stat().st_size
    mb_per_s = size_in / 1e6 / elapsed
    ratio = size_in / size_out
    checks = {
        f"peak RSS < {TARGET_PEAK_RSS_MB:.0f} MB": peak_mb < TARGET_PEAK_RSS_MB,
        f"output >= {TARGET_MIN_RATIO:.0f}x smaller": ratio >= TARGET_MIN_RATIO,
        f">= {TARGET_MIN_MB_PER_S:.0f} MB/s": mb_per_s >= TARGET_MIN_MB_PER_S,
    }
    layout = "compact" if indent is None else f"indent={indent} (release layout)"
    print(f"machine:        {machine()}")
    print(
        f"input:          {size_in / 1e6:.1f} MB, {n_masks} dense 640x480 masks, {layout} "
        f"(generated in {generated_s:.1f} s)"
    )
    print(f"convert:        {elapsed:.2f} s wall (child process, including start-up)")
    print(f"throughput:     {mb_per_s:.1f} MB/s of input")
    print(f"peak RSS:       {peak_mb:.1f} MB")
    print(f"output:         {size_out / 1e6:.3f} MB; size ratio input/output {ratio:.0f}x")
    for name, ok in checks.items():
        print(f"target {name}: {'met' if ok else 'MISSED'}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
