"""One definition of each shared threshold and frame constant in ``src/``.

* The IoU a box must exceed to hit (``acc@0.5``, the accuracy reward, the micro model's
  in-training evaluation) is ``regionreasoner.geometry.boxes.IOU_HIT``.
* The side of the paper's square model frame is
  ``regionreasoner.geometry.frames.OFFICIAL_MODEL_SIZE``.

Everything else imports them. The check reads the source with :mod:`ast`: no other
module assigns a number to a name that says "IoU hit threshold" or "model frame side",
and the number 840 appears nowhere else in code (docstrings and help texts may say it).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "regionreasoner"

CANONICAL = {
    "IOU_HIT": ("geometry/boxes.py", 0.5),
    "OFFICIAL_MODEL_SIZE": ("geometry/frames.py", 840),
}
HIT_NAME = re.compile(r"IOU.*(HIT|THRESH)|(HIT|THRESH).*IOU", re.IGNORECASE)
FRAME_NAME = re.compile(r"(MODEL|FRAME)_?(SIDE|SIZE)$", re.IGNORECASE)
FRAME_SIDE = 840
"""The paper's frame: written here independently of the code under test."""


def _number(node: ast.AST | None) -> float | None:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    return None


def _assigned_names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign):
        targets = [node.target]
    else:
        return []
    return [t.id for t in targets if isinstance(t, ast.Name)]


def definitions(root: Path = SRC) -> list[tuple[str, str, int, float]]:
    """``(file, name, line, value)`` of every name bound to a number literal."""
    out = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(tree):
            value = _number(getattr(node, "value", None))
            if value is not None:
                out.extend((rel, name, node.lineno, value) for name in _assigned_names(node))
    return out


def literal_uses(value: float, root: Path = SRC) -> list[tuple[str, int]]:
    """``(file, line)`` of every number literal equal to ``value`` in code."""
    out = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if _number(node) == value:
                out.append((path.relative_to(root).as_posix(), node.lineno))
    return out


def test_the_canonical_definitions_exist():
    found = {(rel, name): value for rel, name, _, value in definitions()}
    for name, (rel, value) in CANONICAL.items():
        assert found.get((rel, name)) == value, f"{name} is no longer defined in {rel}"


def test_no_other_module_defines_an_iou_hit_threshold_or_a_frame_side():
    redefined = [
        f"{rel}:{line} {name} = {value}"
        for rel, name, line, value in definitions()
        if (HIT_NAME.search(name) or FRAME_NAME.search(name))
        and CANONICAL.get(name, (None,))[0] != rel
    ]
    assert redefined == [], "import the constant from geometry instead"


def test_the_model_frame_side_is_written_once():
    uses = literal_uses(FRAME_SIDE)
    assert uses == [(CANONICAL["OFFICIAL_MODEL_SIZE"][0], uses[0][1])], (
        f"the number {FRAME_SIDE} in code: use geometry.frames.OFFICIAL_MODEL_SIZE",
        uses,
    )


def test_the_checks_find_redefinitions(tmp_path):
    (tmp_path / "geometry").mkdir()
    (tmp_path / "geometry" / "frames.py").write_text("OFFICIAL_MODEL_SIZE = 840\n")
    (tmp_path / "micro.py").write_text(
        "MODEL_SIDE = 840\nIOU_HIT = 0.5\nclass A:\n    iou_threshold: float = 0.5\n"
        "def f(side=840):\n    return side\n"
    )
    names = {(rel, name) for rel, name, _, _ in definitions(tmp_path)}
    assert names >= {("micro.py", n) for n in ("MODEL_SIDE", "IOU_HIT", "iou_threshold")}
    assert [n for _, n, _, _ in definitions(tmp_path) if FRAME_NAME.search(n)] == [
        "OFFICIAL_MODEL_SIZE",
        "MODEL_SIDE",
    ]
    assert [n for _, n, _, _ in definitions(tmp_path) if HIT_NAME.search(n)] == [
        "IOU_HIT",
        "iou_threshold",
    ]
    assert literal_uses(840, tmp_path) == [
        ("geometry/frames.py", 1),
        ("micro.py", 1),
        ("micro.py", 5),
    ]
