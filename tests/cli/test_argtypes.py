"""Shared argparse value types: accepted values and the messages for rejected ones."""

from __future__ import annotations

import argparse

import pytest

from regionreasoner.cli.argtypes import (
    int_at_least,
    non_negative_float,
    positive_float,
    positive_int,
)


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (positive_int, "3", 3),
        (int_at_least(0), "0", 0),
        (non_negative_float, "0", 0.0),
        (non_negative_float, "2.5", 2.5),
        (positive_float, "0.1", 0.1),
    ],
)
def test_argtypes_accept(parse, text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (positive_int, "0", "expected an integer >= 1, got 0"),
        (positive_int, "x", "expected an integer, got 'x'"),
        (int_at_least(2), "1", "expected an integer >= 2, got 1"),
        (non_negative_float, "-1", "expected a number >= 0, got '-1'"),
        (non_negative_float, "nan", "expected a number >= 0, got 'nan'"),
        (positive_float, "0", "expected a number > 0, got '0'"),
        (positive_float, "abc", "expected a number, got 'abc'"),
    ],
)
def test_argtypes_reject_with_a_message(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)
