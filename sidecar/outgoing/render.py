# SPDX-License-Identifier: Apache-2.0
"""The answer to the MCP client when outgoing auth fails."""

from __future__ import annotations

from aiohttp import web

from sidecar.authn.authenticator import Authenticator
from sidecar.authn.errors import TokenRejected
from sidecar.observability.access import json_error
from sidecar.outgoing.errors import OutgoingFailure, ReauthorizationNeeded, UpstreamUnreachable


class UpstreamLoginNeeded(TokenRejected):
    reason = "upstream_login"


def failure_response(
    failure: OutgoingFailure, authenticator: Authenticator | None, backend: str, path: str
) -> web.Response:
    """401 with the resource's ``WWW-Authenticate`` challenge when the user must authorize
    again (MCP authorization: a 401 makes the client start over), else a JSON error."""
    if isinstance(failure, ReauthorizationNeeded) and authenticator is not None:
        return authenticator.error_response(UpstreamLoginNeeded(failure.description), backend, path)
    if isinstance(failure, UpstreamUnreachable):
        return json_error(failure.status, failure.reason, failure.description, **{"Retry-After": "5"})
    return json_error(failure.status, failure.reason, failure.description)
