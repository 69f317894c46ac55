"""The runner's own pieces, in-process: the strict JSON encoder and the bot-only traceback."""

from __future__ import annotations

import json
import math

import pytest

from codex32.execution.runner import ResultTooLarge, describe_error, encode_json


@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 2 ** 80, 1.5, -0.0, 1e300, "", "plain", 'quote " and \\ slash',
    "control \x00\x01\x1f\n\t\r\b\f", "ünïcødé ✓ 🚀", [], {}, (1, 2), [1, [2, [3, {"a": None}]]],
    {"k": {"nested": [True, None, 3.25]}},
])
def test_encoding_matches_json_loads(value):
    expected = json.loads(json.dumps(value))
    assert json.loads(encode_json(value)) == expected


def test_keys_are_converted_like_json_dumps_does():
    value = {1: "a", 2.5: "b", False: "c", None: "d"}
    assert json.loads(encode_json(value)) == json.loads(json.dumps(value))


def test_lone_surrogates_survive_as_escapes():
    text = encode_json("a\ud800b").encode("utf-8", "backslashreplace")
    assert json.loads(text) == "a\ud800b"


@pytest.mark.parametrize(("value", "error"), [
    ({1, 2}, TypeError), (b"bytes", TypeError), (object(), TypeError),
    ({(1, 2): "tuple key"}, TypeError), (math.nan, ValueError), (math.inf, ValueError),
    ([-math.inf], ValueError),
])
def test_values_json_rejects_are_rejected(value, error):
    with pytest.raises(error):
        encode_json(value)


def test_cycles_and_deep_nesting_are_rejected():
    cycle: list = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular"):
        encode_json(cycle)
    deep: list = []
    for _ in range(500):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper"):
        encode_json(deep)


def test_encoding_stops_as_soon_as_the_size_limit_is_passed():
    with pytest.raises(ResultTooLarge):
        encode_json(["x" * 100] * 10 ** 6, limit=1000)


def test_the_same_list_twice_is_not_a_cycle():
    shared = [1]
    assert json.loads(encode_json([shared, shared])) == [[1], [1]]


def test_describe_error_keeps_only_frames_of_bot_py():
    source = "def main(event, context):\n    return 1 / 0\n"
    namespace: dict = {}
    exec(compile(source, "bot.py", "exec"), namespace)
    try:
        namespace["main"]({}, None)
    except ZeroDivisionError as exc:
        error = describe_error(exc, source.splitlines())
    assert error["type"] == "ZeroDivisionError"
    assert error["traceback"] == ('Traceback (most recent call last):\n'
                                  '  File "bot.py", line 2, in main\n    return 1 / 0\n'
                                  'ZeroDivisionError: division by zero\n')
