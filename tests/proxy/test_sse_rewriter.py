# SPDX-License-Identifier: Apache-2.0
"""The legacy SSE endpoint rewrite, including every way a stream can be split into chunks."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.proxy.sse import MAX_PENDING, EndpointRewriter, relative_endpoint

BACKEND_SSE = "http://127.0.0.1:3001/sse"


def _run(chunks: list[bytes]) -> bytes:
    rewriter = EndpointRewriter(lambda uri: relative_endpoint(uri, BACKEND_SSE))
    return b"".join(rewriter.feed(chunk) for chunk in chunks) + rewriter.flush()


STREAM = (
    b": ping\r\n\r\nevent: endpoint\r\ndata: http://127.0.0.1:3001/messages/?session_id=9\r\n\r\n"
    b'event: message\ndata: {"event: endpoint": 1}\n\n'
)
EXPECTED = (
    b": ping\r\n\r\nevent: endpoint\ndata: /messages/?session_id=9\n\n"
    b'event: message\ndata: {"event: endpoint": 1}\n\n'
)


def test_endpoint_rewritten_and_rest_untouched() -> None:
    assert _run([STREAM]) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_chunking_gives_the_same_bytes(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    assert _run([STREAM[a:b] for a, b in itertools.pairwise(bounds)]) == EXPECTED


@pytest.mark.parametrize(
    ("announced", "relative"),
    [
        ("/messages/?session_id=1", "/messages/?session_id=1"),
        ("http://127.0.0.1:3001/messages/?session_id=1", "/messages/?session_id=1"),
        ("messages/?x=1", "/messages/?x=1"),
        ("/root/messages/", "/root/messages/"),
    ],
)
def test_relative_endpoint(announced: str, relative: str) -> None:
    assert relative_endpoint(announced, BACKEND_SSE) == relative


def test_only_first_endpoint_event_rewritten() -> None:
    second = b"event: endpoint\ndata: http://127.0.0.1:3001/other\n\n"
    assert _run([STREAM + second]) == EXPECTED + second


def test_stream_without_event_boundary_is_passed_through_bounded() -> None:
    junk = b"x" * (MAX_PENDING + 10)
    rewriter = EndpointRewriter(lambda uri: uri)
    assert rewriter.feed(junk) == junk
    assert rewriter.done


@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise_and_only_endpoint_data_changes(data: bytes) -> None:
    rewriter = EndpointRewriter(lambda uri: uri)
    out = rewriter.feed(data) + rewriter.flush()
    if b"endpoint" not in data:
        assert out == data
