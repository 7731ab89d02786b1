# SPDX-License-Identifier: Apache-2.0
"""JSON-RPC summaries: bounded labels, and hostile bodies never raise."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.proxy.jsonrpc import MCP_METHODS, summarize


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
