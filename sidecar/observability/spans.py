# SPDX-License-Identifier: Apache-2.0
"""The two tracing hooks the forwarder calls, and what they are when tracing is off.

``RequestTracing`` is the seam: ``tracing.py`` implements it with OpenTelemetry when
``telemetry.tracing.enabled`` is set; otherwise the forwarder holds :data:`NO_TRACING`, whose
hooks return one preallocated object that does nothing. This module imports no OpenTelemetry, so
a sidecar with tracing off never loads it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from multidict import CIMultiDict
from yarl import URL


class BackendCall(Protocol):
    def responded(self, status: int) -> None:
        """The backend answered with ``status`` (its response head arrived)."""


class RequestTracing(Protocol):
    def authentication(self) -> AbstractContextManager[object]:
        """Around ``Authenticator.authenticate``: an ``AuthError`` leaving it marks the span."""

    def backend_call(
        self, backend: str, method: str, target: URL, headers: CIMultiDict[str]
    ) -> AbstractContextManager[BackendCall]:
        """Around the backend request; on entry it writes ``traceparent`` into ``headers``."""


class _Nothing:
    __slots__ = ()

    def __enter__(self) -> _Nothing:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def responded(self, status: int) -> None:
        return None


class _NoTracing:
    __slots__ = ()

    def authentication(self) -> _Nothing:
        return _NOTHING

    def backend_call(self, backend: str, method: str, target: URL, headers: CIMultiDict[str]) -> _Nothing:
        return _NOTHING


_NOTHING = _Nothing()
NO_TRACING: RequestTracing = _NoTracing()
