# SPDX-License-Identifier: Apache-2.0
"""``token_exchange`` against a real RFC 8693 endpoint (a small aiohttp server written here):
the backend gets the exchanged token, cached per user until its expiry; a refusal is a 502
naming the RFC 6749 §5.2 error; in Mode B the upstream's token is the subject."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.outgoing.token_exchange import ACCESS_TOKEN_TYPE, GRANT_TYPE
from tests.authn.idp import Idp
from tests.authserver.flow import Browser, mode_b_settings
from tests.outgoing.federation import backend_bearer, call_backend, oidc_upstream, sign_in
from tests.support import RunningSidecar, metric_samples, settings_for

PUBLIC = "https://mcp.example.com"
CLIENT = "Basic " + base64.b64encode(b"mcp-sidecar:exchange-secret").decode()


@dataclass
class Sts:
    """An RFC 8693 token endpoint: checks the client and the request, issues numbered tokens."""

    refuse: bool = False
    requests: list[dict[str, str]] = field(default_factory=list)
    subject_check: Callable[[str], Awaitable[bool]] | None = None

    async def token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        if request.headers.get("Authorization") != CLIENT:
            return web.json_response({"error": "invalid_client"}, status=401)
        self.requests.append({key: str(value) for key, value in form.items()})
        if form.get("grant_type") != GRANT_TYPE or form.get("requested_token_type") != ACCESS_TOKEN_TYPE:
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        subject_ok = self.subject_check is None or await self.subject_check(str(form["subject_token"]))
        if self.refuse or not subject_ok:
            body = {"error": "invalid_target", "error_description": "this audience is not served here"}
            return web.json_response(body, status=400)
        return web.json_response(
            {
                "access_token": f"exchanged-{len(self.requests)}",
                "issued_token_type": ACCESS_TOKEN_TYPE,
                "token_type": "Bearer",
                "expires_in": 300,
            }
        )


@pytest.fixture
async def sts(
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> tuple[Sts, str]:
    state = Sts()
    app = web.Application()
    app.router.add_post("/token", state.token)
    server = await aiohttp_server(app)
    return state, f"http://127.0.0.1:{server.port}/token"


def _exchange(token_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "token_exchange",
        "token_url": token_url,
        "client_id": "mcp-sidecar",
        "client_secret_env": "EXCHANGE_SECRET",
        "audience": "search-api",
        "scopes": ["search:read", "search:write"],
        "insecure_allow_http": True,
        "allow_private_ip": True,
        **extra,
    }


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_SECRET", "exchange-secret")


def _mode_a(idp: Idp, echo_server: TestServer, token_url: str) -> Any:
    backend = {"name": "echo", "url": f"http://127.0.0.1:{echo_server.port}/", "path": "/b"}
    return settings_for(
        [{**backend, "outgoing_auth": _exchange(token_url)}],
        incoming_auth={
            "type": "oidc",
            "oidc": {"issuer": idp.issuer, "insecure_allow_http": True, "allow_private_ip": True},
        },
        public_url=PUBLIC,
    )


async def _seen(http: aiohttp.ClientSession, url: str, token: str) -> list[list[str]]:
    async with http.post(f"{url}/b/mcp", data=b"{}", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()
        seen: list[list[str]] = (await resp.json())["headers"]
    return seen


async def test_backend_gets_the_exchanged_token_cached_per_user(
    idp: Idp, echo_server: TestServer, sts: tuple[Sts, str], http: aiohttp.ClientSession
) -> None:
    """RFC 8693 §2.1: the incoming token is the subject, with audience and scope; the result is
    reused for the same user until it expires, and another user gets their own."""
    state, token_url = sts
    alice = await idp.token({"aud": f"{PUBLIC}/b", "sub": "alice"})
    bob = await idp.token({"aud": f"{PUBLIC}/b", "sub": "bob"})
    async with RunningSidecar(_mode_a(idp, echo_server, token_url)) as sidecar:
        first = await _seen(http, sidecar.url, alice)
        again = await _seen(http, sidecar.url, alice)
        other = await _seen(http, sidecar.url, bob)
    bearer = [
        [value for name, value in seen if name.lower() == "authorization"] for seen in (first, again, other)
    ]
    assert bearer == [["Bearer exchanged-1"], ["Bearer exchanged-1"], ["Bearer exchanged-2"]]
    [request, _bob] = state.requests
    assert request == {
        "grant_type": GRANT_TYPE,
        "subject_token": alice,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "requested_token_type": ACCESS_TOKEN_TYPE,
        "audience": "search-api",
        "scope": "search:read search:write",
    }


async def test_refused_exchange_answers_502_naming_the_error(
    idp: Idp, echo_server: TestServer, sts: tuple[Sts, str], http: aiohttp.ClientSession
) -> None:
    state, token_url = sts
    state.refuse = True
    token = await idp.token({"aud": f"{PUBLIC}/b", "sub": "alice"})
    async with RunningSidecar(_mode_a(idp, echo_server, token_url)) as sidecar:
        with structlog.testing.capture_logs() as events:
            async with http.post(
                f"{sidecar.url}/b/mcp", data=b"{}", headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                assert resp.status == 502
                body = await resp.json()
        samples = await metric_samples(http, sidecar.url)
    [refused] = [event for event in events if event["event"] == "token_exchange_refused"]
    assert refused["error"] == "invalid_target"
    assert refused["error_description"] == "this audience is not served here"
    assert token not in str(events)  # RFC 6749 §5.2 body logged, never the subject token
    assert body["error"] == "exchange_failed"
    assert "invalid_target" in body["error_description"]
    assert token not in str(body)
    labels = (("result", "exchange_failed"), ("strategy", "token_exchange"))
    assert samples[("mcp_sidecar_outgoing_auth_total", labels)] == 1


async def test_mode_b_exchanges_the_users_upstream_token(
    idp: Idp, echo_server: TestServer, sts: tuple[Sts, str]
) -> None:
    """V-03: in Mode B the subject token is the named upstream's (which the provider accepts),
    never the sidecar's own token."""
    state, token_url = sts
    state.subject_check = idp.accepts
    settings = mode_b_settings(
        f"http://127.0.0.1:{echo_server.port}",
        upstream=oidc_upstream(idp),
        backend={"outgoing_auth": _exchange(token_url, subject_provider="corp")},
    )
    base = str(settings.server.public_url)
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
        RunningSidecar(settings),
    ):
        access = await sign_in(Browser(http), base)
        assert await backend_bearer(http, base, access) == "exchanged-1"
        assert (await call_backend(http, base, access)).status == 200
    [request] = state.requests
    assert request["subject_token"] != access
