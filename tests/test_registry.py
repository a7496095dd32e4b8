"""``Registry``: eager and lazy entries, helpful unknown-name errors."""

from __future__ import annotations

import json
import sys

import pytest

from regionreasoner.errors import UnknownComponentError, UserInputError
from regionreasoner.registry import Registry


def test_register_and_get():
    reg: Registry[int] = Registry("number")
    assert reg.register("one", 1) == 1
    assert reg.get("one") == 1
    assert "one" in reg and "two" not in reg
    assert len(reg) == 1


def test_register_as_decorator():
    reg: Registry[type] = Registry("thing")

    @reg.register("widget")
    class Widget:
        pass

    assert reg.get("widget") is Widget
    assert Widget.__name__ == "Widget"  # the decorator returns the class itself


def test_duplicate_name_raises_but_same_object_is_idempotent():
    reg: Registry[object] = Registry("thing")
    obj = object()
    reg.register("a", obj)
    reg.register("a", obj)  # same object again: fine
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", object())
    assert reg.get("a") is obj


def test_names_iteration_sorted():
    reg: Registry[int] = Registry("number")
    for name, value in [("c", 3), ("a", 1), ("b", 2)]:
        reg.register(name, value)
    reg.register_lazy("d", "json:dumps")
    assert reg.names() == ["a", "b", "c", "d"]
    assert list(reg) == ["a", "b", "c", "d"]


def test_lazy_entry_is_resolved_on_get():
    reg: Registry[object] = Registry("fn")
    reg.register_lazy("dumps", "json:dumps")
    assert reg.get("dumps") is json.dumps
    assert reg.get("dumps") is json.dumps  # cached


def test_lazy_entry_imports_only_on_get(tmp_path, monkeypatch):
    module_name = "rr_registry_probe_module"
    (tmp_path / f"{module_name}.py").write_text("VALUE = 42\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module_name, raising=False)
    reg: Registry[int] = Registry("value")
    reg.register_lazy("probe", f"{module_name}:VALUE")
    assert module_name not in sys.modules
    assert reg.names() == ["probe"]
    assert module_name not in sys.modules  # listing does not import
    assert reg.get("probe") == 42
    assert module_name in sys.modules


@pytest.mark.parametrize("target", ["json.dumps", "json", ""])
def test_lazy_target_needs_a_colon(target):
    with pytest.raises(ValueError, match="module:attr"):
        Registry("fn").register_lazy("x", target)


def test_lazy_target_that_does_not_exist_fails_on_get():
    reg: Registry[object] = Registry("fn")
    reg.register_lazy("gone", "json:no_such_attribute")
    with pytest.raises(AttributeError):
        reg.get("gone")


def test_unknown_name_error_lists_names_and_suggests():
    reg: Registry[int] = Registry("backend")
    reg.register("oracle", 1)
    reg.register("openai", 2)
    reg.register_lazy("hf", "json:dumps")
    with pytest.raises(UnknownComponentError) as info:
        reg.get("oracel")
    err = info.value
    assert isinstance(err, KeyError) and isinstance(err, UserInputError)
    message = str(err)
    assert message.startswith("unknown backend 'oracel'.")
    assert "Did you mean 'oracle'" in message
    assert "Available: hf, openai, oracle" in message


def test_unknown_name_without_close_match():
    reg: Registry[int] = Registry("prompt")
    reg.register("plain", 1)
    with pytest.raises(UnknownComponentError) as info:
        reg.get("zzzzzz")
    assert "Did you mean" not in str(info.value)
    assert "Available: plain" in str(info.value)
