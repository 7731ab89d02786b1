# SPDX-License-Identifier: Apache-2.0
"""Chained upstreams with two real provider processes: one authorization walks through both,
each leg with its own state; a backend with ``upstream_inject`` for the second gets that
provider's token; a leg still valid is skipped next time; a failing leg names its upstream and
leaves nothing behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from sidecar.config import Settings
from tests.authn.idp import Idp
from tests.authserver.flow import REDIRECT, Browser, RawClient, mode_b_settings, pkce_pair
from tests.outgoing.federation import backend_bearer, oidc_upstream, sign_in
from tests.support import RunningSidecar, metric_samples


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Browser(http)


def _chained(echo_server: TestServer, first: Idp, second: Idp) -> Settings:
    return mode_b_settings(
        f"http://127.0.0.1:{echo_server.port}",
        backend={"outgoing_auth": {"type": "upstream_inject", "provider_name": "second"}},
        upstreams=[oidc_upstream(first, "first"), oidc_upstream(second, "second")],
    )


def _legs(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["upstream"], dict(labels)["outcome"]): value
        for (name, labels), value in samples.items()
        if name == "mcp_sidecar_chain_legs_total"
    }


async def test_one_authorization_through_both_providers_feeds_the_second_to_the_backend(
    echo_server: TestServer, idp: Idp, second_idp: Idp, browser: Browser
) -> None:
    settings = _chained(echo_server, idp, second_idp)
    base = str(settings.server.public_url)
    async with RunningSidecar(settings):
        access = await sign_in(browser, base)
        token = await backend_bearer(browser.http, base, access)
        assert (browser.sign_ins, browser.consents) == (1, 1)  # one authorization, one consent
        again = await sign_in(browser, base)  # the second leg's tokens are still valid: skipped
        assert await backend_bearer(browser.http, base, again) == token
        samples = await metric_samples(browser.http, base)
    assert await second_idp.accepts(token)
    assert not await idp.accepts(token)  # the second provider's, not the first's
    assert _legs(samples) == {
        ("first", "completed"): 2,
        ("second", "completed"): 1,
        ("second", "skipped"): 1,
    }


async def test_a_failing_leg_ends_with_an_error_naming_its_upstream(
    echo_server: TestServer, idp: Idp, second_idp: Idp, browser: Browser
) -> None:
    """The error goes to the client's redirect URI (checked at /authorize), and no code or
    token of the half-walked chain is issued."""
    settings = _chained(echo_server, idp, second_idp)
    base = str(settings.server.public_url)
    await second_idp.set_down(True)
    async with RunningSidecar(settings):
        raw = RawClient(browser.http, base)
        client_id = await raw.public_client()
        _verifier, challenge = pkce_pair()
        url = raw.authorize_url(client_id, challenge)
        location = await _walk(browser, url)
        samples = await metric_samples(browser.http, base)
    assert location.startswith(REDIRECT)
    query = parse_qs(urlsplit(location).query)
    assert "code" not in query
    assert query["error"] == ["temporarily_unavailable"]
    assert "'second'" in query["error_description"][0]
    assert _legs(samples) == {("first", "completed"): 1, ("second", "failed"): 1}


async def _walk(browser: Browser, url: str) -> str:
    """Follow the browser's redirects (allowing at the consent page) until the client's redirect URI."""
    http = browser.http
    for _ in range(20):
        if url.startswith(REDIRECT):
            return url
        if "/oauth/consent" in url:
            url = urljoin(url, await RawClient(http, url.split("/oauth/", maxsplit=1)[0]).allow(url))
            continue
        async with http.get(url, allow_redirects=False) as resp:
            assert resp.status in (302, 303), await resp.text()
            url = urljoin(url, resp.headers["Location"])
    raise AssertionError("the authorization did not come back to the client")


async def test_consent_answered_for_a_later_leg_cannot_skip_its_login(
    echo_server: TestServer, idp: Idp, second_idp: Idp, browser: Browser
) -> None:
    """A later leg has no consent step: its state used as a consent request is refused (page
    and post), so the second upstream's login cannot be stepped over."""
    settings = _chained(echo_server, idp, second_idp)
    base = str(settings.server.public_url).rstrip("/")
    async with RunningSidecar(settings):
        http = browser.http
        raw = RawClient(http, base)
        client_id = await raw.public_client()
        url = raw.authorize_url(client_id, pkce_pair()[1])
        leg_id = None
        for _ in range(20):  # walk until the browser is sent to the second provider
            if "/oauth/consent" in url:
                url = urljoin(url, await RawClient(http, base).allow(url))
                continue
            if not url.startswith(base) and url.startswith(second_idp.issuer):
                leg_id = parse_qs(urlsplit(url).query)["state"][0]
                break
            async with http.get(url, allow_redirects=False) as resp:
                url = urljoin(url, resp.headers["Location"])
        assert leg_id is not None
        async with http.get(f"{base}/oauth/consent", params={"request": leg_id}) as page:
            assert page.status == 400
        form = {"request": leg_id, "csrf": "x", "decision": "allow"}
        async with http.post(f"{base}/oauth/consent", data=form, allow_redirects=False) as resp:
            assert resp.status == 400
            assert "Location" not in resp.headers
