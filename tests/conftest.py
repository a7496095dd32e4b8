"""Shared fixtures: a small synthetic benchmark and a RefCOCO-style source (refer toolkit files).

* ``synth_bench``: session-scoped path of a ``synth.jsonl`` (12 dialogues, 160x120 images).
* ``refcoco_source``: a factory writing a refer-toolkit-style ``refs(unc).p`` (any pickle
  protocol, optionally in Python 2's own encoding) and COCO ``instances.json``.
* ``py2_tools``: the Python-2 cPickle writer used by ``refcoco_source``.

Session-wide settings (they hold for any subset of the suite, e.g. ``pytest tests/serve``;
details in ``suite_settings.py``): the hypothesis profile (derandomised under ``CI``),
``conftest.py`` files never collected as doctest modules (``--doctest-modules`` would
import each as a module named ``conftest``, and two of them in one run clash), and
skipped browser tests reported loudly (fatal under ``CI``).
"""

from __future__ import annotations

import json
import os
import pickle
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from suite_settings import CI_ENV, BrowserSkips, load_hypothesis_profile

SYNTH_DIALOGUES = 12
SYNTH_IMAGE_WH = (160, 120)

# ----------------------------------------------------------------------------------------
# Session-wide settings: hypothesis profiles, collection, browser-test accounting
# ----------------------------------------------------------------------------------------

load_hypothesis_profile(os.environ)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Never collect a ``conftest.py`` as a (doctest) module; pytest loads it as a plugin."""
    return True if collection_path.name == "conftest.py" else None


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(
        BrowserSkips(ci=bool(os.environ.get(CI_ENV))), "regionreasoner-browser-skips"
    )


@pytest.fixture(scope="session")
def synth_bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``synth.jsonl`` of a 12-dialogue synthetic benchmark (160x120), built once."""
    from regionreasoner.data.builders.synth import build_synth

    out = tmp_path_factory.mktemp("synth_bench")
    return build_synth(out, n_dialogues=SYNTH_DIALOGUES, seed=0, image_size=SYNTH_IMAGE_WH)


# ----------------------------------------------------------------------------------------
# RefCOCO-style source
# ----------------------------------------------------------------------------------------

CATEGORIES = [
    {"id": 1, "name": "person", "supercategory": "person"},
    {"id": 3, "name": "car", "supercategory": "vehicle"},
    {"id": 18, "name": "dog", "supercategory": "animal"},
    {"id": 47, "name": "cup", "supercategory": "kitchen"},
]


class Py2Unicode(str):
    """Marks a string that Python 2 held as ``unicode`` (not a byte ``str``)."""


@dataclass(frozen=True)
class RefcocoSource:
    """Paths and decoded contents of a generated refer-toolkit source."""

    refs_path: Path
    instances_path: Path
    refs: list[dict[str, Any]]
    instances: dict[str, Any]


def _diamond(x: float, y: float, w: float, h: float) -> list[float]:
    return [x + w / 2, y, x + w, y + h / 2, x + w / 2, y + h, x, y + h / 2]


