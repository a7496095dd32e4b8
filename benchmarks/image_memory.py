"""Peak memory of loading hostile and very large images with the guarded loader.

Each case runs in a fresh Python process that imports the loader, loads one image as the
evaluation does (``load_image(path, min_wh=(840, 840))``, then the 840x840 resize), and
reports its own peak resident memory: ``VmHWM`` from ``/proc/self/status``, the
high-water mark of the process's address space. (``getrusage(RUSAGE_CHILDREN)`` would
not do: on Linux ``ru_maxrss`` survives ``exec``, so a child started from a large parent
reports the parent's size.)

Cases:

* ``import only``: the interpreter, numpy, Pillow and the loader (the floor);
* ``bomb 20000x20000 PNG``: the issue's 389 KB decompression bomb (must stay < 200 MB);
* ``bomb 12000x12000 PNG``: 144 MP, refused by the loader's limit only (Pillow alone
  would decode it);
* ``JPEG 12000x9000 -> 840x840``: a 108 MP phone-sized photo, decoded by the JPEG
  decoder at reduced scale;
* the same JPEG opened the way the code did before issue 22 (``Image.open(...)
  .convert("RGB").resize((840, 840))``), for comparison;
* ``PNG 6000x4500 -> 840x840``: a format without reduced decoding (decoded in full, then
  reduced).

    python benchmarks/image_memory.py          # linux only (reads /proc)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hostile_images import smooth_rgb, write_bomb_png, write_large_jpeg

BOMB_TARGET_MB = 200.0
"""The issue's bound for the bomb (peak RSS before the loader stops)."""

CHILD = """
import json, re, sys, time
from PIL import Image
from regionreasoner.data.images import load_image
from regionreasoner.errors import ImageError

case, path = sys.argv[1], sys.argv[2]
start = time.perf_counter()
outcome = ""
if case == "loader":
    try:
        loaded = load_image(path, min_wh=(840, 840))
    except ImageError as e:
        outcome = f"refused ({e.problem})"
    else:
        frame = loaded.pixels.resize((840, 840), Image.Resampling.BILINEAR)
        outcome = f"decoded at {loaded.pixels.size[0]}x{loaded.pixels.size[1]}"
elif case == "plain":
    with Image.open(path) as image:
        frame = image.convert("RGB").resize((840, 840), Image.Resampling.BILINEAR)
    outcome = "decoded in full"
seconds = time.perf_counter() - start
with open("/proc/self/status") as status:
    kib = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
print(json.dumps({"peak_kib": kib, "seconds": seconds, "outcome": outcome}))
"""


def measure(case: str, path: Path | str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", CHILD, case, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="write the images here instead of a temp dir")
    args = parser.parse_args(argv)
    if not Path("/proc/self/status").is_file():
        print("needs /proc/self/status (linux)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="image-memory-") as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        bomb = write_bomb_png(root / "bomb.png")
        bomb144 = write_bomb_png(root / "bomb144.png", (12_000, 12_000))
        jpeg = write_large_jpeg(root / "photo.jpg", (12_000, 9_000))
        png = root / "large.png"
        Image.fromarray(smooth_rgb((6_000, 4_500))).save(png, compress_level=1)
        cases = [
            ("import only", "none", os.devnull),
            ("bomb 20000x20000 PNG", "loader", bomb),
            ("bomb 12000x12000 PNG", "loader", bomb144),
            ("JPEG 12000x9000 -> 840x840", "loader", jpeg),
            ("JPEG 12000x9000, full decode (before)", "plain", jpeg),
            ("PNG 6000x4500 -> 840x840", "loader", png),
        ]
        python = sys.version.split()[0]
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python {python}")
        sizes = {p: Path(p).stat().st_size for _, _, p in cases if p != os.devnull}
        print("| case | file | outcome | peak RSS MB | seconds |")
        print("|---|---:|---|---:|---:|")
        results = {}
        for label, case, path in cases:
            result = measure(case, path)
            results[label] = result
            size = f"{sizes[path] / 1e6:.2f} MB" if path in sizes else ""
            print(
                f"| {label} | {size} | {result['outcome'] or '-'} | "
                f"{int(result['peak_kib']) * 1024 / 1e6:.0f} | {float(result['seconds']):.2f} |"
            )
            time.sleep(0.1)
    bomb_mb = int(results["bomb 20000x20000 PNG"]["peak_kib"]) * 1024 / 1e6
    ok = bomb_mb < BOMB_TARGET_MB
    verdict = "met" if ok else "MISSED"
    print(f"bomb peak {bomb_mb:.0f} MB, target < {BOMB_TARGET_MB:.0f} MB: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
