# SPDX-License-Identifier: Apache-2.0
"""JWKS caching rules and discovery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from sidecar.authn.errors import KeysUnavailable
from sidecar.authn.jwks import JwksSource, cache_seconds, discovery_urls
from sidecar.observability.metrics import Metrics
from sidecar.outbound import OutboundClient, OutboundPolicy
from tests.authn.idp import Idp


@pytest.mark.parametrize(
    ("control", "seconds"),
    [
        ("max-age=600", 600),
        ("public, max-age=5", 30),
        ("max-age=999999", 3600),
        ("no-store", 30),
        ("no-cache, max-age=600", 30),
        ("", 3600),
        ("max-age=abc", 3600),
    ],
)
def test_cache_control_is_clamped(control: str, seconds: float) -> None:
    assert cache_seconds({"Cache-Control": control}, 30, 3600) == seconds


@pytest.mark.parametrize(
    ("issuer", "urls"),
    [
        (
            "https://idp.example.com",
            [
                "https://idp.example.com/.well-known/openid-configuration",
                "https://idp.example.com/.well-known/oauth-authorization-server",
            ],
        ),
        (
            "https://idp.example.com/tenant/",
            [
                "https://idp.example.com/tenant/.well-known/openid-configuration",
                "https://idp.example.com/.well-known/oauth-authorization-server/tenant",
            ],
        ),
    ],
)
def test_discovery_urls(issuer: str, urls: list[str]) -> None:
    assert discovery_urls(issuer) == urls


@pytest.fixture
async def client() -> AsyncIterator[OutboundClient]:
    outbound = OutboundClient(timeout=2)
    yield outbound
    await outbound.close()


def _source(
    client: OutboundClient, issuer: str, metrics: Metrics | None = None, **overrides: Any
) -> JwksSource:
    settings: dict[str, Any] = {
        "refresh_min": 30,
        "refresh_max": 3600,
        "max_stale": 3600,
        "cooldown": 30,
        **overrides,
    }
    return JwksSource(
        client=client,
        policy=OutboundPolicy(allow_http=True, allow_private=True),
        issuer=issuer,
        jwks_url=None,
        metrics=metrics or Metrics(),
        **settings,
    )


async def test_discovered_issuer_must_match_exactly(idp: Idp, client: OutboundClient) -> None:
    """OIDC Discovery §4.3: a document naming another issuer is not used."""
    metrics = Metrics()
    source = _source(client, idp.issuer + "/", metrics)
    with pytest.raises(KeysUnavailable):
        await source.key_for("any")
    assert not source.ready
    assert (
        metrics.registry.get_sample_value("mcp_sidecar_jwks_fetches_total", {"result": "error"}) or 0
    ) >= 1


async def test_keys_fetched_from_discovered_jwks(idp: Idp, client: OutboundClient) -> None:
    source = _source(client, idp.issuer)
    kid = await idp.rotate("ES256")
    key = await source.key_for(kid)
    assert key is not None
    assert key.fits("ES256")
    assert source.ready
    assert await source.key_for("no-such-kid") is None  # known set, unknown kid: a plain miss


async def test_stale_keys_serve_through_an_outage_until_max_stale(idp: Idp, client: OutboundClient) -> None:
    """The last good set outlives an IdP outage for max_stale, and no longer."""
    now = [1000.0]
    source = _source(client, idp.issuer, refresh_max=60, max_stale=300, clock=lambda: now[0])
    kid = await idp.rotate()
    assert await source.key_for(kid) is not None
    await idp.set_down(True)
    now[0] += 60 + 200  # expired, refresh fails, still within max_stale
    assert await source.key_for(kid) is not None
    now[0] += 200  # past fresh_until + max_stale
    with pytest.raises(KeysUnavailable):
        await source.key_for(kid)
    assert not source.ready
