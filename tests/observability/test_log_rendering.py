# SPDX-License-Identifier: Apache-2.0
"""How events are rendered: tracebacks as text, and nothing a client sends reaches the operator's
terminal as a control sequence."""

from __future__ import annotations

import datetime
import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from sidecar.observability.logging import (
    REQUEST_ID,
    HotEvent,
    JsonLine,
    UtcTimestamp,
    add_request_id,
    escape_for_terminal,
    json_steps,
    log_processors,
    stdlib_formatter,
)
from tests.observability.conftest import RenderedLogs
from tests.support import RunningSidecar, settings_for

CLEAR_SCREEN = "\x1b[2J"
SGR = re.compile(r"\x1b\[[0-9;]*m")  # the console renderer's own colours
# What a terminal acts on: C0 and C1 controls, DEL, and the bidirectional overrides.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


async def test_console_log_escapes_control_characters_from_the_request_path(
    http: aiohttp.ClientSession, console_logs: RenderedLogs
) -> None:
    """A path decoding to ``ESC [2J`` is written as ``\\x1b[2J``, never as the raw sequence."""
    settings = settings_for([{"name": "echo", "url": "http://127.0.0.1:9/", "path": "/b"}])
    async with (
        RunningSidecar(settings) as sidecar,
        http.get(f"{sidecar.url}/%1b%5b2J%07%C2%9B%E2%80%AE") as resp,
    ):
        assert resp.status == 404
    (line,) = [line for line in console_logs.text.splitlines() if "request" in line and "404" in line]
    for raw in (CLEAR_SCREEN, "\x07", "\x9b", "\u202e"):
        assert raw not in line
    # The renderer's own colours are the only escape sequences left.
    assert r"path=/\x1b[2J\x07\x9b\u202e" in SGR.sub("", line)


def test_console_log_escapes_claims_keys_and_nested_values() -> None:
    """A ``sub`` claim, a key and a value inside a list are all escaped before rendering."""
    event = escape_for_terminal(
        None,
        "info",
        {
            "event": "request",
            "subject": f"alice{CLEAR_SCREEN}",
            f"key{CLEAR_SCREEN}": 1,
            "scopes": [f"read{CLEAR_SCREEN}"],
            "status": 200,
        },
    )
    rendered = structlog.dev.ConsoleRenderer(colors=False)(None, "info", event)
    assert isinstance(rendered, str)
    assert not CONTROL.search(rendered)
    assert r"subject=alice\x1b[2J" in rendered
    assert r"key\x1b[2J=1" in rendered
    assert "status=200" in rendered


# `exception` is the traceback's key: the console writes it on lines of its own, by design (the
# next test); hypothesis now draws it from the source's string constants.
_KEYS = st.text().filter(lambda key: key != "exception")


@given(st.dictionaries(_KEYS, st.one_of(st.text(), st.lists(st.text()), st.integers()), max_size=5))
def test_console_rendering_never_writes_a_control_character(fields: dict[str, object]) -> None:
    """Whatever the keys and values, the console line holds no control character."""
    event = escape_for_terminal(None, "info", {"event": "fuzz", **fields})
    rendered = structlog.dev.ConsoleRenderer(colors=False)(None, "info", event)
    assert isinstance(rendered, str)
    assert not CONTROL.search(rendered)


def test_console_traceback_keeps_its_lines_but_escapes_controls() -> None:
    """The traceback stays readable (line breaks kept); a control character inside it is escaped."""
    event = escape_for_terminal(
        None, "error", {"event": "internal_error", "exception": f"Traceback\n  line{CLEAR_SCREEN}"}
    )
    assert event["exception"] == "Traceback\n  line\\x1b[2J"


def test_standard_library_exception_is_rendered_as_traceback_text() -> None:
    """An aiohttp (standard-library) record with exc_info renders a traceback, not its repr."""
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "aiohttp.server", logging.ERROR, __file__, 1, "Error handling request", None, sys.exc_info()
        )
    line = json.loads(stdlib_formatter(console=False).format(record))
    assert line["event"] == "Error handling request"
    assert line["logger"] == "aiohttp.server"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: boom" in line["exception"]
    assert "<traceback object" not in json.dumps(line)


def test_standard_library_message_is_escaped_on_the_console() -> None:
    """aiohttp's own records go through the same escaping as the sidecar's events."""
    record = logging.LogRecord(
        "aiohttp.server", logging.WARNING, __file__, 1, "odd request %s", (CLEAR_SCREEN,), None
    )
    line = stdlib_formatter(console=True).format(record)
    assert CLEAR_SCREEN not in line
    assert r"odd request \x1b[2J" in SGR.sub("", line)


# Up to the last second datetime can show (9999-12-31T23:59:59).
_INSTANTS = st.integers(min_value=0, max_value=253_402_300_799_999_999_999)


