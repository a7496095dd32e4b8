"""Every image is opened by the guarded loader (``regionreasoner.data.images``) only.

The check reads every module under ``src/regionreasoner`` with :mod:`ast` and finds the
calls that open an image file with Pillow or apply an EXIF orientation, whatever the
import spelling: ``Image.open`` after ``from PIL import Image`` (or ``as X``),
``PIL.Image.open`` after ``import PIL.Image``, ``X.open`` after ``import PIL.Image as X``,
a bare ``open`` imported ``from PIL.Image``, and ``ImageOps.exif_transpose`` in the same
forms. Only the loader may make those calls: the pixel limit, the frame policy, the RGB
conversion and the orientation rule then hold everywhere. There is no allow-list.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "regionreasoner"
LOADER = "regionreasoner.data.images"

GUARDED = {("PIL.Image", "open"), ("PIL.ImageOps", "exif_transpose")}
"""``(module, function)`` pairs only the loader may call."""


def _aliases(tree: ast.AST) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """``({local name: module}, {local name: (module, function)})`` of PIL imports."""
    modules: dict[str, str] = {}
    functions: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "PIL":
                    if alias.asname:
                        modules[alias.asname] = alias.name
                    else:  # `import PIL.Image` binds `PIL`
                        modules["PIL"] = "PIL"
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                local = alias.asname or alias.name
                qualified = f"{node.module}.{alias.name}"
                if node.module == "PIL":
                    modules[local] = qualified
                elif (node.module, alias.name) in GUARDED:
                    functions[local] = (node.module, alias.name)
    return modules, functions


def _dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` -> ``["a", "b", "c"]``; None for anything but names and attributes."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def guarded_calls(path: Path) -> list[str]:
    """``"line N: module.function"`` of every guarded call in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    modules, functions = _aliases(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        parts = _dotted(node.func)
        if parts is None:
            continue
        if len(parts) == 1 and parts[0] in functions:
            target = functions[parts[0]]
        elif parts[0] in modules:
            qualified = ".".join([modules[parts[0]], *parts[1:]])
            target = tuple(qualified.rsplit(".", 1))  # type: ignore[assignment]
        else:
            continue
        if target in GUARDED:
            found.append((node.lineno, f"line {node.lineno}: {'.'.join(target)}"))
    return [text for _, text in sorted(found)]


def offenders(src: Path) -> dict[str, list[str]]:
    """``{module: guarded calls}`` of every module but the loader."""
    out = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        calls = guarded_calls(path)
        if calls and module != LOADER:
            out[module] = calls
    return out


def test_only_the_loader_opens_images():
    assert offenders(SRC) == {}, "open images with regionreasoner.data.images.load_image"


def test_the_loader_itself_is_seen_opening_images():
    path = SRC / Path(*LOADER.split(".")).with_suffix(".py")
    assert guarded_calls(path) != []


def test_the_check_finds_every_spelling(tmp_path):
    source = """
import PIL.Image
import PIL.Image as PImage
from PIL import Image as Img, ImageOps
from PIL.Image import open as pil_open
from PIL.ImageOps import exif_transpose

def f(p, open=open):
    PIL.Image.open(p)
    PImage.open(p)
    Img.open(p)
    pil_open(p)
    ImageOps.exif_transpose(Img.new("RGB", (1, 1)))
    exif_transpose(None)
    open(p)                 # the builtin: not an image open
    Img.new("RGB", (1, 1))  # not guarded
"""
    path = tmp_path / "m.py"
    path.write_text(source, encoding="utf-8")
    assert guarded_calls(path) == [
        "line 9: PIL.Image.open",
        "line 10: PIL.Image.open",
        "line 11: PIL.Image.open",
        "line 12: PIL.Image.open",
        "line 13: PIL.ImageOps.exif_transpose",
        "line 14: PIL.ImageOps.exif_transpose",
    ]
