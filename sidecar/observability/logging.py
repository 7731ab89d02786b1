# SPDX-License-Identifier: Apache-2.0
"""structlog set-up: JSON lines (or a console renderer on a TTY), the standard library routed
through the same processors, and a last-line redaction of secret-looking keys.

The first defence is that no code logs a header, body or query string; ``redact`` is the second.
Events logged while a request is handled carry its ``request_id`` (bound with
``structlog.contextvars`` by the access middleware, merged here). Exceptions are rendered as
traceback text, never as ``repr`` of a traceback object.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
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


def redact(_logger: object, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in event.keys() & SENSITIVE_KEYS:
        event[key] = REDACTED
    return event


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


def _dumps(value: Any, **kwargs: Any) -> str:
    # orjson renders the per-request access event several times faster than the json module.
    return orjson.dumps(value, default=kwargs.get("default")).decode()


def _shared() -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]


def _rendering(console: bool) -> list[structlog.types.Processor]:
    # exc_info becomes traceback text here, for structlog events and standard-library records
    # alike; the JSON renderer would otherwise write the repr of a traceback object. SECURITY: a
    # plain traceback, never one with local variables (which may hold a token).
    if console:
        return [structlog.processors.format_exc_info, escape_for_terminal, structlog.dev.ConsoleRenderer()]
    return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer(_dumps)]


def log_processors(console: bool) -> list[structlog.types.Processor]:
    """The processor chain of the sidecar's own events."""
    return [*_shared(), *_rendering(console)]


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
