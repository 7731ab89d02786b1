# SPDX-License-Identifier: Apache-2.0
"""The browser flow as a service over plain values: no HTTP server, a fixed clock, the real
in-memory store and the real static upstream. The end-to-end tests drive the same rules through
the routes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.authserver.errors import InvalidRequest, TooManyRequests
from sidecar.authserver.flow import AuthorizationFlow, ErrorPage, Outcome, Page, Redirect
from sidecar.authserver.keys import OpaqueTokens, ephemeral_hmac_secret, same_text
from sidecar.authserver.rate_limit import RateLimiter
from sidecar.authserver.registration import register
from sidecar.authserver.upstreams.static import StaticProvider
from sidecar.config.auth_server import StaticUpstream
from sidecar.config.loader import load_config_data
from sidecar.observability.metrics import Metrics
from sidecar.storage.memory import MemoryStorage
from tests.authserver.flow import PASSWORD, REDIRECT, mode_b_raw, pkce_pair

NOW = 1_800_000_000.0
PUBLIC = "https://mcp.example.com"


class Login:
    """A flow with one registered client, and the parameters of its authorization request."""

    def __init__(self, *, attempts: int = 20) -> None:
        config = load_config_data(mode_b_raw(PUBLIC)).auth_server
        assert config is not None
        upstream = config.upstreams[0]
        assert isinstance(upstream, StaticUpstream)
        self.storage = MemoryStorage(clock=lambda: NOW)
        self.flow = AuthorizationFlow(
            config,
            self.storage,
            OpaqueTokens([ephemeral_hmac_secret()]),
            {upstream.name: StaticProvider(upstream)},
            upstream.name,
            Metrics(),
            lambda: NOW,
            RateLimiter(attempts, 60.0),
        )
        self.client_id = ""

    async def params(self, **overrides: str) -> Mapping[str, Sequence[str]]:
        if not self.client_id:
            client, _secret = register(
                {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"},
                scopes_supported=self.flow.settings.scopes_supported,
                now=NOW,
            )
            assert await self.storage.add_client(client, NOW)
            self.client_id = client.client_id
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": REDIRECT,
            "state": "st-1",
            "code_challenge": pkce_pair()[1],
            "code_challenge_method": "S256",
            "resource": f"{PUBLIC}/mcp",
            **overrides,
        }
        return {name: [value] for name, value in params.items()}

    async def allow(self, request_id: str, binding: str, decision: str = "allow") -> Outcome:
        """The consent page's form, posted with its CSRF token."""
        page = await self.flow.page("consent.html", request_id, binding)
        assert isinstance(page, Page)
        csrf = page.context["csrf"]
        assert csrf is not None
        return await self.flow.consent({"request": request_id, "csrf": csrf, "decision": decision}, binding)

    async def start(self) -> tuple[str, str]:
        """The pending request's id and the browser binding, from /authorize."""
        outcome = await self.flow.authorize(await self.params())
        assert isinstance(outcome, Redirect)
        assert outcome.binding is not None
        assert outcome.location.startswith("/oauth/login?")
        return parse_qs(urlsplit(outcome.location).query)["request"][0], outcome.binding


def _query(outcome: Outcome) -> dict[str, list[str]]:
    assert isinstance(outcome, Redirect)
    return parse_qs(urlsplit(outcome.location).query)


async def test_login_form_issues_one_code_for_the_request() -> None:
    """authorize → login page → password → a 303 to the client with code, state and iss (RFC 9207)."""
    login = Login()
    request_id, binding = await login.start()
    page = await login.flow.page("login.html", request_id, binding)
    assert isinstance(page, Page)
    assert page.context["action"] == "/oauth/login"
    assert page.context["redirect_host"] == "127.0.0.1:9"
    outcome = await login.flow.login(
        {"request": request_id, "username": "alice", "password": PASSWORD}, binding, "192.0.2.1"
    )
    assert isinstance(outcome, Redirect)
    assert outcome.location.startswith("/oauth/consent?")  # the first login of this client by alice
    outcome = await login.allow(request_id, binding)
    assert isinstance(outcome, Redirect)
    assert outcome.see_other
    query = _query(outcome)
    assert query["state"] == ["st-1"]
    assert query["iss"] == [PUBLIC]
    assert query["code"]


async def test_a_pending_authorization_is_used_once() -> None:
    """After the code is issued, the same login form cannot be posted again."""
    login = Login()
    request_id, binding = await login.start()
    form = {"request": request_id, "username": "alice", "password": PASSWORD}
    assert isinstance(await login.flow.login(form, binding, "192.0.2.1"), Redirect)
    assert "code" in _query(await login.allow(request_id, binding))
    again = await login.flow.login(form, binding, "192.0.2.1")
    assert isinstance(again, ErrorPage)
    assert isinstance(again.error, InvalidRequest)


@pytest.mark.parametrize("binding", [None, "another-browser"])
async def test_a_login_from_another_browser_is_refused(binding: str | None) -> None:
    """RFC 9700 §4.7: the login continues only in the browser that started it."""
    login = Login()
    request_id, _binding = await login.start()
    outcome = await login.flow.login(
        {"request": request_id, "username": "alice", "password": PASSWORD}, binding, "192.0.2.1"
    )
    assert isinstance(outcome, ErrorPage)
    assert "another browser" in outcome.error.description


async def test_wrong_password_shows_the_form_again_and_keeps_the_request() -> None:
    """A wrong password is the login page with 401; the request stays usable."""
    login = Login()
    request_id, binding = await login.start()
    wrong = await login.flow.login(
        {"request": request_id, "username": "alice", "password": "nope"}, binding, "192.0.2.1"
    )
    assert isinstance(wrong, Page)
    assert wrong.status == 401
    assert wrong.context["username"] == "alice"
    right = await login.flow.login(
        {"request": request_id, "username": "alice", "password": PASSWORD}, binding, "192.0.2.1"
    )
    assert isinstance(right, Redirect)


async def test_login_attempts_are_limited_per_client_address() -> None:
    """SECURITY: password guessing stops at the limit (429), for that address only."""
    login = Login(attempts=2)
    request_id, binding = await login.start()
    form = {"request": request_id, "username": "alice", "password": "nope"}
    for _ in range(2):
        assert isinstance(await login.flow.login(form, binding, "192.0.2.1"), Page)
    limited = await login.flow.login(form, binding, "192.0.2.1")
    assert isinstance(limited, ErrorPage)
    assert isinstance(limited.error, TooManyRequests)
    assert limited.status == 429
    assert isinstance(await login.flow.login(form, binding, "192.0.2.2"), Page)


async def test_an_unregistered_redirect_uri_is_an_error_page_never_a_redirect() -> None:
    """RFC 9700 §4.1: never send the browser to a redirect URI that was not registered."""
    login = Login()
    outcome = await login.flow.authorize(await login.params(redirect_uri="https://attacker.example/cb"))
    assert isinstance(outcome, ErrorPage)


async def test_a_bad_request_with_a_good_redirect_uri_goes_back_to_the_client() -> None:
    """Errors after the redirect URI is verified go to the client, with state and iss."""
    login = Login()
    outcome = await login.flow.authorize(await login.params(resource="https://elsewhere.example/mcp"))
    query = _query(outcome)
    assert query["error"] == ["invalid_target"]
    assert query["state"] == ["st-1"]
    assert query["iss"] == [PUBLIC]


@given(st.text(), st.text())
def test_same_text_compares_any_strings_without_raising(expected: str, presented: str) -> None:
    """Constant-time comparison of client-controlled text never raises, and is equality."""
    assert same_text(expected, presented) is (expected == presented)