def _rect(x: float, y: float, w: float, h: float) -> list[float]:
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def _source_data(seed: int = 7) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    refs: list[dict[str, Any]] = []
    counters = {"ann": 1000, "ref": 1, "sent": 1}

    def image(image_id: int, w: int, h: int) -> None:
        images.append(
            {
                "id": image_id,
                "width": w,
                "height": h,
                "file_name": f"COCO_train2014_{image_id:012d}.jpg",
            }
        )

    def ann(
        image_id: int,
        cat: int,
        box: tuple[float, float, float, float],
        seg: Any = None,
        iscrowd: int = 0,
    ) -> int:
        counters["ann"] += 1
        x, y, w, h = box
        anns.append(
            {
                "id": counters["ann"],
                "image_id": image_id,
                "category_id": cat,
                "bbox": [x, y, w, h],
                "area": w * h,
                "iscrowd": iscrowd,
                "segmentation": seg if seg is not None else [_diamond(x, y, w, h)],
            }
        )
        return counters["ann"]

    def ref(ann_id: int, split: str, *texts: str) -> None:
        a = next(a for a in anns if a["id"] == ann_id)
        sentences = []
        for text in texts:
            sentences.append(
                {
                    "tokens": text.split(),
                    "raw": Py2Unicode(text.capitalize()),
                    "sent_id": counters["sent"],
                    "sent": text,
                }
            )
            counters["sent"] += 1
        refs.append(
            {
                "image_id": a["image_id"],
                "split": split,
                "sentences": sentences,
                "file_name": f"COCO_train2014_{a['image_id']:012d}_{ann_id}.jpg",
                "category_id": a["category_id"],
                "ann_id": ann_id,
                "sent_ids": [s["sent_id"] for s in sentences],
                "ref_id": counters["ref"],
            }
        )
        counters["ref"] += 1

    # 101: inside / left-right relations; testA + testB refs
    image(101, 640, 480)
    a = ann(101, 1, (50, 100, 70, 200), seg=[_rect(50, 100, 70, 200)])
    b = ann(101, 1, (200, 110, 90, 280))
    c = ann(101, 3, (400, 250, 200, 150), seg=[_rect(400, 250, 120, 150), _rect(520, 300, 80, 100)])
    d = ann(101, 47, (450, 280, 40, 40))
    ref(a, "testA", "man on left", "guy in red")
    ref(b, "testA", "man on right")
    ref(c, "testB", "white car")
    ref(d, "testB", "cup on the car", "café cup")
    # 102: touching dogs + a crowd annotation with an uncompressed RLE
    image(102, 500, 375)
    e = ann(102, 18, (100, 100, 150, 120))
    f = ann(102, 18, (250, 100, 100, 120), seg=[_rect(250, 100, 100, 120)])
    crowd = np.zeros((375, 500), dtype=np.uint8)
    crowd[300:375, 0:500] = 1
    counts = _uncompressed_counts(crowd)
    g = ann(102, 1, (0, 300, 500, 75), seg={"size": [375, 500], "counts": counts}, iscrowd=1)
    ref(e, "test", "brown dog")
    ref(f, "test", "dog on right")
    ref(g, "test", "crowd at the bottom")
    # 103: one referred object only (skipped), one compressed-RLE crowd distractor
    image(103, 640, 480)
    h = ann(103, 3, (10, 10, 100, 80))
    rle = mask_utils.encode(
        np.asfortranarray(np.pad(np.ones((40, 40), np.uint8), ((200, 240), (300, 300))))
    )
    ann(
        103,
        1,
        (300, 200, 40, 40),
        seg={"size": rle["size"], "counts": rle["counts"].decode("ascii")},
        iscrowd=1,
    )
    ref(h, "test", "red car")
    # 104 train, 105 val
    image(104, 640, 427)
    for k, box in enumerate([(10, 10, 100, 100), (200, 10, 100, 100), (10, 200, 100, 100)]):
        ref(ann(104, 18, box), "train", f"dog number {k}")
    image(105, 640, 480)
    for k, box in enumerate([(10, 10, 100, 100), (300, 300, 100, 100)]):
        ref(ann(105, 47, box), "val", f"cup number {k}")
    # 110-117: random scenes, some with 8 referred objects (max-turns cap)
    rng = random.Random(seed)
    splits = ["testA", "testB", "test", "testA", "train"]
    for image_id in range(110, 118):
        image(image_id, 640, 480)
        n = 8 if image_id in (110, 111) else rng.randint(2, 6)
        split = splits[image_id % len(splits)]
        for k in range(n + 2):
            w, hh = rng.uniform(30, 160), rng.uniform(30, 160)
            box = (
                round(rng.uniform(0, 640 - w), 1),
                round(rng.uniform(0, 480 - hh), 1),
                round(w, 1),
                round(hh, 1),
            )
            cat = rng.choice(CATEGORIES)["id"]
            ann_id = ann(image_id, cat, box)
            if k < n:
                ref(ann_id, split, f"object {k} of image {image_id}", f"thing {k}")
    instances = {"info": {}, "images": images, "annotations": anns, "categories": CATEGORIES}
    return refs, instances


def _uncompressed_counts(mask: np.ndarray) -> list[int]:
    flat = mask.flatten(order="F")
    counts, current, run = [], 0, 0
    for value in flat:
        if value != current:
            counts.append(run)
            current, run = value, 0
        run += 1
    counts.append(run)
    return counts


def py2_pickle(obj: Any, protocol: int) -> bytes:
    """Pickle ``obj`` exactly as Python 2's cPickle would (``str`` = byte string).

    ``str`` values become Python-2 byte strings (UTF-8 bytes), ``bytes`` values byte
    strings as given, :class:`Py2Unicode` values become ``unicode``; containers use the
    opcodes of Python 2.7.
    """
    if protocol == 0:
        return _py2_p0(obj) + b"."
    if protocol == 2:
        memo = [0]
        return b"\x80\x02" + _py2_p2(obj, memo) + b"."
    raise ValueError("Python 2 wrote protocols 0-2; this helper covers 0 and 2")


def _escape(raw: bytes) -> bytes:
    out = bytearray()
    for byte in raw:
        if 32 <= byte < 127 and byte not in (ord("\\"), ord("'")):
            out.append(byte)
        else:
            out += b"\\x%02x" % byte
    return bytes(out)


