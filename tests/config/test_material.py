# SPDX-License-Identifier: Apache-2.0
"""Secrets and key files: read once, at load, relative to the config file's folder, and judged
for exposure (file modes) and strength (HMAC secrets)."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
import yaml

from sidecar.authserver.keys import public_jwk, thumbprint
from sidecar.authserver.server import AuthServerError, plan_auth_server
from sidecar.cli import keygen
from sidecar.config import ConfigError, load_config_data
from sidecar.config.keyfiles import signing_key_from_pem
from sidecar.config.secrets import Secrets
from sidecar.observability.metrics import Metrics
from tests.authserver.flow import RawClient, mode_b_raw, mode_b_settings, pkce_pair
from tests.support import RunningSidecar, run_cli


def _keygen(path: Path, *, hmac_secret: bool = False) -> str:
    """A key (or HMAC secret) file as an operator makes it: `mcp-sidecar keygen`, mode 0600."""
    assert keygen(str(path), "ec", hmac_secret=hmac_secret) == 0
    return str(path)


def _secret_file(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


def _delete(*names: str) -> None:
    for name in names:
        Path(name).unlink()


def _kid(path: str) -> str:
    return thumbprint(public_jwk(signing_key_from_pem(Path(path).read_bytes(), path)))


def _oauth2_upstream(**config: Any) -> dict[str, Any]:
    return {
        "name": "plain",
        "type": "oauth2",
        "oauth2_config": {
            "authorization_endpoint": "https://idp.example.com/authorize",
            "token_endpoint": "https://idp.example.com/token",
            "userinfo_endpoint": "https://idp.example.com/userinfo",
            "client_id": "mcp-sidecar",
            **config,
        },
    }


async def test_key_files_are_read_once_at_load(tmp_path: Path, mcp_server: str) -> None:
    """The signing, fallback and HMAC files are read by the loader only: deleted after load, the
    sidecar still starts, publishes both keys and completes a login (its code carries an HMAC)."""
    current = _keygen(tmp_path / "current.pem")
    fallback = _keygen(tmp_path / "fallback.pem")
    hmac_file = _keygen(tmp_path / "hmac", hmac_secret=True)
    kids = [_kid(current), _kid(fallback)]
    settings = mode_b_settings(
        mcp_server,
        signing_key_config={"signing_key_file": current, "fallback_key_files": [fallback]},
        hmac_secret_files=[hmac_file],
    )
    _delete(current, fallback, hmac_file)
    base = settings.server.public_url
    jar = aiohttp.CookieJar(unsafe=True)
    async with RunningSidecar(settings), aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{base}/.well-known/jwks.json") as resp:
            published = [key["kid"] for key in (await resp.json())["keys"]]
        client = RawClient(http, f"{base}")
        client_id = await client.public_client()
        verifier, challenge = pkce_pair()
        status, tokens = await client.exchange(client_id, await client.code(client_id, challenge), verifier)
    assert published == kids
    assert status == 200
    assert jwt.get_unverified_header(tokens["access_token"])["kid"] == kids[0]


async def test_upstream_client_secret_is_read_once_at_load(tmp_path: Path, mcp_server: str) -> None:
    """The upstream client secret file, deleted after load, is not needed to start the server."""
    secret = _secret_file(tmp_path / "upstream-secret", "upstream-secret\n")
    settings = mode_b_settings(mcp_server, upstream=_oauth2_upstream(client_secret_file=secret))
    _delete(secret)
    base = settings.server.public_url
    async with (
        RunningSidecar(settings),
        aiohttp.ClientSession() as http,
        http.get(f"{base}/.well-known/oauth-authorization-server") as resp,
    ):
        assert resp.status == 200


@pytest.mark.parametrize(
    ("auth_server", "path"),
    [
        ({"signing_key_config": {"signing_key_file": "key.pem"}}, "auth_server.signing_key_config"),
        ({"hmac_secret_files": ["hmac"]}, "auth_server.hmac_secret_files"),
        ({"upstreams": [_oauth2_upstream(client_secret_file="secret")]}, "auth_server.upstreams[0]"),
    ],
)
def test_server_refuses_settings_whose_secrets_were_not_loaded(
    tmp_path: Path, auth_server: dict[str, Any], path: str
) -> None:
    """Fail closed: settings that name key or secret files but carry no loaded values (built
    without the loader) stop the server; never an ephemeral key or no secret in their place."""
    _keygen(tmp_path / "key.pem")
    _keygen(tmp_path / "hmac", hmac_secret=True)
    _secret_file(tmp_path / "secret", "upstream-secret")
    loaded = load_config_data(mode_b_raw(**auth_server), base=tmp_path)
    with pytest.raises(AuthServerError, match=re.escape(path)):
        plan_auth_server(dataclasses.replace(loaded, secrets=Secrets()), Metrics())


def test_loaded_secrets_never_appear_in_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings carry the secret values, but printing or logging the settings never shows them."""
    hmac_file = _keygen(tmp_path / "hmac", hmac_secret=True)
    monkeypatch.setenv("MCP_SIDECAR_TEST_UPSTREAM_SECRET", "upstream-secret-value")
    settings = load_config_data(
        mode_b_raw(
            hmac_secret_files=[hmac_file],
            upstreams=[_oauth2_upstream(client_secret_env="MCP_SIDECAR_TEST_UPSTREAM_SECRET")],
        )
    )
    assert settings.secrets.upstream_secrets == ("upstream-secret-value",)
    hmac_secret = settings.secrets.hmac_secrets[0].decode()
    for text in (repr(settings), repr(settings.secrets)):
        assert "upstream-secret-value" not in text
        assert hmac_secret not in text


