# SPDX-License-Identifier: Apache-2.0
"""The sidecar as an OAuth resource server, against a real IdP process and real backends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
import pytest
from aiohttp.test_utils import TestServer
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from multidict import CIMultiDict
from yarl import URL

from sidecar.app import create_app
from sidecar.authn.keys import StaticKeyProvider
from tests.authn.idp import Idp
from tests.authn.tokens import EC_KEY, json_text, sign, verification_key
from tests.servers.echo import headers_of
from tests.support import RunningSidecar, metric_samples, readyz, settings_for, wait_for, wait_until_ready

PUBLIC = "https://mcp.example.com"
RESOURCE = f"{PUBLIC}/b"
PRM_URL = f"{PUBLIC}/.well-known/oauth-protected-resource/b"


def _oidc(issuer: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "oidc",
        "oidc": {"issuer": issuer, "insecure_allow_http": True, "allow_private_ip": True, **extra},
    }


def _backend(echo: TestServer, **extra: Any) -> dict[str, Any]:
    return {"name": "echo", "url": f"http://127.0.0.1:{echo.port}/", "path": "/b", **extra}


@pytest.fixture
async def sidecar(idp: Idp, echo_server: TestServer) -> AsyncIterator[RunningSidecar]:
    settings = settings_for(
        [_backend(echo_server, required_scopes=["mcp:tools"])],
        incoming_auth=_oidc(
            idp.issuer,
            required_scopes=["mcp:read"],
            identity_headers=[{"header": "X-MCP-Subject", "claim": "sub"}],
        ),
        public_url=PUBLIC,
    )
    async with RunningSidecar(settings) as running:
        yield running


async def _token(idp: Idp, **claims: Any) -> str:
    return await idp.token({"aud": RESOURCE, "sub": "alice", "scope": "mcp:read mcp:tools", **claims})


async def test_real_idp_token_accepted_and_never_forwarded(
    sidecar: RunningSidecar, idp: Idp, http: aiohttp.ClientSession
) -> None:
    token = await _token(idp)
    async with http.post(
        f"{sidecar.url}/b/mcp",
        data=b"{}",
        headers={"Authorization": f"Bearer {token}", "X-MCP-Subject": "mallory"},
    ) as resp:
        assert resp.status == 200
        echoed = await resp.json()
    headers = headers_of(echoed)
    assert "authorization" not in headers
    assert token not in str(echoed)
    assert headers["x-mcp-subject"] == "alice"  # the client's copy was dropped first


async def test_no_token_gets_a_bare_challenge(sidecar: RunningSidecar, http: aiohttp.ClientSession) -> None:
    """RFC 6750 §3.1 and MCP: 401 with resource_metadata and scope, and no error code."""
    async with http.post(f"{sidecar.url}/b/mcp", data=b"{}") as resp:
        assert resp.status == 401
        challenge = resp.headers["WWW-Authenticate"]
        body = await resp.json()
    assert challenge == f'Bearer resource_metadata="{PRM_URL}", scope="mcp:read mcp:tools"'
    assert body["error"] == "unauthorized"


@pytest.mark.parametrize("case", ["expired", "wrong_audience", "garbage", "wrong_issuer"])
async def test_bad_tokens_get_invalid_token(
    sidecar: RunningSidecar, idp: Idp, http: aiohttp.ClientSession, case: str
) -> None:
    token = {
        "expired": lambda: idp.token({"aud": RESOURCE, "scope": "mcp:read mcp:tools"}, expires_in=-120),
        "wrong_audience": lambda: idp.token({"aud": f"{PUBLIC}/other", "scope": "mcp:read mcp:tools"}),
        "wrong_issuer": lambda: idp.token({"aud": RESOURCE, "iss": "http://evil.example"}),
        "garbage": None,
    }[case]
    value = "not.a.jwt" if token is None else await token()
    async with http.post(
        f"{sidecar.url}/b/mcp", data=b"{}", headers={"Authorization": f"Bearer {value}"}
    ) as resp:
        assert resp.status == 401
        challenge = resp.headers["WWW-Authenticate"]
    assert 'error="invalid_token"' in challenge
    assert f'resource_metadata="{PRM_URL}"' in challenge


@pytest.mark.parametrize("name", ["access_token", "access%5Ftoken"])
async def test_token_in_query_string_is_refused(
    sidecar: RunningSidecar, idp: Idp, http: aiohttp.ClientSession, name: str
) -> None:
    token = await _token(idp)
    async with http.post(URL(f"{sidecar.url}/b/mcp?{name}={token}", encoded=True), data=b"{}") as resp:
        assert resp.status == 400
        assert 'error="invalid_request"' in resp.headers["WWW-Authenticate"]


async def test_two_authorization_headers_are_refused(
    sidecar: RunningSidecar, idp: Idp, http: aiohttp.ClientSession
) -> None:
    """Good token + bad token confusion: never pick one of two."""
    token = await _token(idp)
    headers = CIMultiDict([("Authorization", f"Bearer {token}"), ("Authorization", "Bearer forged")])
    async with http.post(f"{sidecar.url}/b/mcp", data=b"{}", headers=headers) as resp:
        assert resp.status == 400


async def test_missing_scope_is_403_naming_every_needed_scope(
    sidecar: RunningSidecar, idp: Idp, http: aiohttp.ClientSession
) -> None:
    token = await _token(idp, scope="mcp:read")
    async with http.post(
        f"{sidecar.url}/b/mcp", data=b"{}", headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        assert resp.status == 403
        challenge = resp.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="mcp:read mcp:tools"' in challenge


async def test_protected_resource_metadata(
    sidecar: RunningSidecar, idp: Idp, http: aiohttp.ClientSession
) -> None:
    for path in ("/.well-known/oauth-protected-resource/b", "/.well-known/oauth-protected-resource"):
        async with http.get(f"{sidecar.url}{path}", headers={"Origin": "https://app.example"}) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
            document = await resp.json()
        assert document == {
            "resource": RESOURCE,
            "authorization_servers": [idp.issuer],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["mcp:read", "mcp:tools"],
        }
    async with http.options(
        f"{sidecar.url}/.well-known/oauth-protected-resource/b",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
    ) as resp:
        assert resp.status == 204
    async with http.get(f"{sidecar.url}/.well-known/oauth-protected-resource/nope") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"] == "not_found"


async def test_key_rotation_accepted_after_exactly_one_refetch(
    sidecar: RunningSidecar, idp: Idp, http: aiohttp.ClientSession
) -> None:
    async def call(token: str) -> int:
        async with http.post(
            f"{sidecar.url}/b/mcp", data=b"{}", headers={"Authorization": f"Bearer {token}"}
        ) as r:
            return r.status

    assert await call(await _token(idp)) == 200
    before = await idp.jwks_requests()
    new_kid = await idp.rotate()
    assert await call(await idp.token({"aud": RESOURCE, "scope": "mcp:read mcp:tools"}, kid=new_kid)) == 200
    assert await idp.jwks_requests() == before + 1


async def test_random_kid_flood_causes_at_most_one_fetch(
    sidecar: RunningSidecar, idp: Idp, http: aiohttp.ClientSession
) -> None:
    """N random kids within the cooldown: one JWKS fetch, all rejected with 401."""
    async with http.post(
        f"{sidecar.url}/b/mcp", data=b"{}", headers={"Authorization": f"Bearer {await _token(idp)}"}
    ) as resp:
        assert resp.status == 200
    before = await idp.jwks_requests()
    now = int(time.time())
    forged = [
        sign(
            {"iss": idp.issuer, "aud": RESOURCE, "exp": now + 60, "iat": now},
            EC_KEY,
            "ES256",
            kid=f"random-{i}",
        )
        for i in range(40)
    ]

    async def call(token: str) -> int:
        async with http.post(
            f"{sidecar.url}/b/mcp", data=b"{}", headers={"Authorization": f"Bearer {token}"}
        ) as r:
            return r.status

    statuses = await asyncio.gather(*(call(token) for token in forged))
    assert set(statuses) == {401}
    assert await idp.jwks_requests() - before <= 1


async def test_idp_outage_keeps_known_keys_and_503s_unknown_kids(
    sidecar: RunningSidecar, idp: Idp, http: aiohttp.ClientSession
) -> None:
    known = await _token(idp)
    async with http.post(
        f"{sidecar.url}/b/mcp", data=b"{}", headers={"Authorization": f"Bearer {known}"}
    ) as resp:
        assert resp.status == 200
    fresh = await _token(idp, sub="bob")  # same key, a token the cache has not seen
    new_kid = await idp.rotate()
    unknown = await idp.token({"aud": RESOURCE, "scope": "mcp:read mcp:tools"}, kid=new_kid)
    await idp.set_down(True)
    async with http.post(
        f"{sidecar.url}/b/mcp", data=b"{}", headers={"Authorization": f"Bearer {fresh}"}
    ) as resp:
        assert resp.status == 200
    async with http.post(
        f"{sidecar.url}/b/mcp", data=b"{}", headers={"Authorization": f"Bearer {unknown}"}
    ) as resp:
        assert resp.status == 503
        assert int(resp.headers["Retry-After"]) > 0
        assert (await resp.json())["error"] == "temporarily_unavailable"


async def test_readiness_waits_for_keys(
    idp: Idp, echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    await idp.set_down(True)
    settings = settings_for([_backend(echo_server)], incoming_auth=_oidc(idp.issuer), public_url=PUBLIC)
    async with RunningSidecar(settings) as sidecar:

        async def a_fetch_failed() -> bool:
            samples = await metric_samples(http, sidecar.url)
            return samples.get(("mcp_sidecar_jwks_fetches_total", (("result", "error"),)), 0) >= 1

        await wait_for(a_fetch_failed, what="a failed JWKS fetch")
        status, reasons = await readyz(http, sidecar.url)
        assert status == 503
        assert "keys: no usable signing keys yet" in reasons
        await idp.set_down(False)
        await wait_until_ready(http, sidecar.url)


async def test_local_key_tier_needs_no_http_at_all(
    echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    """In-process keys (the embedded AS's): tokens validate with zero fetches, even though the
    issuer's public URL does not resolve from here (ToolHive #4747)."""
    issuer = "https://issuer.invalid"
    settings = settings_for(
        [_backend(echo_server)], incoming_auth={"type": "oidc", "oidc": {"issuer": issuer}}, public_url=PUBLIC
    )
    app = create_app(settings, key_provider=StaticKeyProvider([verification_key(EC_KEY, "as-key-1")]))
    now = int(time.time())
    token = sign(
        {"iss": issuer, "aud": RESOURCE, "sub": "carol", "exp": now + 60, "iat": now},
        EC_KEY,
        "ES256",
        kid="as-key-1",
    )
    async with RunningSidecar(settings, app) as sidecar:
        for _ in range(2):
            async with http.post(
                f"{sidecar.url}/b/mcp", data=b"{}", headers={"Authorization": f"Bearer {token}"}
            ) as r:
                assert r.status == 200
        async with http.get(f"{sidecar.url}/readyz") as resp:
            assert resp.status == 200
        metrics = await metric_samples(http, sidecar.url)
    assert not any(name == "mcp_sidecar_jwks_fetches_total" for name, _labels in metrics)
    assert metrics[("mcp_sidecar_token_validations_total", (("result", "ok"), ("source", "local")))] == 1
    assert metrics[("mcp_sidecar_token_validations_total", (("result", "ok"), ("source", "cache")))] == 1


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("literal", [str(10**400), str(-(10**400)), "1e400", "-1e400"])
async def test_signed_token_with_out_of_range_exp_is_401_not_500(
    echo_server: TestServer, http: aiohttp.ClientSession, claim: str, literal: str
) -> None:
    """A validly signed date claim that is no finite number is a 401 invalid_token counted as
    malformed, never a 500 counted as ok."""
    issuer = "https://issuer.invalid"
    settings = settings_for(
        [_backend(echo_server)], incoming_auth={"type": "oidc", "oidc": {"issuer": issuer}}, public_url=PUBLIC
    )
    app = create_app(settings, key_provider=StaticKeyProvider([verification_key(EC_KEY, "as-key-1")]))
    now = int(time.time())
    claims = {"iss": issuer, "aud": RESOURCE, "sub": "carol", "exp": now + 60, "iat": now}
    token = sign(json_text(claims, **{claim: literal}), EC_KEY, "ES256", kid="as-key-1")
    async with RunningSidecar(settings, app) as sidecar:
        async with http.post(
            f"{sidecar.url}/b/mcp", data=b"{}", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            assert resp.status == 401
            assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
        metrics = await metric_samples(http, sidecar.url)
    validations = {
        labels: n for (name, labels), n in metrics.items() if name == "mcp_sidecar_token_validations_total"
    }
    assert validations == {(("result", "malformed"), ("source", "none")): 1}


async def test_validation_metrics_by_result_and_source(
    sidecar: RunningSidecar, idp: Idp, http: aiohttp.ClientSession
) -> None:
    token = await _token(idp)
    for headers in ({"Authorization": f"Bearer {token}"}, {"Authorization": f"Bearer {token}"}, {}):
        async with http.post(f"{sidecar.url}/b/mcp", data=b"{}", headers=headers):
            pass
    metrics = await metric_samples(http, sidecar.url)
    assert metrics[("mcp_sidecar_token_validations_total", (("result", "ok"), ("source", "jwks")))] == 1
    assert metrics[("mcp_sidecar_token_validations_total", (("result", "ok"), ("source", "cache")))] == 1
    assert metrics[("mcp_sidecar_token_validations_total", (("result", "missing"), ("source", "none")))] == 1
    assert metrics[("mcp_sidecar_jwks_fetches_total", (("result", "ok"),))] >= 1
    assert metrics[("mcp_sidecar_jwks_keys", ())] == 1


async def test_mcp_sdk_client_with_a_real_token(idp: Idp, mcp_server: str) -> None:
    """The official client, carrying an IdP token, through the sidecar to a real MCP server."""
    settings = settings_for(
        [{"name": "demo", "url": f"{mcp_server}/mcp", "path": "/mcp"}],
        incoming_auth=_oidc(idp.issuer),
        public_url=PUBLIC,
    )
    token = await idp.token({"aud": f"{PUBLIC}/mcp", "sub": "dave"})
    async with RunningSidecar(settings) as sidecar:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http_client:
            transport = streamable_http_client(f"{sidecar.url}/mcp", http_client=http_client)
            async with Client(transport, mode="legacy") as client:
                result = await client.call_tool("add", {"a": 1, "b": 2})
        assert result.structured_content == {"result": 3}
        async with httpx2.AsyncClient() as anonymous:
            response = await anonymous.post(
                f"{sidecar.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}
            )
        assert response.status_code == 401


async def test_opaque_tokens_are_introspected_and_cached(
    idp: Idp, echo_server: TestServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """RFC 7662 against the IdP's real introspection endpoint, with client authentication by the
    secret the loader read (its file is gone before the sidecar starts)."""
    secret = tmp_path / "introspection-secret"
    secret.write_text("introspection-secret\n")
    settings = settings_for(
        [_backend(echo_server)],
        incoming_auth=_oidc(
            idp.issuer,
            introspection_url=f"{idp.issuer}/introspect",
            client_id="sidecar",
            client_secret_file=str(secret),
        ),
        public_url=PUBLIC,
    )
    secret.unlink()
    now = int(time.time())
    good = await idp.opaque_token({"aud": RESOURCE, "sub": "erin", "exp": now + 60, "scope": "mcp:read"})
    wrong_aud = await idp.opaque_token({"aud": f"{PUBLIC}/elsewhere", "exp": now + 60})
    async with RunningSidecar(settings) as sidecar:
        statuses = []
        for token in (good, good, wrong_aud, "opaque-unknown"):
            async with http.post(
                f"{sidecar.url}/b/mcp", data=b"{}", headers={"Authorization": f"Bearer {token}"}
            ) as r:
                statuses.append(r.status)
        metrics = await metric_samples(http, sidecar.url)
    assert statuses == [200, 200, 401, 401]
    assert (
        metrics[("mcp_sidecar_token_validations_total", (("result", "ok"), ("source", "introspection")))] == 1
    )
    assert metrics[("mcp_sidecar_token_validations_total", (("result", "ok"), ("source", "cache")))] == 1
    assert metrics[("mcp_sidecar_token_validations_total", (("result", "inactive"), ("source", "none")))] == 1


async def test_unauthenticated_client_is_never_asked_for_its_body(sidecar: RunningSidecar) -> None:
    """RFC 9110 §10.1.1: no 100 Continue before authentication; the answer is the 401."""
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.sidecar.ports[0])
    writer.write(b"POST /b/mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status.startswith(b"HTTP/1.1 401"), status