def _py2_p0(obj: Any) -> bytes:
    if obj is None:
        return b"N"
    if isinstance(obj, bool):
        return b"I01\n" if obj else b"I00\n"
    if isinstance(obj, int):
        return b"I%d\n" % obj
    if isinstance(obj, float):
        return b"F" + repr(obj).encode() + b"\n"
    if isinstance(obj, Py2Unicode):
        return b"V" + str(obj).encode("raw-unicode-escape") + b"\n"
    if isinstance(obj, str | bytes):
        raw = obj if isinstance(obj, bytes) else obj.encode("utf-8")
        return b"S'" + _escape(raw) + b"'\n"
    if isinstance(obj, list):
        return b"(l" + b"".join(_py2_p0(v) + b"a" for v in obj)
    if isinstance(obj, tuple):
        return b"(" + b"".join(_py2_p0(v) for v in obj) + b"t"
    if isinstance(obj, dict):
        return b"(d" + b"".join(_py2_p0(k) + _py2_p0(v) + b"s" for k, v in obj.items())
    raise TypeError(type(obj))


def _py2_p2(obj: Any, memo: list[int]) -> bytes:
    def put() -> bytes:
        memo[0] += 1
        return b"q" + bytes([(memo[0] - 1) % 256])

    if obj is None:
        return b"N"
    if isinstance(obj, bool):
        return b"\x88" if obj else b"\x89"
    if isinstance(obj, int):
        if 0 <= obj < 256:
            return b"K" + bytes([obj])
        if 0 <= obj < 65536:
            return b"M" + struct.pack("<H", obj)
        return b"J" + struct.pack("<i", obj)
    if isinstance(obj, float):
        return b"G" + struct.pack(">d", obj)
    if isinstance(obj, Py2Unicode):
        raw = str(obj).encode("utf-8")
        return b"X" + struct.pack("<I", len(raw)) + raw + put()
    if isinstance(obj, str | bytes):
        raw = obj if isinstance(obj, bytes) else obj.encode("utf-8")
        head = b"U" + bytes([len(raw)]) if len(raw) < 256 else b"T" + struct.pack("<i", len(raw))
        return head + raw + put()
    if isinstance(obj, list):
        return b"]" + put() + b"(" + b"".join(_py2_p2(v, memo) for v in obj) + b"e"
    if isinstance(obj, tuple):
        return b"(" + b"".join(_py2_p2(v, memo) for v in obj) + b"t" + put()
    if isinstance(obj, dict):
        items = b"".join(_py2_p2(k, memo) + _py2_p2(v, memo) for k, v in obj.items())
        return b"}" + put() + b"(" + items + b"u"
    raise TypeError(type(obj))


def _plain(obj: Any) -> Any:
    """Drop the :class:`Py2Unicode` marker (for Python-3 pickles and comparisons)."""
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {_plain(k): _plain(v) for k, v in obj.items()}
    return obj


def write_refcoco_source(
    folder: Path, *, protocol: int = 2, py2: bool = False, dataset: str = "refcoco+"
) -> RefcocoSource:
    """Write ``folder/<dataset>/refs(unc).p`` and ``instances.json``; return them decoded."""
    refs, instances = _source_data()
    root = folder / dataset
    root.mkdir(parents=True, exist_ok=True)
    refs_path = root / "refs(unc).p"
    payload = py2_pickle(refs, protocol) if py2 else pickle.dumps(_plain(refs), protocol=protocol)
    refs_path.write_bytes(payload)
    instances_path = root / "instances.json"
    instances_path.write_text(json.dumps(instances), encoding="utf-8")
    return RefcocoSource(refs_path, instances_path, _plain(refs), instances)


@pytest.fixture
def refcoco_source(tmp_path: Path) -> Callable[..., RefcocoSource]:
    """Factory: ``refcoco_source(protocol=2, py2=False)`` writes a source under tmp_path."""

    def make(*, protocol: int = 2, py2: bool = False, dataset: str = "refcoco+") -> RefcocoSource:
        return write_refcoco_source(
            tmp_path / f"src_p{protocol}_{int(py2)}", protocol=protocol, py2=py2, dataset=dataset
        )

    return make


@pytest.fixture
def py2_tools() -> SimpleNamespace:
    """``py2_tools.pickle(obj, protocol)`` writes Python-2 cPickle bytes; wrap a value in
    ``py2_tools.unicode(...)`` to pickle it as Python 2 ``unicode`` instead of ``str``."""
    return SimpleNamespace(pickle=py2_pickle, unicode=Py2Unicode)
