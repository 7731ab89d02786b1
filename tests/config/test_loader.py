# SPDX-License-Identifier: Apache-2.0
"""Configuration parsing: good configs load, bad ones name every problem by key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.cli import main
from sidecar.config import ConfigError, load_config_data, load_config_file, load_config_text
from sidecar.config.values import parse_duration, parse_size

GOOD_BACKEND = {"name": "everything", "url": "http://127.0.0.1:3001/mcp", "path": "/mcp"}


def _issues(raw: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_data(raw)
    return [issue.path for issue in info.value.issues]


def test_minimal_config_gets_documented_defaults() -> None:
    settings = load_config_data({"backends": [GOOD_BACKEND]})
    assert settings.server.port == 8080
    assert settings.server.drain_timeout == 20.0
    assert settings.backends[0].sse_read_timeout is None
    assert settings.backends[0].health.path is None
    assert settings.incoming_auth.type == "anonymous"


def test_documented_shorthands_parse() -> None:
    """The shorthands the docs show parse: `health: tcp`, `health: {path: ...}`, outgoing_auth."""
    settings = load_config_data(
        {
            "backends": [
                {**GOOD_BACKEND, "health": "tcp", "outgoing_auth": {"type": "unauthenticated"}},
                {
                    "name": "b",
                    "url": "http://localhost:3002/mcp",
                    "path": "/b",
                    "health": {"path": "/healthz"},
                    "sse_path": "/sse",
                },
            ],
            "server": {"trusted_proxies": ["10.0.0.0/8", "::1"], "allowed_origins": ["https://a.example"]},
        }
    )
    assert settings.backends[0].health.path is None
    assert settings.backends[1].health.path == "/healthz"
    assert str(settings.server.trusted_proxies[1]) == "::1/128"


@pytest.mark.parametrize(
    ("raw", "paths"),
    [
        ({}, ["backends"]),
        ({"backends": [GOOD_BACKEND], "bogus": 1}, ["bogus"]),
        ({"backends": [{**GOOD_BACKEND, "timeout": "1s"}]}, ["backends[0].timeout"]),
        ({"backends": [{"name": "x", "path": "/x"}]}, ["backends[0].url"]),
        ({"backends": [GOOD_BACKEND], "server": {"port": "80"}}, ["server.port"]),
        ({"backends": [GOOD_BACKEND], "server": {"port": True}}, ["server.port"]),
        ({"backends": [GOOD_BACKEND], "server": {"port": 70000}}, ["server.port"]),
        ({"backends": [GOOD_BACKEND], "server": {"drain_timeout": 20}}, ["server.drain_timeout"]),
        ({"backends": [GOOD_BACKEND], "server": {"drain_timeout": "2 weeks"}}, ["server.drain_timeout"]),
        ({"backends": [GOOD_BACKEND], "server": {"max_request_body": "lots"}}, ["server.max_request_body"]),
        (
            {"backends": [GOOD_BACKEND], "server": {"trusted_proxies": ["10.0.0.0/33"]}},
            ["server.trusted_proxies[0]"],
        ),
        (
            {"backends": [GOOD_BACKEND], "server": {"public_url": "https://x.example/base"}},
            ["server.public_url"],
        ),
        ({"backends": [GOOD_BACKEND], "server": {"allowed_origins": ["*"]}}, ["server.allowed_origins[0]"]),
        ({"backends": [GOOD_BACKEND], "server": {"log_level": "loud"}}, ["server.log_level"]),
        ({"backends": [GOOD_BACKEND], "server": {"metrics_port": 8080}}, ["server.metrics_port"]),
        ({"backends": [{**GOOD_BACKEND, "url": "http://10.0.0.5:3001/mcp"}]}, ["backends[0].url"]),
        ({"backends": [{**GOOD_BACKEND, "url": "http://mcp.internal/mcp"}]}, ["backends[0].url"]),
        ({"backends": [{**GOOD_BACKEND, "url": "ftp://127.0.0.1/mcp"}]}, ["backends[0].url"]),
        ({"backends": [{**GOOD_BACKEND, "url": "http://127.0.0.1:99999/mcp"}]}, ["backends[0].url"]),
        ({"backends": [{**GOOD_BACKEND, "url": "http://u:p@127.0.0.1/mcp"}]}, ["backends[0].url"]),
        ({"backends": [{**GOOD_BACKEND, "path": "mcp"}]}, ["backends[0].path"]),
        ({"backends": [{**GOOD_BACKEND, "path": "/a/../b"}]}, ["backends[0].path"]),
        ({"backends": [{**GOOD_BACKEND, "path": "/metrics"}]}, ["backends[0].path"]),
        ({"backends": [{**GOOD_BACKEND, "path": "/.well-known/x"}]}, ["backends[0].path"]),
        ({"backends": [{**GOOD_BACKEND, "name": "Bad Name"}]}, ["backends[0].name"]),
        ({"backends": [{**GOOD_BACKEND, "name": ""}]}, ["backends[0].name"]),
        ({"backends": [GOOD_BACKEND, {**GOOD_BACKEND, "path": "/other"}]}, ["backends[1].name"]),
        ({"backends": [GOOD_BACKEND, {**GOOD_BACKEND, "name": "b"}]}, ["backends[1].path"]),
        (
            {"backends": [GOOD_BACKEND, {**GOOD_BACKEND, "name": "b", "path": "/mcp/sub"}]},
            ["backends[1].path"],
        ),
        ({"backends": [{**GOOD_BACKEND, "sse_path": "/mcp"}]}, ["backends[0].sse_path"]),
        ({"backends": [{**GOOD_BACKEND, "health": {"path": "healthz"}}]}, ["backends[0].health.path"]),
        ({"backends": [{**GOOD_BACKEND, "health": "udp"}]}, ["backends[0].health"]),
        (
            {"backends": [{**GOOD_BACKEND, "outgoing_auth": {"type": "magic"}}]},
            ["backends[0].outgoing_auth.type"],
        ),
        ({"backends": [GOOD_BACKEND], "incoming_auth": {"type": "kerberos"}}, ["incoming_auth.type"]),
        ({"backends": "everything"}, ["backends"]),
        ([1, 2], [""]),
    ],
)
def test_bad_config_names_the_key_path(raw: Any, paths: list[str]) -> None:
    assert _issues(raw) == paths


def test_every_problem_is_reported_at_once() -> None:
    paths = _issues(
        {
            "server": {"port": "x", "idle_timeout": "forever"},
            "backends": [{"name": "a", "url": "nope", "path": "/a", "extra": 1}],
            "mode": "b",
        }
    )
    assert set(paths) == {"server.port", "server.idle_timeout", "backends[0].extra", "mode"}


def test_errors_say_how_to_fix() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_data({"backends": [{**GOOD_BACKEND, "url": "http://10.1.2.3/mcp"}]})
    assert "allow_remote: true" in str(info.value)


def test_remote_backend_allowed_when_opted_in() -> None:
    settings = load_config_data(
        {"backends": [{**GOOD_BACKEND, "url": "https://mcp.internal/mcp", "allow_remote": True}]}
    )
    assert settings.backends[0].allow_remote


def test_invalid_yaml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="line 1"):
        load_config_text("backends: [")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config_file(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("10m", 600), ("1h", 3600), ("7d", 604800), ("1.5s", 1.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "30", "s", "-1s", "1w", "1 h 2m", "PT30S"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"), [(1024, 1024), ("512KiB", 524288), ("4MiB", 4194304), ("1KB", 1000)]
)
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


def test_check_config_cli_lists_problems_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("server: {port: x}\nbackends: [{name: a, url: 'http://10.0.0.1/m', path: /a, y: 1}]\n")
    assert main(["check-config", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "server.port" in err
    assert "backends[0].y" in err
    config.write_text("backends: [{name: a, url: 'http://127.0.0.1:1/m', path: /a}]\n")
    assert main(["check-config", "--config", str(config)]) == 0
    assert "configuration OK" in capsys.readouterr().out


def test_config_path_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "env.yaml"
    config.write_text("backends: [{name: a, url: 'http://127.0.0.1:1/m', path: /a}]\n")
    monkeypatch.setenv("MCP_SIDECAR_CONFIG", str(config))
    assert main(["check-config"]) == 0
    monkeypatch.delenv("MCP_SIDECAR_CONFIG")
    assert main(["check-config"]) == 2
    assert "MCP_SIDECAR_CONFIG" in capsys.readouterr().err


OIDC = {"issuer": "https://idp.example.com"}
PUBLIC = {"public_url": "https://mcp.example.com"}


def _oidc_config(server: dict[str, Any] | None = None, **oidc: Any) -> dict[str, Any]:
    return {
        "server": PUBLIC if server is None else server,
        "backends": [GOOD_BACKEND],
        "incoming_auth": {"type": "oidc", "oidc": {**OIDC, **oidc}},
    }


def test_oidc_config_loads() -> None:
    settings = load_config_data(
        _oidc_config(required_scopes=["mcp"], identity_headers=[{"header": "X-MCP-Subject", "claim": "sub"}])
    )
    assert settings.incoming_auth.type == "oidc"


@pytest.mark.parametrize(
    ("raw", "paths"),
    [
        (_oidc_config(server={}), ["server.public_url"]),
        (
            {"backends": [GOOD_BACKEND], "server": PUBLIC, "incoming_auth": {"type": "oidc"}},
            ["incoming_auth.oidc"],
        ),
        (
            {"server": PUBLIC, "backends": [GOOD_BACKEND], "incoming_auth": {"type": "oidc", "oidc": {}}},
            ["incoming_auth.oidc.issuer"],
        ),
        (_oidc_config(issuer="http://idp.example.com"), ["incoming_auth.oidc.issuer"]),
        (_oidc_config(issuer="idp.example.com"), ["incoming_auth.oidc.issuer"]),
        (_oidc_config(jwks_url="http://idp.example.com/jwks"), ["incoming_auth.oidc.jwks_url"]),
        (_oidc_config(allowed_algorithms=["HS256"]), ["incoming_auth.oidc.allowed_algorithms"]),
        (_oidc_config(allowed_algorithms=["none"]), ["incoming_auth.oidc.allowed_algorithms"]),
        (_oidc_config(allowed_algorithms=[]), ["incoming_auth.oidc.allowed_algorithms"]),
        (
            _oidc_config(introspection_url="https://idp.example.com/introspect"),
            ["incoming_auth.oidc.introspection_url"],
        ),
        (_oidc_config(client_secret_file="/nonexistent/secret"), ["incoming_auth.oidc.client_secret_file"]),
        (
            _oidc_config(client_secret_env="MCP_SIDECAR_TEST_UNSET_VAR"),
            ["incoming_auth.oidc.client_secret_env"],
        ),
        (
            _oidc_config(client_secret_file="/x", client_secret_env="Y"),
            ["incoming_auth.oidc.client_secret_file"],
        ),
        (_oidc_config(jwks_refresh_min="2h"), ["incoming_auth.oidc.jwks_refresh_min"]),
        (
            _oidc_config(identity_headers=[{"header": "Authorization", "claim": "sub"}]),
            ["incoming_auth.oidc.identity_headers[0].header"],
        ),
        (
            _oidc_config(identity_headers=[{"header": "X Bad", "claim": "sub"}]),
            ["incoming_auth.oidc.identity_headers[0].header"],
        ),
        (_oidc_config(audience=""), ["incoming_auth.oidc.audience"]),
        (
            _oidc_config(identity_headers=[{"header": "X-Request-Id", "claim": "sub"}]),
            ["incoming_auth.oidc.identity_headers[0].header"],
        ),
        (
            _oidc_config(identity_headers=[{"header": "Mcp-Param-User", "claim": "sub"}]),
            ["incoming_auth.oidc.identity_headers[0].header"],
        ),
        (_oidc_config(unknown_kid_cooldown="0s"), ["incoming_auth.oidc.unknown_kid_cooldown"]),
        (_oidc_config(max_token_bytes=10), ["incoming_auth.oidc.max_token_bytes"]),
        ({"backends": [{**GOOD_BACKEND, "required_scopes": ["a"]}]}, ["backends[0].required_scopes"]),
    ],
)
def test_bad_oidc_config_names_the_key_path(raw: dict[str, Any], paths: list[str]) -> None:
    assert _issues(raw) == paths


def test_introspection_secret_from_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    introspection: dict[str, Any] = {
        "introspection_url": "https://idp.example.com/introspect",
        "client_id": "sidecar",
    }
    load_config_data(_oidc_config(**introspection, client_secret_file=str(secret)))
    monkeypatch.setenv("MCP_SIDECAR_TEST_SECRET", "s3cr3t")
    load_config_data(_oidc_config(**introspection, client_secret_env="MCP_SIDECAR_TEST_SECRET"))


def test_secret_values_never_appear_in_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("  \n")
    with pytest.raises(ConfigError) as info:
        load_config_data(_oidc_config(client_secret_file=str(empty)))
    assert "is empty" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "paths"),
    [
        ({"backends": [GOOD_BACKEND], "incoming_auth": {"type": ["oidc"]}}, ["incoming_auth.type"]),
        (
            {"backends": [GOOD_BACKEND], "server": {"public_url": "https://mcp.example.com:99999"}},
            ["server.public_url"],
        ),
        ({"backends": [{**GOOD_BACKEND, "path": "/mcp{x}"}]}, ["backends[0].path"]),
        ({"backends": [{**GOOD_BACKEND, "path": "/mc%70"}]}, ["backends[0].path"]),
        ({"backends": [{**GOOD_BACKEND, "name": "a\n"}]}, ["backends[0].name"]),
        (_oidc_config(jwks_url="https://idp.example.com:99999/jwks"), ["incoming_auth.oidc.jwks_url"]),
        (
            _oidc_config(identity_headers=[{"header": "X-Sub\n", "claim": "sub"}]),
            ["incoming_auth.oidc.identity_headers[0].header"],
        ),
    ],
)
def test_malformed_values_are_reported_not_crashed_on(raw: dict[str, Any], paths: list[str]) -> None:
    assert _issues(raw) == paths


_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
_KEYS = st.sampled_from(
    [
        "server",
        "backends",
        "incoming_auth",
        "auth_server",
        "name",
        "url",
        "path",
        "type",
        "oidc",
        "issuer",
        "port",
        "health",
        "upstreams",
        "users",
        "static_config",
        "sse_path",
        "public_url",
        "allowed_audiences",
        "token_lifespans",
        "x",
    ]
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=25,
)


@given(st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_any_document_gives_settings_or_a_config_error(raw: dict[str, Any]) -> None:
    """Fuzzed: whatever the YAML holds, the loader answers with key-path errors, never a crash."""
    issues: tuple[Any, ...] = ()
    try:
        load_config_data(raw)
    except ConfigError as exc:
        issues = exc.issues
    assert all(isinstance(issue.path, str) and str(issue) for issue in issues)