def test_relative_file_names_resolve_against_the_config_folder(tmp_path: Path) -> None:
    """`check-config --config ../conf/sidecar.yaml`, run from another folder, finds keys/... next
    to the config file, not in the working directory."""
    folder = tmp_path / "conf"
    (folder / "keys").mkdir(parents=True)
    _keygen(folder / "keys" / "signing.pem")
    _keygen(folder / "keys" / "hmac", hmac_secret=True)
    _secret_file(folder / "keys" / "upstream", "upstream-secret\n")
    raw = mode_b_raw(
        signing_key_config={"signing_key_file": "keys/signing.pem"},
        hmac_secret_files=["keys/hmac"],
        upstreams=[_oauth2_upstream(client_secret_file="keys/upstream")],
    )
    (folder / "sidecar.yaml").write_text(yaml.safe_dump(raw))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli("check-config", "--config", "../conf/sidecar.yaml", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert "mode B" in result.stdout
    assert result.stderr == ""  # no warning either: keygen writes mode 0600


def test_relative_file_names_are_reported_as_resolved(tmp_path: Path) -> None:
    """A missing relative file is named by the path that was tried (under the config's folder)."""
    config = tmp_path / "sidecar.yaml"
    config.write_text(yaml.safe_dump(mode_b_raw(hmac_secret_files=["hmac/absent"])))
    result = run_cli("check-config", "--config", str(config))
    assert result.returncode == 2
    assert (
        f"auth_server.hmac_secret_files[0]: V-05: cannot read HMAC secret file '{tmp_path}/hmac/absent'"
        in (result.stderr)
    )


@pytest.mark.parametrize(
    ("mode", "group", "warned"),
    [
        (0o600, "own", False),
        (0o400, "own", False),
        (0o440, "own", False),  # a Kubernetes Secret volume under the pod's fsGroup
        (0o640, "own", False),
        (0o640, "foreign", True),
        (0o620, "foreign", True),
        (0o604, "own", True),
        (0o644, "own", True),
    ],
)
def test_key_and_secret_files_open_to_others_or_a_foreign_group_warn(
    tmp_path: Path, mode: int, group: str, warned: bool
) -> None:
    """A signing key, HMAC or client secret file that others, or a group this process is not in,
    can access is a warning naming its key path; the configuration is still usable."""
    key = _keygen(tmp_path / "key.pem")
    hmac_file = _keygen(tmp_path / "hmac", hmac_secret=True)
    secret = _secret_file(tmp_path / "secret", "upstream-secret")
    foreign = max({os.getegid(), *os.getgroups()}) + 4242
    for name in (key, hmac_file, secret):
        if group == "foreign":
            if os.geteuid() != 0:
                pytest.skip("giving a file to another group needs root")
            os.chown(name, -1, foreign)
        os.chmod(name, mode)
    settings = load_config_data(
        mode_b_raw(
            signing_key_config={"signing_key_file": key},
            hmac_secret_files=[hmac_file],
            upstreams=[_oauth2_upstream(client_secret_file=secret)],
        )
    )
    expected = {
        "auth_server.signing_key_config.signing_key_file",
        "auth_server.hmac_secret_files[0]",
        "auth_server.upstreams[0].oauth2_config.client_secret_file",
    }
    assert {(w.path, w.severity) for w in settings.warnings} == (
        {(path, "warning") for path in expected} if warned else set()
    )
    assert all(f"mode {mode:04o}" in w.problem for w in settings.warnings)


WEAK_HMAC_SECRETS = {
    "short": "Xq9#Lm2vR8@tW4zK7",
    "one byte value": "a" * 64,
    "two byte values": "01" * 32,
    "few distinct bytes": "password" * 8,
    "repeated 16-byte pattern": "0123456789abcdef" * 4,
    "repeated 14-byte pattern": "correct-horse!" * 4,
}


@pytest.mark.parametrize("case", sorted(WEAK_HMAC_SECRETS))
def test_weak_hmac_secret_is_refused_unless_allowed_for_development(tmp_path: Path, case: str) -> None:
    """V-05: an HMAC secret that is short or easy to guess is an error; with
    insecure_allow_weak_secrets it is used, with a warning on the same key path."""
    secret = WEAK_HMAC_SECRETS[case]
    hmac_file = _secret_file(tmp_path / "hmac", secret)
    with pytest.raises(ConfigError) as info:
        load_config_data(mode_b_raw(hmac_secret_files=[hmac_file]))
    assert [(i.path, i.severity) for i in info.value.issues] == [
        ("auth_server.hmac_secret_files[0]", "error")
    ]
    assert secret not in str(info.value)
    settings = load_config_data(mode_b_raw(hmac_secret_files=[hmac_file], insecure_allow_weak_secrets=True))
    assert settings.secrets.hmac_secrets == (secret.encode(),)
    assert [(w.path, w.severity) for w in settings.warnings] == [
        ("auth_server.hmac_secret_files[0]", "warning")
    ]


@pytest.mark.parametrize(
    "secret",
    [
        "5d41402abc4b2a76b9719d911017c592",  # 32 hex digits, as `openssl rand -hex 16` writes
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",  # `openssl rand -hex 32`
        None,  # `mcp-sidecar keygen --hmac`
    ],
)
def test_random_hmac_secrets_are_accepted_without_warning(tmp_path: Path, secret: str | None) -> None:
    """The strength rule never trips on a random secret as the usual tools write it."""
    path = tmp_path / "hmac"
    hmac_file = _keygen(path, hmac_secret=True) if secret is None else _secret_file(path, secret)
    settings = load_config_data(mode_b_raw(hmac_secret_files=[hmac_file]))
    assert settings.warnings == ()
    assert len(settings.secrets.hmac_secrets) == 1
