# SPDX-License-Identifier: Apache-2.0
"""The rate-limit check the forwarder makes for each MCP request. A refusal carries ToolHive's
wire shape: JSON-RPC error -32029 with ``data.retryAfterSeconds``, HTTP 429 and
``Retry-After`` (RFC 6585 §4)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from sidecar.config.authz import Rate as RateConfig
from sidecar.config.authz import RateLimits
from sidecar.observability.metrics import Metrics
from sidecar.proxy.jsonrpc import JsonRpcId, error_body
from sidecar.ratelimit.bucket import Rate
from sidecar.ratelimit.store import BucketStore

RATE_LIMITED_CODE = -32029  # ToolHive's code, in the implementation-defined server-error range


@dataclass(frozen=True, slots=True)
class Limited:
    bucket: str  # user | tool | user_tool
    retry_after: int  # whole seconds, at least 1

    def body(self, rpc_id: JsonRpcId) -> dict[str, object]:
        data = {"retryAfterSeconds": self.retry_after}
        return error_body(rpc_id, RATE_LIMITED_CODE, "rate limit exceeded", data)


class RateLimiter:
    def __init__(
        self,
        limits: RateLimits,
        store: BucketStore,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._user = _rate(limits.per_user)
        self._tool = _rate(limits.per_tool)
        self._user_tool = _rate(limits.per_user_tool)
        self._store, self._metrics, self._clock = store, metrics, clock

    async def check(self, subject: str | None, backend: str, tool: str | None) -> Limited | None:
        """Take a token from every bucket that applies to this request; the first refusal."""
        now = self._clock()
        user = subject or ""
        # Backend names hold no ":" and the subject is length-prefixed: no subject or tool name
        # can make two keys collide.
        buckets = [("user", self._user, f"u:{user}")]
        if tool is not None:
            buckets += [
                ("tool", self._tool, f"t:{backend}:{tool}"),
                ("user_tool", self._user_tool, f"ut:{backend}:{len(user)}:{user}:{tool}"),
            ]
        for name, rate, key in buckets:
            if rate is None:
                continue
            wait = await self._store.take(key, rate, now)
            if wait is not None:
                self._metrics.rate_limited.labels(backend, name).inc()
                return Limited(name, max(1, math.ceil(wait)))
        return None


def _rate(config: RateConfig | None) -> Rate | None:
    return None if config is None else Rate.of(config.requests, config.per, config.burst)
