# SPDX-License-Identifier: Apache-2.0
"""The list filter, sans-IO: any chunking of any event stream gives the same filtered events;
items the caller may not use never come out; everything else leaves byte for byte."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.authz.listfilter import MAX_EVENT, EventTooLarge, SseListFilter, filter_json
from sidecar.authz.operations import LISTS, ListSpec

TOOLS = LISTS["tools/list"]
NAMES = st.sampled_from(["ok_add", "ok_echo", "deploy", "wipe", "ok_ü", "x\ny"])
ENDS = st.sampled_from([b"\n", b"\r\n", b"\r"])


def allowed(_spec: ListSpec, names: list[str]) -> list[bool]:
    return [name.startswith("ok") for name in names]


def _list_response(names: list[str]) -> bytes:
    tools = [{"name": name, "inputSchema": {"type": "object"}} for name in names]
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"tools": tools, "nextCursor": "c"}}).encode()


@st.composite
def events(draw: st.DrawFn) -> bytes:
    end = draw(ENDS)
    kind = draw(st.sampled_from(["list", "notification", "text", "comment"]))
    if kind == "list":
        payload = _list_response(draw(st.lists(NAMES, max_size=5)))
    elif kind == "notification":
        payload = b'{"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}}'
    elif kind == "text":
        payload = draw(st.binary(max_size=20)).replace(b"\r", b"").replace(b"\n", b"")
    else:
        return b": keep-alive" + end + end
    head = draw(st.sampled_from([b"", b"event: message" + end, b"id: 7" + end]))
    return head + b"data: " + payload + end + end


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def _run(chunks: list[bytes]) -> bytes:
    sse = SseListFilter([TOOLS], allowed)
    return b"".join(sse.feed(chunk) for chunk in chunks) + sse.flush()


def _data_of(stream: bytes) -> list[bytes]:
    normalized = stream.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return [
        b"\n".join(line[6:] for line in block.split(b"\n") if line.startswith(b"data: "))
        for block in normalized.split(b"\n\n")
        if b"data: " in block
    ]


@given(st.lists(events(), max_size=8), st.lists(st.integers(min_value=0, max_value=4000), max_size=12))
def test_any_chunking_gives_the_same_filtered_stream(stream_events: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(stream_events)
    whole = _run([stream])
    assert _run(_chunks(stream, cuts)) == whole
    for data in _data_of(whole):
        try:
            message = json.loads(data)
        except ValueError:
            continue
        if isinstance(message, dict) and "result" in message:
            assert all(tool["name"].startswith("ok") for tool in message["result"]["tools"])
            assert message["result"]["nextCursor"] == "c"


@given(st.lists(events(), max_size=6))
def test_events_that_are_not_lists_leave_byte_for_byte(stream_events: list[bytes]) -> None:
    others = [event for event in stream_events if b'"tools"' not in event]
    assert _run([b"".join(others)]) == b"".join(others)


@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=8))
def test_arbitrary_bytes_never_crash_and_chunking_does_not_matter(stream: bytes, cuts: list[int]) -> None:
    assert _run(_chunks(stream, cuts)) == _run([stream])


def test_multi_line_data_is_joined_before_parsing() -> None:
    payload = _list_response(["ok_add", "wipe"]).replace(b", ", b",\ndata: ")
    out = _run([b"id: 4\ndata: " + payload + b"\n\n"])
    assert out.startswith(b"id: 4\ndata: ")
    assert [tool["name"] for tool in json.loads(_data_of(out)[0])["result"]["tools"]] == ["ok_add"]


def test_an_event_too_large_to_filter_cuts_the_stream() -> None:
    sse = SseListFilter([TOOLS], allowed)
    with pytest.raises(EventTooLarge):
        sse.feed(b"data: " + b"x" * (MAX_EVENT + 1))


@pytest.mark.parametrize(
    "body",
    [
        b'{"jsonrpc": "2.0", "id": 1, "error": {"code": -1, "message": "m"}}',
        b"not json",
        b'{"jsonrpc": "2.0", "id": 1, "result": {"content": []}}',
    ],
)
def test_json_bodies_that_are_not_lists_are_unchanged(body: bytes) -> None:
    assert filter_json(body, [TOOLS], allowed) == body


def test_items_without_a_name_are_dropped() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": 5}, "x", {"name": "ok_a"}]}})
    assert json.loads(filter_json(body.encode(), [TOOLS], allowed))["result"]["tools"] == [{"name": "ok_a"}]
