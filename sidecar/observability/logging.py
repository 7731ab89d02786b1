# SPDX-License-Identifier: Apache-2.0
"""structlog set-up: JSON lines (or a console renderer on a TTY), the standard library routed
through the same processors, and a last-line redaction of secret-looking keys.

The first defence is that no code logs a header, body or query string; ``redact`` is the second.
Events logged while a request is handled carry its ``request_id`` (:data:`REQUEST_ID`, set by the
access middleware, added here); other ``structlog.contextvars`` bindings (a worker's number) are
merged too. Exceptions are rendered as traceback text, never as ``repr`` of a traceback object.

Every request logs its access event through this chain, so its steps are kept cheap: one
context variable instead of structlog's bind and unbind per request, the timestamp's date and
seconds formatted once a second, the exception step skipped when there is no exception.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any, Literal

import orjson
import structlog

SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "cookie",
        "set-cookie",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "code",
        "code_verifier",
        "client_secret",
        "secret",
        "password",
        "headers",
        "query",
    }
)
REDACTED = "[redacted]"
# C0 and C1 controls, DEL, and the bidirectional overrides and isolates ("Trojan Source").
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_EXCEPT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_PLAIN = (bool, int, float, type(None))


REQUEST_ID: ContextVar[str | None] = ContextVar("sidecar_request_id", default=None)
"""The id of the request being handled; the access middleware sets it and resets it."""


def redact(_logger: object, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if not SENSITIVE_KEYS.isdisjoint(event):
        for key in event.keys() & SENSITIVE_KEYS:
            event[key] = REDACTED
    return event


def add_request_id(_logger: object, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """``request_id`` of the request being handled, unless the event names one itself."""
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


class UtcTimestamp:
    """``timestamp`` as structlog's ``TimeStamper(fmt="iso", utc=True)`` writes it
    (``2026-07-28T10:00:00.250000Z``; no fraction on a whole second, as ``isoformat``), with
    the date and seconds formatted once per second instead of a datetime per event."""

    def __init__(self) -> None:
        # One attribute holding both, so threads logging at once never pair a second with
        # another second's text.
        self._cached: tuple[int, str] = (-1, "")

    def __call__(
        self, _logger: object, _name: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event["timestamp"] = self.format(time.time_ns())
        return event

    def format(self, ns: int) -> str:
        second, rest = divmod(ns, 1_000_000_000)
        cached_second, prefix = self._cached
        if second != cached_second:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._cached = (second, prefix)
        micros = rest // 1000  # truncated, as datetime.now() does
        return f"{prefix}.{micros:06d}Z" if micros else f"{prefix}Z"


def _exceptions(_logger: object, name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog's ``format_exc_info``, called only when there is an exception to render."""
    if "exc_info" not in event:
        return event
    return structlog.processors.format_exc_info(_logger, name, event)