@given(st.lists(_INSTANTS, min_size=1, max_size=20))
def test_timestamp_is_what_structlogs_iso_utc_stamper_writes(instants: list[int]) -> None:
    """The per-second cache gives the text ``datetime.isoformat`` gives, whatever the order of
    the instants one stamper sees (the fraction is left out on a whole second, as there)."""
    stamp = UtcTimestamp()
    for ns in instants:
        second, rest = divmod(ns, 1_000_000_000)
        moment = datetime.datetime.fromtimestamp(second, tz=datetime.UTC).replace(microsecond=rest // 1000)
        assert stamp.format(ns) == moment.isoformat().replace("+00:00", "Z")


def test_request_id_is_added_only_while_a_request_is_handled() -> None:
    """Outside a request no ``request_id``; inside, the request's, unless the event names one."""
    assert "request_id" not in add_request_id(None, "info", {"event": "start"})
    token = REQUEST_ID.set("req-1")
    try:
        assert add_request_id(None, "info", {"event": "e"})["request_id"] == "req-1"
        assert add_request_id(None, "info", {"event": "e", "request_id": "own"})["request_id"] == "own"
    finally:
        REQUEST_ID.reset(token)
    assert "request_id" not in add_request_id(None, "info", {"event": "after"})


@pytest.fixture
def restored_logging() -> Iterator[None]:
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)


def _configure(out: io.StringIO, *, console: bool, level: int = logging.INFO, wrapper: Any = None) -> None:
    structlog.configure(
        processors=log_processors(console),
        wrapper_class=wrapper or structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


_FIELDS = {
    "method": "POST",
    "path": "/mcp",
    "status": 200,
    "duration_ms": 1.5,
    "outcome": None,
}
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")


@pytest.mark.parametrize("console", [False, True])
@pytest.mark.usefixtures("restored_logging")
def test_hot_event_writes_what_structlog_writes(console: bool) -> None:
    """The access event's shortcut writes the very line ``log.info`` writes (timestamps aside),
    context variables and the request id included."""
    out = io.StringIO()
    _configure(out, console=console)
    hot = HotEvent("sidecar.access", "request")
    token = REQUEST_ID.set("req-9")
    try:
        with structlog.contextvars.bound_contextvars(worker=3):
            hot.log(dict(_FIELDS))
            structlog.get_logger("sidecar.access").info("request", **_FIELDS)
    finally:
        REQUEST_ID.reset(token)
    ours, theirs = (_STAMP.sub("T", line) for line in out.getvalue().splitlines())
    assert ours == theirs
    assert "worker" in ours
    assert "req-9" in ours


@pytest.mark.usefixtures("restored_logging")
def test_hot_event_follows_the_configuration_in_place() -> None:
    """A new configuration (another output, a higher level, another wrapper) is used at once."""
    hot = HotEvent("sidecar.access", "request")
    first, second, quiet = io.StringIO(), io.StringIO(), io.StringIO()
    _configure(first, console=False)
    hot.log(dict(_FIELDS))
    _configure(second, console=False)
    hot.log(dict(_FIELDS))
    _configure(quiet, console=False, level=logging.WARNING)
    hot.log(dict(_FIELDS))
    assert len(first.getvalue().splitlines()) == len(second.getvalue().splitlines()) == 1
    assert quiet.getvalue() == ""
    # Not a level-filtering wrapper: structlog's own dispatch is used.
    other = io.StringIO()
    _configure(other, console=False, wrapper=structlog.BoundLogger)
    hot.log(dict(_FIELDS))
    assert json.loads(other.getvalue())["event"] == "request"


def test_hot_event_is_captured_by_structlog_testing() -> None:
    """``capture_logs`` (its processor drops the event after keeping it) sees the access event."""
    with structlog.testing.capture_logs() as events:
        HotEvent("sidecar.access", "request").log(dict(_FIELDS))
    assert events == [{**_FIELDS, "event": "request", "log_level": "info"}]


class _OwnRendering:
    def __structlog__(self) -> str:
        return "rendered by itself"


class _Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


_EVENTS = st.dictionaries(
    st.sampled_from(["event", "path", "status", "token", "Authorization", "headers", "subject", "n"]),
    st.one_of(
        st.text(max_size=8),
        st.integers(-(2**63), 2**63 - 1),
        st.none(),
        st.lists(st.booleans(), max_size=2),
        st.sampled_from([_OwnRendering(), _Opaque(), 1.5]),
    ),
    min_size=1,
)


@given(_EVENTS, st.booleans(), st.sampled_from(["info", "warning", "warn", "exception", "critical"]))
def test_json_line_is_the_json_steps_in_one(event: dict[str, Any], failing: bool, method: str) -> None:
    """The fused JSON processor writes what the chain's steps write one after the other:
    request id, context variables, level, redaction, traceback, rendering (timestamps aside)."""
    if failing:
        try:
            raise ValueError("boom")
        except ValueError as error:
            event = {**event, "exc_info": error}
    token = REQUEST_ID.set("req-3")
    try:
        with structlog.contextvars.bound_contextvars(worker=1):
            fused = JsonLine()(None, method, dict(event))
            stepwise: Any = dict(event)
            for step in json_steps():
                stepwise = step(None, method, stepwise)
    finally:
        REQUEST_ID.reset(token)
    assert _STAMP.sub("T", fused) == _STAMP.sub("T", stepwise)
