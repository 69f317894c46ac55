"""The orjson provider renders what response schemas hand it as the standard conversions would."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codex32.api.json_provider import dumps_bytes, read_body

# RFC 3339 offsets are whole minutes (PostgreSQL's timestamptz gives the session's offset).
offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))
moments = st.one_of(st.datetimes(), st.datetimes(timezones=offsets))


@given(moments)
def test_datetimes_render_as_isoformat(moment):
    assert json.loads(dumps_bytes({"at": moment})) == {"at": moment.isoformat()}


@given(st.dates(), st.uuids())
def test_dates_and_uuids_render_as_their_text(day, value):
    assert json.loads(dumps_bytes([day, value])) == [day.isoformat(), str(value)]


def test_what_orjson_refuses_renders_through_the_standard_library():
    huge = 2**100  # a bot's result may hold any integer
    at = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    rendered = json.loads(dumps_bytes({"n": huge, "at": at, "id": uuid.UUID(int=1),
                                       "price": Decimal("1.10")}))
    assert rendered == {"n": huge, "at": at.isoformat(), "id": str(uuid.UUID(int=1)),
                        "price": "1.10"}


def test_keys_keep_their_order_and_non_string_keys_become_text():
    assert dumps_bytes({"b": 1, "a": 2, 3: date(2026, 1, 2)}) == \
        b'{"b":1,"a":2,"3":"2026-01-02"}'


def test_api_responses_render_through_the_provider(tenant):
    answer = tenant.call("POST", "/api/v1/bots", json={
        "name": "ordered", "code": "def main(event, context):\n    return 1\n"})
    assert answer.status_code == 201
    # In the schema's order (Flask's own provider sorts keys), dates as isoformat.
    assert answer.data.startswith(b'{"id":"')
    body = answer.get_json()
    assert list(body)[:3] == ["id", "name", "description"]
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None


def test_a_body_nests_at_most_max_depth_levels():
    from codex32.api.json_provider import MAX_DEPTH, read_body
    from codex32.errors import Malformed

    deepest = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert read_body(deepest) == json.loads(deepest)
    with pytest.raises(Malformed, match=f"deeper than {MAX_DEPTH} levels"):
        read_body(b'{"a": ' + deepest + b"}")
    with pytest.raises(Malformed, match=f"deeper than {MAX_DEPTH} levels"):
        read_body(b"[" * 200_000 + b"]" * 200_000)  # past orjson's own limit too


def test_a_body_reads_escaped_backslashes_as_text_not_as_nul():
    from codex32.api.json_provider import read_body

    assert read_body(b'{"path": "C:\\\\u0000"}') == {"path": "C:\\u0000"}


@pytest.mark.parametrize("number", [2**64, 2**100, -(2**63) - 1, 10**40])
def test_an_integer_beyond_64_bits_in_a_body_keeps_every_digit(number):
    # orjson reads such an integer as the nearest float: 2**70 became 1.1805916207174113e+21,
    # and an execution's input or a bot's result lost digits without a word.
    found = read_body(f'{{"n": {number}, "items": [{number}]}}'.encode())

    assert found == {"n": number, "items": [number]}
    assert type(found["n"]) is int
    assert read_body(b'{"text": "12345678901234567890123"}') == {
        "text": "12345678901234567890123"}


def test_a_body_with_wide_integers_is_still_read_strictly():
    with pytest.raises(Exception, match="malformed JSON"):
        read_body(b'{"n": 123456789012345678901234567890, "x": NaN}')


@pytest.mark.parametrize("raw, where", [
    (b'{"name": "a", "name": "b"}', "name"),
    (b'{"a": 1, "\\u0061": 2}', "a"),                        # the same key, escaped
    (b'{"a:": 1, "a:": 2}', "a:"),
    (b'{"\\u003a": 1, "\\u003A": 2}', ":"),
    (b'{"x": [{"k": 1}, {"b": 1, "b": 1}]}', "x.1.b"),      # nested, equal values too
    (b'[{"t": "12:30", "t": "12:30"}]', "0.t"),
])
def test_a_key_given_twice_in_an_object_is_422_naming_it(raw, where):
    # The last one won in silence: {"name": "a", "name": "b"} read as {"name": "b"}, so what
    # a proxy or an audit saw was not what was stored.
    from codex32.errors import Invalid

    with pytest.raises(Invalid, match="given more than once") as refused:
        read_body(raw)
    assert where in refused.value.errors["json"], refused.value.errors


@pytest.mark.parametrize("raw", [
    b'{"url": "http://127.0.0.1:8080/a", "at": "12:30:00", "n": {"url": "x:y"}}',
    b'{"\\u003a": ":", "a": "\\u003a", "b": [{"a": 1}, {"a": 2}]}',
    b'{"a": {"a": {"a": 1}}, "A": 1, "a ": 2}',
    b'{"n": 123456789012345678901234567890, "m": {"n": 1}}',
    b'{}', b'[]', b'"a:b"', b'{"a": "\\":"}',
])
def test_bodies_without_a_repeated_key_read_as_before(raw):
    assert read_body(raw) == json.loads(raw)


# Text full of what the byte count looks at: colons, quotes, backslashes, escapes of ':'.
tricky_text = st.text(alphabet=st.sampled_from(list(':"\\a\u00e9 ')), max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tricky_text, inner, max_size=4),
    max_leaves=12)


def _colons_marked(value):
    if isinstance(value, str):
        return value.replace(":", "\N{SNOWMAN}")
    if isinstance(value, list):
        return [_colons_marked(item) for item in value]
    if isinstance(value, dict):
        return {_colons_marked(key): _colons_marked(item) for key, item in value.items()}
    return value


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(json_values, st.booleans())
def test_a_repeated_key_is_found_wherever_colons_are(value, escape_colons):
    raw = json.dumps({"v": value}, ensure_ascii=False)
    if escape_colons:  # every ':' inside a string sent as the escape \u003a
        raw = json.dumps({"v": _colons_marked(value)}, ensure_ascii=False).replace(
            "\N{SNOWMAN}", "\\u003a")
    assert read_body(raw.encode()) == {"v": value}
    with pytest.raises(Exception, match="given more than once"):
        read_body(f'{{"v": {raw}, "v": 1}}'.encode())