def escape_control_characters(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character written as a ``\\xNN``/``\\uNNNN`` escape."""
    pattern = _CONTROL_EXCEPT_NEWLINE if keep_newlines else _CONTROL
    return pattern.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def escape_for_terminal(
    _logger: object, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The console renderer writes strings raw.

    SECURITY: a request path or a token claim holding ``ESC [2J`` (or an OSC sequence) would
    otherwise drive the operator's terminal. Every key and value is escaped; other values are
    rendered to their ``repr`` first, since an object's ``repr`` is not bound to be printable.
    Only the traceback keeps its line breaks.
    """
    escaped: dict[str, Any] = {}
    for key, value in event.items():
        if isinstance(value, _PLAIN) and not isinstance(value, str):
            rendered: Any = value
        else:
            text = value if isinstance(value, str) else repr(value)
            rendered = escape_control_characters(text, keep_newlines=key == "exception")
        escaped[escape_control_characters(str(key))] = rendered
    return escaped


class HotEvent:
    """One event logged on every request at info level, written as
    ``structlog.get_logger(logger_name).info(event, **fields)`` writes it, through the processor
    chain, level filter and output of the configuration in place, without structlog's per-call
    wrapping (lazy proxy, bound-logger dispatch, keyword arguments packed three times), which
    cost about as much as the chain itself. The bound logger is assembled again, as structlog's
    proxy assembles it, whenever the configuration changes (``structlog.configure``)."""

    def __init__(self, logger_name: str, event: str) -> None:
        self._logger_name, self._event = logger_name, event
        self._config: tuple[object, ...] = ()
        self._bound: Any = None
        self._direct = False  # a native level-filtering logger whose dispatch this replaces
        self._enabled = False

    def log(self, fields: dict[str, Any]) -> None:
        """Log ``fields`` (a dict this call may change) as the event."""
        config = structlog.get_config()
        key = (
            config["processors"],
            config["wrapper_class"],
            config["logger_factory"],
            config["context_class"],
        )
        if key != self._config:
            self._assemble(key)
        bound = self._bound
        if not self._direct:
            bound.info(self._event, **fields)
            return
        if not self._enabled:
            return
        # What BoundLoggerBase._process_event and _proxy_to_logger do.
        event: Any = {**bound._context, **fields} if bound._context else fields
        event["event"] = self._event
        try:
            for processor in bound._processors:
                event = processor(bound._logger, "info", event)
        except structlog.DropEvent:
            return
        if isinstance(event, (str, bytes, bytearray)):  # a tuple: quicker than a union here
            bound._logger.info(event)
        elif isinstance(event, tuple):
            bound._logger.info(*event[0], **event[1])
        elif isinstance(event, dict):
            bound._logger.info(**event)
        else:
            raise ValueError("the last processor did not return a str, bytes, tuple or dict")

    def _assemble(self, key: tuple[object, ...]) -> None:
        processors, wrapper, factory, context = key
        self._bound = wrapper(factory(self._logger_name), processors=processors, context=context())  # type: ignore[operator]
        # structlog.make_filtering_bound_logger's classes: BoundLoggerBase with is_enabled_for.
        self._direct = isinstance(self._bound, structlog.BoundLoggerBase) and hasattr(
            type(self._bound), "is_enabled_for"
        )
        self._enabled = self._direct and self._bound.is_enabled_for(logging.INFO)  # fixed per class
        self._config = key


# structlog's level names for the methods not named after their level (add_log_level).
_LEVEL_NAMES = {"warn": "warning", "exception": "error"}


def _json_default(value: Any) -> Any:
    """What structlog's JSONRenderer writes for a value JSON has no type for: the value's own
    ``__structlog__`` rendering, else its repr."""
    try:
        return value.__structlog__()
    except AttributeError:
        return repr(value)


def _dumps(value: Any, **kwargs: Any) -> str:
    # orjson renders the per-request access event several times faster than the json module.
    return orjson.dumps(value, default=kwargs.get("default")).decode()


def _shared() -> list[structlog.types.Processor]:
    return [
        add_request_id,
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        UtcTimestamp(),
        redact,
    ]


def _rendering(console: bool) -> list[structlog.types.Processor]:
    # exc_info becomes traceback text here, for structlog events and standard-library records
    # alike; the JSON renderer would otherwise write the repr of a traceback object. SECURITY: a
    # plain traceback, never one with local variables (which may hold a token).
    if console:
        return [_exceptions, escape_for_terminal, structlog.dev.ConsoleRenderer()]
    return [_exceptions, structlog.processors.JSONRenderer(_dumps)]


def log_processors(console: bool) -> list[structlog.types.Processor]:
    """The processor chain of the sidecar's own events."""
    return [*_shared(), *_rendering(console)] if console else [JsonLine()]


def json_steps() -> list[structlog.types.Processor]:
    """The JSON chain step by step, as standard-library records go through it."""
    return [*_shared(), *_rendering(console=False)]


class JsonLine:
    """:func:`json_steps` as one processor: the same steps in the same order, called inline,
    since every request's access event runs through it."""

    def __init__(self) -> None:
        self._stamp = UtcTimestamp()

    def __call__(self, logger: Any, name: str, event: MutableMapping[str, Any]) -> str:
        event = add_request_id(logger, name, event)
        event = structlog.contextvars.merge_contextvars(logger, name, event)
        event["level"] = _LEVEL_NAMES.get(name, name)  # structlog's add_log_level
        event["timestamp"] = self._stamp.format(time.time_ns())
        if not SENSITIVE_KEYS.isdisjoint(event):
            event = redact(logger, name, event)
        if "exc_info" in event:
            event = structlog.processors.format_exc_info(logger, name, event)
        return orjson.dumps(event, default=_json_default).decode()  # JSONRenderer(_dumps)


def stdlib_formatter(console: bool) -> logging.Formatter:
    """The formatter that gives standard-library records (aiohttp, asyncio) the same shape."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *_shared()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *_rendering(console)],
    )


def configure_logging(level: str = "info", fmt: Literal["auto", "json", "console"] = "auto") -> None:
    console = fmt == "console" or (fmt == "auto" and sys.stdout.isatty())
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=log_processors(console),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # One write per event (the message and its newline together): several worker processes
        # share stdout, and print() writes the newline separately when stdout is unbuffered
        # (PYTHONUNBUFFERED, as in the image), which lets another process's line land between.
        logger_factory=structlog.WriteLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(stdlib_formatter(console))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # aiohttp.access is replaced by the sidecar's own access event.
    logging.getLogger("aiohttp.access").disabled = True
