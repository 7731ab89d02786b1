# SPDX-License-Identifier: Apache-2.0
"""Filtering list results (``tools/list``, ``prompts/list``, ``resources/list``,
``resources/templates/list``) down to what the caller may use, in a JSON body or inside an SSE
stream, sans-IO.

An item stays when the policies allow its action (``call_tool`` for a tool, ``get_prompt``,
``read_resource``), as ToolHive filters. An item without a usable name is dropped (fail
closed). Every other message, and every other field of the result (``nextCursor``, ``_meta``),
is passed on untouched; an SSE event that is not a list response leaves byte for byte as it
came. The stream is never buffered: only the event being received is held, up to
``MAX_EVENT`` bytes (past that the stream is cut, as an unfilterable list must not leak).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from sidecar.authz.operations import ListSpec
from sidecar.proxy.sse import EventSplitter, split_lines

MAX_EVENT = 8 * 1024 * 1024
Allowed = Callable[[ListSpec, list[str]], list[bool]]


class EventTooLarge(Exception):
    """An SSE event grew past ``MAX_EVENT`` before it ended."""


def filter_message(message: object, specs: Sequence[ListSpec], allowed: Allowed) -> object | None:
    """A copy of ``message`` with the items of its list result filtered, or None when it is not
    a JSON-RPC response carrying one of these lists (told apart by the result's key)."""
    if not isinstance(message, dict) or "method" in message:
        return None
    result = message.get("result")
    if not isinstance(result, dict):
        return None
    for spec in specs:
        if isinstance(items := result.get(spec.key), list):
            break
    else:
        return None
    names = [item.get(spec.id_key) if isinstance(item, dict) else None for item in items]
    named = [(item, name) for item, name in zip(items, names, strict=True) if isinstance(name, str)]
    verdicts = allowed(spec, [name for _, name in named]) if named else []
    kept = [item for (item, _), ok in zip(named, verdicts, strict=True) if ok]
    return {**message, "result": {**result, spec.key: kept}}


def filter_json(body: bytes, specs: Sequence[ListSpec], allowed: Allowed) -> bytes:
    """A JSON response body with its list filtered; any other body unchanged."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return body
    filtered = filter_message(message, specs, allowed)
    return body if filtered is None else json.dumps(filtered, ensure_ascii=False).encode()


class SseListFilter:
    """Feed chunks of an SSE stream in, get the bytes to send out. On the stream of one list
    request ``specs`` is that list; on a GET stream (the legacy transport's responses, or a
    resumed stream replaying them) it is every list, told apart by the result's key."""

    def __init__(self, specs: Sequence[ListSpec], allowed: Allowed) -> None:
        self._specs, self._allowed = tuple(specs), allowed
        self._events = EventSplitter()

    def feed(self, chunk: bytes) -> bytes:
        out = b"".join(self._event(event) for event in self._events.feed(chunk))
        if len(self._events) > MAX_EVENT:
            raise EventTooLarge(f"an event grew past {MAX_EVENT} bytes")
        return out

    def flush(self) -> bytes:
        # What is left is an event without its blank line (which a client does not dispatch,
        # WHATWG HTML §9.2.6), or one that ended in a lone CR; filtered all the same.
        rest = self._events.flush()
        return self._event(rest) if rest else b""

    def _event(self, event: bytes) -> bytes:
        lines = split_lines(event)
        data = [_field_value(line, b"data") for line in lines if line.startswith(b"data")]
        values = [value for value in data if value is not None]
        if not values:
            return event
        try:
            message = json.loads(b"\n".join(values))
        except (ValueError, UnicodeDecodeError, RecursionError):
            return event
        filtered = filter_message(message, self._specs, self._allowed)
        if filtered is None:
            return event
        payload = json.dumps(filtered, ensure_ascii=False).encode()
        kept = [line for line in lines if line and _field_value(line, b"data") is None]
        return b"\n".join([*kept, b"data: " + payload]) + b"\n\n"


def _field_value(line: bytes, name: bytes) -> bytes | None:
    """The value of ``line`` when it is the field ``name`` (one space after the colon is not part
    of the value), else None."""
    if line == name:
        return b""
    if not line.startswith(name + b":"):
        return None
    value = line[len(name) + 1 :]
    return value[1:] if value.startswith(b" ") else value
