# SPDX-License-Identifier: Apache-2.0
"""Mode A stays untouched, Mode B fails closed, its discovery documents, in-process validation
(seed 001) and key rotation."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sidecar.app import create_app
from sidecar.authserver.keys import public_jwk, thumbprint
from sidecar.config import ConfigError, load_config_data
from sidecar.config.keyfiles import signing_key_from_pem
from tests.authserver.flow import PASSWORD_HASH, RawClient, mode_b_raw, mode_b_settings, pkce_pair
from tests.support import RunningSidecar, free_port, run_cli, settings_for

AS_PATHS = [
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
    "/.well-known/jwks.json",
    "/oauth/authorize",
    "/oauth/token",
    "/oauth/register",
    "/oauth/revoke",
    "/oauth/login",
    "/oauth/consent",
    "/oauth/callback",
    "/oauth/userinfo",
]


async def test_mode_a_has_no_authorization_server_routes(mcp_server: str) -> None:
    settings = settings_for([{"name": "demo", "url": f"{mcp_server}/mcp", "path": "/mcp"}])
    async with RunningSidecar(settings) as sidecar, aiohttp.ClientSession() as http:
        for path in AS_PATHS:
            for method in ("GET", "POST"):
                async with http.request(method, f"{sidecar.url}{path}") as resp:
                    assert resp.status == 404, (method, path)
                    assert (await resp.json())["error"] == "not_found"


async def test_discovery_documents(mcp_server: str) -> None:
    settings = mode_b_settings(mcp_server)
    base = settings.server.public_url
    async with RunningSidecar(settings), aiohttp.ClientSession() as http:
        documents = []
        for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
            async with http.get(f"{base}{path}") as resp:
                assert resp.headers["Access-Control-Allow-Origin"] == "*"
                documents.append(await resp.json())
        async with http.get(f"{base}/.well-known/oauth-protected-resource/mcp") as resp:
            prm = await resp.json()
        async with http.get(f"{base}/.well-known/jwks.json") as resp:
            jwks = await resp.json()
    assert documents[0] == documents[1]
    document = documents[0]
    # Byte-identical issuer everywhere a client compares it (MCP checklist §2.1).
    assert document["issuer"] == base == prm["authorization_servers"][0]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["authorization_response_iss_parameter_supported"] is True
    assert document["response_types_supported"] == ["code"]
    assert set(document["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    assert document["registration_endpoint"] == f"{base}/oauth/register"
    assert document["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert document["jwks_uri"] == f"{base}/.well-known/jwks.json"
    [key] = jwks["keys"]
    assert key["kid"] == thumbprint(key)
    assert "d" not in key


def _write_key(path: Path, key: Any) -> str:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(path)


WEAK_RSA = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the attack


def _kid_of(path: str) -> str:
    return thumbprint(public_jwk(signing_key_from_pem(Path(path).read_bytes(), path)))


def _broken(tmp_path: Path, case: str) -> dict[str, Any]:
    raw = mode_b_raw()
    weak = tmp_path / "weak.pem"
    short = tmp_path / "short"
    short.write_text("too-short")
    guessable = tmp_path / "guessable"
    guessable.write_text("password" * 8)
    backend = raw["backends"][0]
    exchange = {"type": "token_exchange", "token_url": "https://sts.example.com/token", "client_id": "mcp"}
    second = {**raw["auth_server"]["upstreams"][0], "name": "second"}
    patches: dict[str, Any] = {
        "v01_upstream_inject_needs_auth_server": {
            "auth_server": None,
            "backends": [{**backend, "outgoing_auth": {"type": "upstream_inject", "provider_name": "local"}}],
        },
        "v02_unknown_provider": {
            "backends": [{**backend, "outgoing_auth": {"type": "upstream_inject", "provider_name": "github"}}]
        },
        "v02_static_provider": {
            "backends": [{**backend, "outgoing_auth": {"type": "upstream_inject", "provider_name": "local"}}]
        },
        "v03_token_exchange_without_secret": {"backends": [{**backend, "outgoing_auth": exchange}]},
        "v03_token_exchange_ambiguous_subject": {
            "auth_server": {**raw["auth_server"], "upstreams": [*raw["auth_server"]["upstreams"], second]},
            "backends": [{**backend, "outgoing_auth": {**exchange, "client_secret_env": "HOME"}}],
        },
        "v04_issuer_mismatch": {
            "incoming_auth": {"type": "oidc", "oidc": {"issuer": "https://mcp.example.com/"}}
        },
        "v05_no_upstream": {"auth_server": {**raw["auth_server"], "upstreams": []}},
        "v05_no_audience": {"auth_server": {**raw["auth_server"], "allowed_audiences": []}},
        "v05_http_issuer": {"auth_server": {**raw["auth_server"], "issuer": "http://mcp.example.com"}},
        "v05_unreadable_key": {
            "auth_server": {
                **raw["auth_server"],
                "signing_key_config": {"signing_key_file": str(tmp_path / "missing.pem")},
            }
        },
        "v05_rsa_1024": {
            "auth_server": {
                **raw["auth_server"],
                "signing_key_config": {"signing_key_file": _write_key(weak, WEAK_RSA)},
            }
        },
        "v05_short_hmac": {"auth_server": {**raw["auth_server"], "hmac_secret_files": [str(short)]}},
        "v05_guessable_hmac": {"auth_server": {**raw["auth_server"], "hmac_secret_files": [str(guessable)]}},
        "v05_lifespan": {
            "auth_server": {**raw["auth_server"], "token_lifespans": {"access_token_lifespan": "30d"}}
        },
        "v06_duplicate_upstream": {
            "auth_server": {**raw["auth_server"], "upstreams": raw["auth_server"]["upstreams"] * 2}
        },
        "v07_audience": {
            "incoming_auth": {
                "type": "oidc",
                "oidc": {"issuer": "https://mcp.example.com", "audience": "https://other.example/mcp"},
            }
        },
        "needs_oidc": {"incoming_auth": {"type": "anonymous"}},
        "validator_refuses_signing_alg": {
            "incoming_auth": {
                "type": "oidc",
                "oidc": {"issuer": "https://mcp.example.com", "allowed_algorithms": ["RS256"]},
            }
        },
        "validator_lifetime_too_short": {
            "incoming_auth": {
                "type": "oidc",
                "oidc": {"issuer": "https://mcp.example.com", "max_token_lifetime": "10m"},
            }
        },
    }
    return {**raw, **patches[case]}


EXPECTED = {
    "v01_upstream_inject_needs_auth_server": "backends[0].outgoing_auth.type",
    "v02_unknown_provider": "backends[0].outgoing_auth.provider_name",
    "v02_static_provider": "backends[0].outgoing_auth.provider_name",
    "v03_token_exchange_without_secret": "backends[0].outgoing_auth.client_secret_file",
    "v03_token_exchange_ambiguous_subject": "backends[0].outgoing_auth.subject_provider",
    "v04_issuer_mismatch": "auth_server.issuer",
    "v05_no_upstream": "auth_server.upstreams",
    "v05_no_audience": "auth_server.allowed_audiences",
    "v05_http_issuer": "auth_server.issuer",
    "v05_unreadable_key": "auth_server.signing_key_config.signing_key_file",
    "v05_rsa_1024": "auth_server.signing_key_config.signing_key_file",
    "v05_short_hmac": "auth_server.hmac_secret_files[0]",
    "v05_guessable_hmac": "auth_server.hmac_secret_files[0]",
    "v05_lifespan": "auth_server.token_lifespans.access_token_lifespan",
    "v06_duplicate_upstream": "auth_server.upstreams",
    "v07_audience": "incoming_auth.oidc.audience",
    "needs_oidc": "incoming_auth.type",
    "validator_refuses_signing_alg": "incoming_auth.oidc.allowed_algorithms",
    "validator_lifetime_too_short": "incoming_auth.oidc.max_token_lifetime",
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_broken_auth_server_config_fails_closed(tmp_path: Path, case: str) -> None:
    """Every broken Mode B config stops `serve` (and `check-config`) with the key path named."""
    raw = _broken(tmp_path, case)
    with pytest.raises(ConfigError) as info:
        load_config_data(raw)
    assert any(issue.path.startswith(EXPECTED[case]) for issue in info.value.issues), info.value
    config = tmp_path / "sidecar.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = run_cli("serve", "--config", str(config))
    assert result.returncode != 0
    assert EXPECTED[case] in result.stderr


def test_valid_mode_b_config_passes_check_config(tmp_path: Path) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text(yaml.safe_dump(mode_b_raw()))
    result = run_cli("check-config", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "mode B" in result.stdout


async def test_tokens_validate_in_process_with_an_unroutable_issuer(mcp_server: str) -> None:
    """Seed 001: the issuer's public name does not resolve here; the sidecar's own tokens still
    validate, with no DNS lookup or HTTP request for their keys."""
    port = free_port()
    public = "https://mcp.sidecar-test.invalid"
    raw = mode_b_raw(public)
    raw["server"] = {"host": "127.0.0.1", "port": port, "public_url": public}
    raw["backends"][0]["url"] = f"{mcp_server}/mcp"
    settings = load_config_data(raw)
    app = create_app(settings)
    # The issuer is https, so the login cookie is Secure; the test talks http to the pod itself.
    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[f"http://127.0.0.1:{port}"])
    async with RunningSidecar(settings, app), aiohttp.ClientSession(cookie_jar=jar) as http:
        client = RawClient(http, f"http://127.0.0.1:{port}")
        client_id = await client.public_client()
        verifier, challenge = pkce_pair()
        code = await client.code(client_id, challenge, resource=f"{public}/mcp", expected_issuer=public)
        status, tokens = await client.exchange(client_id, code, verifier)
        assert status == 200
        assert await client.call_mcp(tokens["access_token"]) == 200
        async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            metrics = await resp.text()
    assert "mcp_sidecar_jwks_fetches_total{" not in metrics  # no fetch, not even a failed one
    assert 'mcp_sidecar_token_validations_total{result="ok",source="local"} 1.0' in metrics


async def test_key_rotation_fallback_keys_still_validate(tmp_path: Path, mcp_server: str) -> None:
    """Rotate: the old key becomes a fallback; tokens it signed still validate and the JWKS
    lists both keys."""
    old_key = _write_key(tmp_path / "old.pem", ec.generate_private_key(ec.SECP256R1()))
    new_key = _write_key(tmp_path / "new.pem", ec.generate_private_key(ec.SECP256R1()))
    hmac_file = tmp_path / "hmac"
    hmac_file.write_text(secrets.token_urlsafe(48))
    before = mode_b_settings(
        mcp_server, signing_key_config={"signing_key_file": old_key}, hmac_secret_files=[str(hmac_file)]
    )
    base = before.server.public_url
    assert base is not None
    async with (
        RunningSidecar(before),
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        client = RawClient(http, base)
        client_id = await client.public_client()
        verifier, challenge = pkce_pair()
        _status, tokens = await client.exchange(client_id, await client.code(client_id, challenge), verifier)
    rotated_raw: dict[str, Any] = json.loads(
        json.dumps(
            {
                "server": {
                    "host": "127.0.0.1",
                    "port": before.server.port,
                    "public_url": base,
                    "drain_timeout": "1s",
                },
                "backends": [{"name": "demo", "url": f"{mcp_server}/mcp", "path": "/mcp"}],
                "incoming_auth": {"type": "oidc", "oidc": {"issuer": base}},
                "auth_server": {
                    "issuer": base,
                    "allowed_audiences": [f"{base}/mcp"],
                    "signing_key_config": {"signing_key_file": new_key, "fallback_key_files": [old_key]},
                    "hmac_secret_files": [str(hmac_file)],
                    "upstreams": [
                        {
                            "name": "local",
                            "type": "static",
                            "static_config": {
                                "users": [{"username": "alice", "password_hash": PASSWORD_HASH}]
                            },
                        }
                    ],
                },
            }
        )
    )
    async with RunningSidecar(load_config_data(rotated_raw)), aiohttp.ClientSession() as http:
        client = RawClient(http, base)
        assert await client.call_mcp(tokens["access_token"]) == 200
        async with http.get(f"{base}/.well-known/jwks.json") as resp:
            kids = [key["kid"] for key in (await resp.json())["keys"]]
    assert kids == [_kid_of(new_key), _kid_of(old_key)]
