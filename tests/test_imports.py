"""Optional dependencies: ``require``/``is_available``, and light top-level imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from regionreasoner._imports import is_available, require
from regionreasoner.errors import MissingDependencyError

HEAVY = ("torch", "transformers", "sam2", "pycocotools")
"""Never loaded by the light modules (pycocotools: only RLE work needs it)."""
LIGHT_MODULES = (
    "regionreasoner",
    "regionreasoner.geometry",
    "regionreasoner.parsing",
    "regionreasoner.data",
    "regionreasoner.rewards",
    "regionreasoner.micro",
)


def test_require_returns_the_module():
    assert require("json", extra="core") is json


def test_require_missing_names_the_extra():
    with pytest.raises(MissingDependencyError) as info:
        require("rr_surely_not_installed_xyz", extra="hf")
    message = str(info.value)
    assert "'rr_surely_not_installed_xyz'" in message
    assert "pip install 'regionreasoner[hf]'" in message
    assert isinstance(info.value, ImportError)
    assert isinstance(info.value.__cause__, ImportError)


def test_require_uses_the_distribution_name():
    with pytest.raises(MissingDependencyError, match=r"'SAM-2'.*regionreasoner\[sam2\]"):
        require("rr_surely_not_installed_xyz", extra="sam2", package="SAM-2")


@pytest.mark.parametrize(
    ("module", "available"),
    [
        ("json", True),
        ("os.path", True),
        ("rr_surely_not_installed_xyz", False),
        ("rr_surely_not_installed_xyz.sub", False),  # parent missing: no exception
        ("", False),
    ],
)
def test_is_available(module, available):
    assert is_available(module) is available


def test_is_available_does_not_import(monkeypatch):
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    assert is_available("colorsys")
    assert "colorsys" not in sys.modules


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_light_import_in_a_fresh_interpreter(module):
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_evaluation_entry_point_loads_on_first_use():
    code = (
        "import json, sys\n"
        "import regionreasoner\n"
        "before = [m for m in ('regionreasoner.dialogue', 'PIL') if m in sys.modules]\n"
        "from regionreasoner import EvalSettings, evaluate\n"
        "print(json.dumps([before, evaluate.__module__, 'evaluate' in dir(regionreasoner)]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    before, module, listed = json.loads(result.stdout.strip().splitlines()[-1])
    assert (before, module, listed) == ([], "regionreasoner.dialogue.engine", True)


def test_geometry_loads_rle_and_matching_on_first_use():
    code = (
        "import json, sys\n"
        "import regionreasoner.geometry as g\n"
        "before = 'pycocotools' in sys.modules, 'scipy' in sys.modules\n"
        "names = {'decode_rle', 'hungarian_match'} <= set(dir(g))\n"
        "rle = g.encode_rle(__import__('numpy').ones((2, 3), bool))\n"
        "print(json.dumps([*before, names, g.rle_area(rle), 'pycocotools' in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [False, False, True, 6, True]


def test_geometry_unknown_attribute_is_an_attribute_error():
    import regionreasoner.geometry as geometry

    with pytest.raises(AttributeError, match="no_such_name"):
        _ = geometry.no_such_name
