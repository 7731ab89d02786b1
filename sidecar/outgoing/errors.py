# SPDX-License-Identifier: Apache-2.0
"""Why outgoing auth could not produce a credential for the backend.

OutgoingFailure                  (status, reason, description); the request is not forwarded
  ├─ ReauthorizationNeeded       401 + the resource's challenge: the user's upstream login is
  │                              gone or refused (RFC 6749 §5.2 invalid_grant); the MCP client
  │                              starts a new authorization, which logs the user in again
  ├─ UpstreamUnreachable         503 + Retry-After: the provider (or storage) cannot answer now
  └─ ExchangeRefused             502: the token-exchange endpoint refused or failed

Descriptions are safe to send and log: never a token, a code or a secret.
"""

from __future__ import annotations


class OutgoingFailure(Exception):
    status = 502
    reason = "error"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class ReauthorizationNeeded(OutgoingFailure):
    status = 401
    reason = "reauthorize"


class UpstreamUnreachable(OutgoingFailure):
    status = 503
    reason = "unavailable"
    retry_after = 5


class ExchangeRefused(OutgoingFailure):
    status = 502
    reason = "exchange_failed"
