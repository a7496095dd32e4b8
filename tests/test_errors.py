"""The exception tree: builtin bases for old handlers, and located data errors."""

from __future__ import annotations

import pytest

from regionreasoner.errors import (
    BackendError,
    ConfigError,
    DataFormatError,
    ImageError,
    MissingDependencyError,
    RegionReasonerError,
    SegmenterError,
    UnknownComponentError,
    UserInputError,
)


@pytest.mark.parametrize(
    ("cls", "bases"),
    [
        (UserInputError, (RegionReasonerError,)),
        (ConfigError, (UserInputError, ValueError)),
        (DataFormatError, (UserInputError, ValueError)),
        (ImageError, (DataFormatError, UserInputError, ValueError)),
        (UnknownComponentError, (UserInputError, KeyError)),
        (MissingDependencyError, (RegionReasonerError, ImportError)),
        (BackendError, (RegionReasonerError, RuntimeError)),
        (SegmenterError, (RegionReasonerError, RuntimeError)),
    ],
)
def test_hierarchy(cls, bases):
    for base in bases:
        assert issubclass(cls, base)
    assert issubclass(cls, RegionReasonerError)


@pytest.mark.parametrize(
    "cls", [BackendError, SegmenterError, MissingDependencyError, RegionReasonerError]
)
def test_internal_errors_are_not_user_input(cls):
    # the CLI maps only UserInputError (and MissingDependencyError explicitly) to exit 2
    assert not issubclass(cls, UserInputError)


@pytest.mark.parametrize(
    ("kwargs", "rendered"),
    [
        (
            {"path": "bench.jsonl", "record": "dialogue 656", "field": "turns[1].targets[0].bbox"},
            "bench.jsonl: dialogue 656: turns[1].targets[0].bbox: bbox is inverted",
        ),
        ({"path": "bench.jsonl", "record": "line 3"}, "bench.jsonl: line 3: bbox is inverted"),
        ({"field": "image"}, "image: bbox is inverted"),
        ({}, "bbox is inverted"),
        ({"path": "", "record": None, "field": ""}, "bbox is inverted"),
    ],
)
def test_data_format_error_rendering(kwargs, rendered):
    err = DataFormatError("bbox is inverted", **kwargs)
    assert str(err) == rendered
    assert err.message == "bbox is inverted"
    assert err.path == kwargs.get("path")
    assert err.record == kwargs.get("record")
    assert err.field == kwargs.get("field")


def test_data_format_error_caught_as_value_error():
    with pytest.raises(ValueError, match="line 2: broken"):
        raise DataFormatError("broken", record="line 2")


def test_unknown_component_message_is_not_quoted():
    err = UnknownComponentError("unknown backend 'x'. Available: a, b")
    assert str(err) == "unknown backend 'x'. Available: a, b"  # KeyError would add quotes
    assert str(UnknownComponentError()) == ""


def test_image_error_keeps_its_facts():
    err = ImageError(
        "a.png is 9x9 (81 pixels), over the limit",
        image_path="a.png",
        problem="too_large",
        max_pixels=80,
        path="bench.jsonl",
        record="dialogue 4",
        field="image",
    )
    assert str(err) == "bench.jsonl: dialogue 4: image: a.png is 9x9 (81 pixels), over the limit"
    assert (err.image_path, err.problem, err.max_pixels) == ("a.png", "too_large", 80)


def test_image_error_problem_is_checked():
    with pytest.raises(ValueError, match="unknown image problem"):
        ImageError("x", image_path="a.png", problem="exploded")
