# SPDX-License-Identifier: Apache-2.0
"""JSON-RPC summaries: bounded labels, and hostile bodies never raise."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.proxy.jsonrpc import MCP_METHODS, RpcSummary, summarize


@pytest.mark.parametrize(
    ("body", "method", "rpc_id", "is_request"),
    [
        (b'{"jsonrpc":"2.0","id":1,"method":"tools/call"}', "tools/call", 1, True),
        (b'{"jsonrpc":"2.0","id":"a","method":"initialize"}', "initialize", "a", True),
        (b'{"jsonrpc":"2.0","method":"notifications/initialized"}', "notifications/initialized", None, False),
        (b'{"jsonrpc":"2.0","id":2,"method":"x/' + b"y" * 500 + b'"}', "other", 2, True),
        (b'{"jsonrpc":"2.0","id":3,"result":{}}', "response", 3, False),
        (b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]', "batch", None, False),
        (b'{"jsonrpc":"2.0","id":true,"method":"ping"}', "ping", None, True),
    ],
)
def test_summaries(body: bytes, method: str, rpc_id: object, is_request: bool) -> None:
    summary = summarize(body)
    assert summary is not None
    assert (summary.method, summary.id, summary.is_request) == (method, rpc_id, is_request)


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"{}", b'{"jsonrpc":"1.0"}', b"\xff\xfe", b"[" * 100000, b"42"]
)
def test_not_jsonrpc(body: bytes) -> None:
    assert summarize(body) is None


@given(
    st.one_of(
        st.binary(max_size=512),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
            ),
            max_leaves=20,
        ).map(lambda value: json.dumps({"jsonrpc": "2.0", "method": value, "id": value}).encode()),
    )
)
def test_any_body_gives_a_bounded_label_or_none(body: bytes) -> None:
    summary = summarize(body)
    assert summary is None or summary.method in MCP_METHODS | {"other", "batch", "response"}


def _reference(body: bytes) -> RpcSummary | None:
    """The summary as first written, on ``json.loads``: what the fast parse must equal."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if isinstance(message, list):
        return RpcSummary("batch", None, False)
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return None
    method, raw_id = message.get("method"), message.get("id")
    rpc_id = raw_id if isinstance(raw_id, str | int | float) and not isinstance(raw_id, bool) else None
    if not isinstance(method, str):
        return RpcSummary("response", rpc_id, False)
    label = method if method in MCP_METHODS else "other"
    params = message.get("params")
    key = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}.get(method)
    if not isinstance(params, dict) or key is None:
        return RpcSummary(label, rpc_id, "id" in message)
    target = params.get(key)
    return RpcSummary(
        label, rpc_id, "id" in message, target if isinstance(target, str) else None, params.get("arguments")
    )


# Text with lone surrogates too (json writes them as \ud800 escapes; orjson refuses those).
_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12) | st.text(max_size=12)
_NUMBERS = (
    st.integers()  # unbounded: past 64 bits orjson would give a float
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats()  # NaN and infinities too, which json writes and orjson refuses
)
_SCALARS = st.none() | st.booleans() | _NUMBERS | _TEXT
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_TEXT, children, max_size=3),
    max_leaves=12,
)
_METHODS = st.sampled_from(sorted(MCP_METHODS)) | _TEXT | _VALUES
_MESSAGES = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "2.0", "1.0"]) | _VALUES,
        "method": _METHODS,
        "id": _SCALARS,
        "params": st.fixed_dictionaries(
            {}, optional={"name": _TEXT | _VALUES, "uri": _TEXT, "arguments": _VALUES}
        )
        | _VALUES,
    },
)


def _spelled(message: dict[str, object], ascii_only: bool, prefix: bytes, suffix: bytes) -> bytes:
    text = json.dumps(message, ensure_ascii=ascii_only)
    return prefix + text.encode("utf-8", "surrogatepass") + suffix


@given(
    st.one_of(
        st.builds(
            _spelled,
            _MESSAGES,
            st.booleans(),
            st.sampled_from([b"", b" \n", b"\xef\xbb\xbf", b"[", b'{"jsonrpc":"2.0","method":"ping",']),
            st.sampled_from([b"", b"\t", b"]", b"}", b"x"]),
        ),
        # Literals json reads and orjson reads otherwise, or not at all.
        st.sampled_from(
            [b"1e400", b"123456789012345678901234567890", b"-0", b"1.0", b"NaN", b'"\\udc00"']
        ).map(lambda value: b'{"jsonrpc":"2.0","method":"tools/call","id":' + value + b"}"),
        # Two "method" keys: the last one counts, in json as in orjson.
        st.tuples(_METHODS, _METHODS).map(
            lambda pair: (
                '{"jsonrpc":"2.0","id":1,"method":'
                + json.dumps(pair[0])
                + ',"method":'
                + json.dumps(pair[1])
                + "}"
            ).encode("utf-8", "surrogatepass")
        ),
        st.binary(max_size=64),
    )
)
@settings(max_examples=500)
def test_fast_parse_summarizes_as_json_does(body: bytes) -> None:
    """The orjson shortcut gives the very summary json gives, types included (repr compares
    1 and 1.0, 0 and -0.0, as equality would not)."""
    assert repr(summarize(body)) == repr(_reference(body))


def _nested(depth: int) -> bytes:
    return (
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":'
        + b"[" * depth
        + b"]" * depth
        + b"}}"
    )


def _depth(value: object) -> int:
    """How deep lists nest in ``value``, counted without recursion (repr would recurse)."""
    depth = 0
    while isinstance(value, list):
        depth += 1
        value = value[0] if value else None
    return depth


@pytest.mark.parametrize("depth", [0, 1, 150, 199, 200, 201, 600, 950, 985, 1000, 1024, 1025, 5000])
def test_fast_parse_summarizes_deep_nesting_as_json_does(depth: int) -> None:
    """Around the depths where json gives up (near its recursion limit) and where orjson does
    (1024), the summary is json's: a body json cannot read is no JSON-RPC message."""
    body, reference = _nested(depth), _reference(_nested(depth))
    summary = summarize(body)
    if reference is None:
        assert summary is None
    else:
        assert summary is not None
        assert (summary.method, summary.id, summary.target) == (
            reference.method,
            reference.id,
            reference.target,
        )
        assert _depth(summary.arguments) == _depth(reference.arguments) == depth
