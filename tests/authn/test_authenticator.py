# SPDX-License-Identifier: Apache-2.0
"""Per-backend resource policy and identity headers."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.authn.authenticator import Authenticator, resource_policy
from sidecar.authn.validator import Identity, TokenValidator
from sidecar.config import BackendSettings
from sidecar.config.schema import IdentityHeader
from sidecar.observability.metrics import Metrics
from tests.authn.tokens import oidc_settings

BACKEND = BackendSettings(name="a", url="http://127.0.0.1:1/mcp", path="/mcp/", required_scopes=("tools",))


def test_resource_and_default_audience_come_from_public_url() -> None:
    policy = resource_policy(oidc_settings(required_scopes=("read",)), "https://mcp.example.com", BACKEND)
    assert policy.resource == "https://mcp.example.com/mcp"
    assert policy.metadata_urls == {
        "/mcp": "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    }
    assert policy.audiences == {"https://mcp.example.com/mcp"}
    assert policy.required_scopes == ("read", "tools")


def test_configured_audience_replaces_the_default() -> None:
    policy = resource_policy(oidc_settings(audience="api://mcp"), "https://mcp.example.com", BACKEND)
    assert policy.audiences == {"api://mcp"}


def test_offline_access_never_in_challenges() -> None:
    """MCP 2026-07-28: offline_access is not advertised by the resource."""
    backend = BackendSettings(name="a", url="http://127.0.0.1:1/mcp", path="/mcp")
    policy = resource_policy(
        oidc_settings(scopes_supported=("read", "offline_access")), "https://m.example", backend
    )
    assert policy.challenge_scopes == ("read",)


@pytest.mark.parametrize(
    ("claim", "header"),
    [
        ("alice", "alice"),
        (["admins", "ops", {"x": 1}], "admins,ops"),
        (42, "42"),
        (True, "true"),
        ("evil\r\nX-Admin: 1", None),
        ("caf\u00e9", None),
        ({"nested": "x"}, None),
        ("", None),
    ],
)
def test_identity_headers_carry_printable_ascii_only(claim: Any, header: str | None) -> None:
    settings = oidc_settings(identity_headers=(IdentityHeader(header="X-MCP-Subject", claim="who"),))
    authenticator = Authenticator(
        settings, "https://m.example", (BACKEND,), TokenValidator(settings), Metrics()
    )
    identity = Identity(subject="s", scopes=frozenset(), claims={"who": claim}, expires_at=0, source="local")
    assert authenticator.identity_headers(identity).get("X-MCP-Subject") == header
    assert authenticator.identity_header_names == {"x-mcp-subject"}
