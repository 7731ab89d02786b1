# SPDX-License-Identifier: Apache-2.0
"""OAuth attacks against the embedded authorization server (attack checklist §4, RFC 9700),
one named test each, over real HTTP on a running sidecar."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import aiohttp
import jwt
import pytest
import structlog
from cryptography.hazmat.primitives.asymmetric import ec

from tests.authserver.flow import REDIRECT, RawClient, mode_b_settings, pkce_pair, running
from tests.support import RunningSidecar


@pytest.fixture
async def raw(mcp_server: str) -> AsyncIterator[RawClient]:
    async with running(mode_b_settings(mcp_server)) as client:
        yield client


def _error_of(resp: aiohttp.ClientResponse) -> str:
    assert resp.status == 302, resp.status
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query["state"] == ["st-1"]
    return query["error"][0]


async def test_happy_path_tokens_work(raw: RawClient) -> None:
    client_id = await raw.public_client()
    verifier, challenge = pkce_pair()
    status, tokens = await raw.exchange(client_id, await raw.code(client_id, challenge), verifier)
    assert status == 200, tokens
    assert tokens["token_type"] == "Bearer"
    assert await raw.call_mcp(tokens["access_token"]) == 200


async def test_pkce_missing_rejected(raw: RawClient) -> None:
    resp = await raw.authorize(raw.authorize_url(await raw.public_client(), None))
    assert _error_of(resp) == "invalid_request"


async def test_pkce_plain_rejected(raw: RawClient) -> None:
    verifier, _challenge = pkce_pair()
    resp = await raw.authorize(
        raw.authorize_url(await raw.public_client(), verifier[:43], code_challenge_method="plain")
    )
    assert _error_of(resp) == "invalid_request"


async def test_pkce_method_omitted_rejected(raw: RawClient) -> None:
    _verifier, challenge = pkce_pair()
    resp = await raw.authorize(
        raw.authorize_url(await raw.public_client(), challenge, code_challenge_method=None)
    )
    assert _error_of(resp) == "invalid_request"


async def test_pkce_wrong_verifier_rejected(raw: RawClient) -> None:
    client_id = await raw.public_client()
    _verifier, challenge = pkce_pair()
    other, _ = pkce_pair()
    status, body = await raw.exchange(client_id, await raw.code(client_id, challenge), other)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_pkce_verifier_omitted_at_token_rejected(raw: RawClient) -> None:
    """Downgrade: a challenge was sent at authorize, so a verifier must come at the token endpoint."""
    client_id = await raw.public_client()
    _verifier, challenge = pkce_pair()
    code = await raw.code(client_id, challenge)
    status, body = await raw.token(
        {"grant_type": "authorization_code", "client_id": client_id, "code": code, "redirect_uri": REDIRECT}
    )
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_code_replay_rejected_and_its_tokens_revoked(raw: RawClient) -> None:
    client_id = await raw.public_client()
    verifier, challenge = pkce_pair()
    code = await raw.code(client_id, challenge)
    status, tokens = await raw.exchange(client_id, code, verifier)
    assert status == 200
    assert await raw.call_mcp(tokens["access_token"]) == 200
    status, body = await raw.exchange(client_id, code, verifier)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert await raw.call_mcp(tokens["access_token"]) == 401  # what the code produced is revoked
    status, body = await raw.refresh(client_id, tokens["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_refresh_rotates_and_reuse_revokes_the_family(raw: RawClient) -> None:
    """A stolen old copy that comes back after its successor was used revokes the whole family
    (RFC 9700 §4.14.2), grace window or not."""
    client_id, first = await raw.sign_in()
    status, second = await raw.refresh(client_id, first["refresh_token"])
    assert status == 200
    assert second["refresh_token"] != first["refresh_token"]
    assert await raw.call_mcp(second["access_token"]) == 200
    status, third = await raw.refresh(client_id, second["refresh_token"])
    assert status == 200
    status, body = await raw.refresh(client_id, first["refresh_token"])  # stolen old copy
    assert (status, body["error"]) == (400, "invalid_grant")
    status, body = await raw.refresh(client_id, third["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")  # the whole family went with it
    assert await raw.call_mcp(third["access_token"]) == 401


async def test_refresh_repeated_within_the_grace_window_gets_the_same_pair(raw: RawClient) -> None:
    """Two tabs, or a retry after a lost response: the same token twice within
    refresh_grace_period gets the same new pair, and the family lives on."""
    client_id, first = await raw.sign_in()
    status, second = await raw.refresh(client_id, first["refresh_token"])
    assert status == 200, second
    status, again = await raw.refresh(client_id, first["refresh_token"])
    assert status == 200, again
    assert (again["access_token"], again["refresh_token"]) == (
        second["access_token"],
        second["refresh_token"],
    )
    assert await raw.call_mcp(again["access_token"]) == 200
    status, third = await raw.refresh(client_id, second["refresh_token"])
    assert status == 200, third


async def test_without_a_grace_window_a_second_use_revokes_the_family(mcp_server: str) -> None:
    """refresh_grace_period: 0s — any second use of a refresh token is a reuse."""
    async with running(mode_b_settings(mcp_server, refresh_grace_period="0s")) as raw:
        client_id, first = await raw.sign_in()
        status, second = await raw.refresh(client_id, first["refresh_token"])
        assert status == 200, second
        status, body = await raw.refresh(client_id, first["refresh_token"])
        assert (status, body["error"]) == (400, "invalid_grant")
        status, body = await raw.refresh(client_id, second["refresh_token"])
        assert (status, body["error"]) == (400, "invalid_grant")


async def test_refresh_cannot_widen_scope_and_a_refusal_keeps_the_token(raw: RawClient) -> None:
    """A refresh refused for its scope or resource spends nothing: the same token still works."""
    client_id, tokens = await raw.sign_in(scope="openid")
    status, body = await raw.refresh(client_id, tokens["refresh_token"], scope="openid email")
    assert (status, body["error"]) == (400, "invalid_scope")
    status, body = await raw.refresh(client_id, tokens["refresh_token"], resource="https://other.example/mcp")
    assert (status, body["error"]) == (400, "invalid_target")
    status, body = await raw.refresh(client_id, tokens["refresh_token"])  # the corrected retry still works
    assert status == 200, body


async def test_token_signed_by_an_unknown_key_is_refused_not_retried(raw: RawClient) -> None:
    """Mode B has no HTTP key tier: a kid this server never had is a 401, never a 503."""
    now = int(time.time())
    forged = jwt.encode(
        {"iss": raw.base, "aud": f"{raw.base}/mcp", "sub": "x", "iat": now, "exp": now + 60},
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": "other"},
    )
    assert await raw.call_mcp(forged) == 401


async def test_login_attempts_are_limited(raw: RawClient) -> None:
    _verifier, challenge = pkce_pair()
    resp = await raw.authorize(raw.authorize_url(await raw.public_client(), challenge))
    request_id = parse_qs(urlsplit(resp.headers["Location"]).query)["request"][0]
    statuses = []
    for _ in range(22):
        form = {"request": request_id, "username": "alice", "password": "guess"}
        async with raw.http.post(f"{raw.base}/oauth/login", data=form, allow_redirects=False) as done:
            statuses.append(done.status)
    assert statuses[:20] == [401] * 20
    assert set(statuses[20:]) == {429}


async def test_head_on_authorize_starts_nothing(raw: RawClient) -> None:
    _verifier, challenge = pkce_pair()
    async with raw.http.head(
        raw.authorize_url(await raw.public_client(), challenge), allow_redirects=False
    ) as resp:
        assert resp.status == 405


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:9/callback/extra",  # suffix
        "http://127.0.0.1:9/call",  # prefix
        "http://127.0.0.1:9/%63allback",  # percent-encoded
        "http://127.0.0.1:9/callback?x=1",
        "//evil.example/callback",
        "/\\evil.example/callback",
        "https://evil.example/callback",
        "http://127.0.0.1:9/callback#frag",
        "javascript:alert(1)//",
        "http://user@127.0.0.1:54321/callback",  # RFC 8252 §7.3: only the port may vary
        "http://127.0.0.1:abc/callback",  # a port the URL library refuses: no login ending in a 500
        "http://127.0.0.1:9\\@evil.example/callback",
    ],
)
async def test_redirect_uri_variants_get_an_error_page_not_a_redirect(
    raw: RawClient, redirect_uri: str
) -> None:
    """No open redirector: an unregistered redirect URI is never redirected to."""
    _verifier, challenge = pkce_pair()
    resp = await raw.authorize(
        raw.authorize_url(await raw.public_client(), challenge, redirect_uri=redirect_uri)
    )
    assert resp.status == 400
    assert "Location" not in resp.headers
    assert resp.headers["X-Frame-Options"] == "DENY"


async def test_loopback_redirect_port_may_vary(raw: RawClient) -> None:
    """RFC 8252 §7.3: native apps get an ephemeral port."""
    _verifier, challenge = pkce_pair()
    resp = await raw.authorize(
        raw.authorize_url(
            await raw.public_client(), challenge, redirect_uri="http://127.0.0.1:54321/callback"
        )
    )
    assert resp.status == 302
    assert resp.headers["Location"].startswith("/oauth/login?")


async def test_non_loopback_redirect_port_may_not_vary(raw: RawClient) -> None:
    status, body = await raw.register(redirect_uris=["https://app.example.com/cb"])
    assert status == 201
    _verifier, challenge = pkce_pair()
    resp = await raw.authorize(
        raw.authorize_url(body["client_id"], challenge, redirect_uri="https://app.example.com:8443/cb")
    )
    assert resp.status == 400


@pytest.mark.parametrize("uri", ["https://app.example.com\\@evil.example/cb", "https://app\\evil.example/cb"])
async def test_backslash_in_redirect_authority_refused_at_registration(raw: RawClient, uri: str) -> None:
    """A URI the URL library refuses (so no redirect to it could be built) is never registered."""
    status, body = await raw.register(redirect_uris=[uri])
    assert (status, body["error"]) == (400, "invalid_redirect_uri")


async def test_unknown_client_gets_an_error_page(raw: RawClient) -> None:
    _verifier, challenge = pkce_pair()
    resp = await raw.authorize(raw.authorize_url("no-such-client", challenge))
    assert resp.status == 400
    assert "Location" not in resp.headers


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["http://app.example.com/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["data:text/html,x"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://app.example.com/cb#x"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://user:pw@app.example.com/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": []}, "invalid_client_metadata"),
        ({"redirect_uris": [f"https://app.example.com/{i}" for i in range(11)]}, "invalid_client_metadata"),
        ({"grant_types": ["implicit"]}, "invalid_client_metadata"),
        ({"grant_types": ["password", "authorization_code"]}, "invalid_client_metadata"),
        ({"response_types": ["token"]}, "invalid_client_metadata"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
        ({"scope": "admin"}, "invalid_client_metadata"),
    ],
)
async def test_registration_refuses_bad_metadata(
    raw: RawClient, metadata: dict[str, object], error: str
) -> None:
    status, body = await raw.register(**metadata)
    assert (status, body["error"]) == (400, error)


async def test_registration_refuses_oversized_and_non_json(raw: RawClient) -> None:
    async with raw.http.post(
        f"{raw.base}/oauth/register", data=b"x" * 20000, headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 400
    async with raw.http.post(
        f"{raw.base}/oauth/register",
        data=b"redirect_uris=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ) as resp:
        assert resp.status == 400


async def test_registration_flood_is_throttled(raw: RawClient) -> None:
    statuses = [(await raw.register())[0] for _ in range(25)]
    assert statuses[:20] == [201] * 20
    assert set(statuses[20:]) == {429}


async def test_login_from_another_browser_refused(raw: RawClient) -> None:
    """state/CSRF binding: the login step must come from the user agent that started it."""
    _verifier, challenge = pkce_pair()
    resp = await raw.authorize(raw.authorize_url(await raw.public_client(), challenge))
    login = f"{raw.base}{resp.headers['Location']}"
    request_id = parse_qs(urlsplit(login).query)["request"][0]
    async with aiohttp.ClientSession() as stranger:  # no binding cookie
        async with stranger.get(login) as page:
            assert page.status == 400
        form = {"request": request_id, "username": "alice", "password": "wonderland"}
        async with stranger.post(f"{raw.base}/oauth/login", data=form, allow_redirects=False) as done:
            assert done.status == 400
            assert "Location" not in done.headers


async def test_tampered_request_id_refused(raw: RawClient) -> None:
    _verifier, challenge = pkce_pair()
    await raw.authorize(raw.authorize_url(await raw.public_client(), challenge))
    form = {"request": "forged-request-id", "username": "alice", "password": "wonderland"}
    async with raw.http.post(f"{raw.base}/oauth/login", data=form, allow_redirects=False) as done:
        assert done.status == 400


async def test_wrong_password_gets_the_form_again(raw: RawClient) -> None:
    _verifier, challenge = pkce_pair()
    resp = await raw.authorize(raw.authorize_url(await raw.public_client(), challenge))
    login = f"{raw.base}{resp.headers['Location']}"
    request_id = parse_qs(urlsplit(login).query)["request"][0]
    for username in ("alice", "mallory"):
        form = {"request": request_id, "username": username, "password": "guess"}
        async with raw.http.post(f"{raw.base}/oauth/login", data=form, allow_redirects=False) as done:
            assert done.status == 401
            assert "Wrong username or password." in await done.text()


async def test_wrong_resource_rejected(raw: RawClient) -> None:
    client_id = await raw.public_client()
    verifier, challenge = pkce_pair()
    resp = await raw.authorize(raw.authorize_url(client_id, challenge, resource="https://other.example/mcp"))
    assert _error_of(resp) == "invalid_target"
    code = await raw.code(client_id, challenge)
    status, body = await raw.exchange(client_id, code, verifier, resource="https://other.example/mcp")
    assert (status, body["error"]) == (400, "invalid_target")


async def test_code_bound_to_client_and_redirect_uri(raw: RawClient) -> None:
    client_id, other = await raw.public_client(), await raw.public_client()
    verifier, challenge = pkce_pair()
    status, body = await raw.exchange(other, await raw.code(client_id, challenge), verifier)
    assert (status, body["error"]) == (400, "invalid_grant")
    status, body = await raw.exchange(
        client_id, await raw.code(client_id, challenge), verifier, redirect_uri="http://127.0.0.1:9/other"
    )
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_client_secret_brute_force_answered_the_same_way(raw: RawClient) -> None:
    status, body = await raw.register(token_endpoint_auth_method="client_secret_basic")
    assert status == 201
    client_id, secret = body["client_id"], body["client_secret"]
    form = {"grant_type": "refresh_token", "refresh_token": "x.y"}

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    answers = set()
    for attempt in (
        basic(client_id, "wrong"),
        basic(client_id, secret[:-1]),
        basic("unknown", secret),
        basic(client_id, ""),
    ):
        status, body = await raw.token(form, attempt)
        answers.add((status, body["error"], body["error_description"]))
    status, body = await raw.token(
        {**form, "client_id": client_id}
    )  # no secret: method "none" is not its method
    answers.add((status, body["error"], body["error_description"]))
    assert answers == {(401, "invalid_client", "client authentication failed")}
    status, body = await raw.token(form, basic(client_id, secret))
    assert (status, body["error"]) == (400, "invalid_grant")  # authenticated; only the token is wrong


async def test_revocation_ends_the_session(raw: RawClient) -> None:
    client_id, tokens = await raw.sign_in()
    assert await raw.revoke(client_id, tokens["refresh_token"]) == 200
    assert await raw.call_mcp(tokens["access_token"]) == 401
    status, body = await raw.refresh(client_id, tokens["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_forged_and_unknown_codes_rejected(raw: RawClient) -> None:
    client_id = await raw.public_client()
    verifier, _challenge = pkce_pair()
    for code in ("", "forged", "abc.def", "x" * 500):
        status, body = await raw.exchange(client_id, code, verifier)
        assert (status, body["error"]) == (400, "invalid_grant")


async def test_codes_tokens_and_passwords_never_logged(mcp_server: str) -> None:
    """Every log event of a whole login, exchange, refresh and revocation, checked for secrets."""
    settings = mode_b_settings(mcp_server)
    assert settings.server.public_url is not None
    with structlog.testing.capture_logs() as events:
        async with (
            RunningSidecar(settings),
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
        ):
            raw = RawClient(http, settings.server.public_url)
            _status, registered = await raw.register(token_endpoint_auth_method="client_secret_post")
            client_id, secret = registered["client_id"], registered["client_secret"]
            verifier, challenge = pkce_pair()
            code = await raw.code(client_id, challenge)
            _status, tokens = await raw.exchange(client_id, code, verifier, client_secret=secret)
            _status, refreshed = await raw.refresh(client_id, tokens["refresh_token"], client_secret=secret)
            assert await raw.call_mcp(refreshed["access_token"]) == 200  # the whole flow did happen
            await raw.revoke(client_id, refreshed["refresh_token"], client_secret=secret)
    logged = repr(events)
    assert any(event["event"] == "client_registered" for event in events)
    for value in (
        code,
        secret,
        verifier,
        challenge,
        tokens["access_token"],
        tokens["refresh_token"],
        refreshed["refresh_token"],
        refreshed["access_token"],
        "wonderland",
    ):
        assert value not in logged


async def test_registration_flood_never_evicts_clients_in_use(mcp_server: str) -> None:
    """A flood of registrations only pushes out idle clients, never one with a live session."""
    async with running(mode_b_settings(mcp_server, max_clients=2)) as raw:
        client_id, tokens = await raw.sign_in()
        for _ in range(10):
            assert (await raw.register())[0] == 201
        status, body = await raw.refresh(client_id, tokens["refresh_token"])
        assert status == 200, body


async def test_token_exchange_without_redirect_uri_is_accepted(raw: RawClient) -> None:
    """OAuth 2.1 §4.1.3: PKCE binds the code; redirect_uri at the token endpoint is optional."""
    client_id = await raw.public_client()
    verifier, challenge = pkce_pair()
    code = await raw.code(client_id, challenge)
    status, body = await raw.token(
        {"grant_type": "authorization_code", "client_id": client_id, "code": code, "code_verifier": verifier}
    )
    assert status == 200, body


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("/oauth/token", b"grant_type=\xff", "application/x-www-form-urlencoded"),
        ("/oauth/revoke", b"token=\xfe\xff", "application/x-www-form-urlencoded"),
        ("/oauth/token", b"grant_type=x", "application/x-www-form-urlencoded; charset=bogus"),
        ("/oauth/register", b"[" * 10000, "application/json"),
        ("/oauth/token", b"a=1&" * 5000, "application/x-www-form-urlencoded"),
    ],
)
async def test_hostile_bodies_get_4xx_not_500(
    raw: RawClient, path: str, body: bytes, content_type: str
) -> None:
    async with raw.http.post(f"{raw.base}{path}", data=body, headers={"Content-Type": content_type}) as resp:
        assert 400 <= resp.status < 500, resp.status


@pytest.mark.parametrize(
    ("path", "form"),
    [
        (
            "/oauth/token",
            {"grant_type": "authorization_code", "code": "abc.\u00e9", "code_verifier": "v" * 43},
        ),
        ("/oauth/token", {"grant_type": "refresh_token", "refresh_token": "abc.\u00e9"}),
        ("/oauth/revoke", {"token": "abc.\u00e9"}),
    ],
)
async def test_non_ascii_tokens_get_4xx_not_500(raw: RawClient, path: str, form: dict[str, str]) -> None:
    """A MAC compared with a non-ASCII value is a refusal, never a TypeError (a 500)."""
    client_id = await raw.public_client()
    async with raw.http.post(f"{raw.base}{path}", data={**form, "client_id": client_id}) as resp:
        assert resp.status < 500, resp.status


async def test_non_ascii_known_user_cookie_and_csrf_get_no_500(raw: RawClient) -> None:
    """A cookie another subdomain planted, or a forged CSRF field, cannot break authorization."""
    client_id = await raw.public_client()
    url = raw.authorize_url(client_id, pkce_pair()[1])
    async with raw.http.get(
        url, allow_redirects=False, headers={"Cookie": "mcp_sidecar_user=u.\u00e9"}
    ) as resp:
        assert resp.status == 302
        request_id = parse_qs(urlsplit(resp.headers["Location"]).query)["request"][0]
    form = {"request": request_id, "csrf": "\u00e9", "decision": "allow"}
    async with raw.http.post(f"{raw.base}/oauth/consent", data=form, allow_redirects=False) as resp:
        assert resp.status == 403
