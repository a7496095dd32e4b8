"""Peak memory of ``regionreasoner eval`` on a decompression bomb and a 108 MP photo.

Each case runs the whole command (data checks, backend, segmenter, scoring, reports with
the gallery) in a fresh Python process that reports its own peak resident memory
(``VmHWM``, read inside it by ``tests/peak_rss.py``; ``getrusage`` would report the
parent's size). Each benchmark holds one dialogue of one turn.

Cases:

* ``bomb``: the issue's 20,000 x 20,000 PNG (389 KB), ``--model oracle --segmenter
  box-fill``: refused from its header (must stay < 200 MB, exit code 2);
* ``photo, model, no masks``: a 12,000 x 9,000 JPEG (108 MP) answered through the
  ``openai`` backend (a local scripted server, so the image is decoded and sent as the
  model sees it) with ``--segmenter none``;
* ``photo, model, box-fill``: the same with ``box-fill`` masks, which are 108 MP
  arrays whatever the loader does (the masks of the original image size);
* ``photo, oracle, box-fill``: no pixels needed: the image is never decoded.

``--baseline-src DIR`` runs every case a second time with ``PYTHONPATH=DIR``: the
``src`` folder of another checkout (e.g. the code before the loader was wired in).

    python benchmarks/eval_image_memory.py [--baseline-src /tmp/before/src]   # linux only
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fake_openai import FakeOpenAIServer, Reply
from hostile_images import write_bomb_png, write_large_jpeg
from peak_rss import available, command_peak_rss

BOMB_TARGET_MB = 200.0
"""The issue's bound for the bomb (peak RSS of ``eval`` before it stops)."""
PHOTO_WH = (12_000, 9_000)
ANSWER = (
    '<scene>a photo</scene><think>the object</think><answer>[{"bbox_2d": [100, 100, 300, 300],'
    ' "point_2d": [200, 200]}]</answer>'
)


def _bench(root: Path, name: str, image: Path, wh: tuple[int, int]) -> Path:
    record = {
        "schema_version": 1,
        "dialogue_id": name,
        "image": image.name,
        "image_wh": list(wh),
        "source": "benchmark",
        "turns": [
            {
                "turn_index": 0,
                "question": "the object",
                "refers_to": None,
                "relation": None,
                "targets": [{"bbox": [1000, 1000, 4000, 4000]}],
            }
        ],
    }
    bench = root / f"{name}.jsonl"
    bench.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-src", type=Path, help="also run with PYTHONPATH=DIR")
    args = parser.parse_args(argv)
    if not available():
        print("needs /proc/self/status (linux)", file=sys.stderr)
        return 2
    with (
        tempfile.TemporaryDirectory(prefix="eval-image-memory-") as tmp,
        FakeOpenAIServer(lambda n, body: Reply(content=ANSWER)) as server,
    ):
        root = Path(tmp)
        bomb = _bench(root, "bomb", write_bomb_png(root / "bomb.png"), (20_000, 20_000))
        photo = _bench(root, "photo", write_large_jpeg(root / "photo.jpg", PHOTO_WH), PHOTO_WH)
        model = f"openai:{server.base_url}#scripted"
        cases = [
            ("bomb 20000x20000 PNG, oracle, box-fill", bomb, "oracle", "box-fill"),
            ("JPEG 12000x9000, model, no masks", photo, model, "none"),
            ("JPEG 12000x9000, model, box-fill", photo, model, "box-fill"),
            ("JPEG 12000x9000, oracle, box-fill", photo, "oracle", "box-fill"),
        ]
        sources = [("this checkout", None)]
        if args.baseline_src is not None:
            sources.append((f"PYTHONPATH={args.baseline_src}", str(args.baseline_src)))
        python = sys.version.split()[0]
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python {python}")
        print(f"photo.jpg: {(root / 'photo.jpg').stat().st_size / 1e6:.2f} MB")
        print("| case | code | exit | peak RSS MB | seconds |")
        print("|---|---|---:|---:|---:|")
        bomb_mb = None
        for label, bench, spec, segmenter in cases:
            for source, pythonpath in sources:
                out = root / f"run-{len(list(root.glob('run-*')))}"
                env = dict(os.environ)
                if pythonpath is not None:
                    env["PYTHONPATH"] = pythonpath
                started = time.perf_counter()
                command = ["eval", "--data", str(bench), "--model", spec, "--out", str(out)]
                run = command_peak_rss([*command, "--segmenter", segmenter], env=env)
                seconds = time.perf_counter() - started
                print(
                    f"| {label} | {source} | {run.exit_code} | {run.peak_mb:.0f} | {seconds:.1f} |"
                )
                if run.exit_code not in (0, 2):
                    print(run.stderr[-2000:], file=sys.stderr)
                if bomb_mb is None and bench == bomb and pythonpath is None:
                    bomb_mb = run.peak_mb
    assert bomb_mb is not None
    ok = bomb_mb < BOMB_TARGET_MB
    print(f"eval on the bomb: peak {bomb_mb:.0f} MB, target < {BOMB_TARGET_MB:.0f} MB: ", end="")
    print("met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
