"""The strict JSON reader: orjson first, the strict reader for whatever orjson refuses or cannot tell apart.

Either way a document gets the same answer: the same value, or the same reason and message.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from andon.payload import MAX_DEPTH, BadJson, _load_strict, load_json


def _answer(read: Any, data: str | bytes) -> tuple[Any, ...]:
    try:
        return ("ok", read(data))
    except BadJson as exc:
        return ("refused", exc.reason, str(exc))


def _both(data: str | bytes) -> tuple[Any, ...]:
    fast = _answer(load_json, data)
    strict = _answer(lambda d: _load_strict(d, MAX_DEPTH), data)
    assert fast == strict, data
    return fast


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("NaN", "not_finite"),
        ("[Infinity]", "not_finite"),
        ("1e309", "out_of_range"),
        ("-1e309", "out_of_range"),
        ("9223372036854775808", "out_of_range"),  # 2**63: orjson reads it, the plant does not
        ("18446744073709551616", "out_of_range"),  # 2**64: orjson makes it a float
        ("-9223372036854775809", "out_of_range"),
        ('"\\ud800"', "bad_text"),
        ('{"k\\u0000": 1}', "bad_text"),
        ('{"a": ["x\\u0000"]}', "bad_text"),
        ("[" * 40 + "]" * 40, "too_deep"),
        ("[" * 3000 + "]" * 3000, "too_deep"),
        ("[1,]", "not_json"),
        ("", "not_json"),
        ("\ufeff1", "not_json"),
        ('{"a": 1} x', "not_json"),
    ],
)
def test_refusals_are_the_strict_readers(text: str, reason: str) -> None:
    for data in (text, text.encode("utf-8", "surrogatepass")):
        answer = _both(data)
        assert answer[:2] == ("refused", reason)


def test_bytes_that_are_not_utf8_are_refused_as_such() -> None:
    assert _both(b'{"n": "\xff"}') == ("refused", "not_utf8", "byte 7 is not UTF-8")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"n":1,"id":"L01-7","count":1007,"ts":1764000000.125}', {"n": 1, "id": "L01-7", "count": 1007,
                                                                   "ts": 1764000000.125}),
        ("9223372036854775807", 9223372036854775807),
        ("-9223372036854775808", -9223372036854775808),
        ("1e19", 1e19),  # a float that large is read again, and is still a float
        ('{"a": 1, "a": 2}', {"a": 2}),
        ('{"é": ["ü", {"b": null}]}', {"é": ["ü", {"b": None}]}),
        ("[" * 32 + "]" * 32, json.loads("[" * 32 + "]" * 32)),
    ],
)
def test_documents_read_the_same(text: str, value: Any) -> None:
    for data in (text, text.encode()):
        assert _both(data) == ("ok", value)


_scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text()
_documents = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(_documents)
def test_any_document_gets_one_answer(document: Any) -> None:
    text = json.dumps(document)  # NaN, Infinity, huge integers and lone surrogates included
    _both(text)
    _both(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_any_bytes_get_one_answer(data: bytes) -> None:
    _both(data)
