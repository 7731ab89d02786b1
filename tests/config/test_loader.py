# SPDX-License-Identifier: Apache-2.0
"""Configuration parsing: good configs load, bad ones name every problem by key path."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.cli import main
from sidecar.config import ConfigError, ConfigIssue, load_config_data, load_config_file, load_config_text
from sidecar.config.values import parse_duration, parse_size
from tests.authserver.flow import mode_b_raw
from tests.support import Process, free_port

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


def _only_issue(raw: Any) -> ConfigIssue:
    with pytest.raises(ConfigError) as info:
        load_config_data(raw)
    [issue] = info.value.issues
    return issue


@pytest.mark.parametrize(
    ("raw", "path", "hint"),
    [
        (
            {"backends": [{**GOOD_BACKEND, "require_scopes": ["a"]}]},
            "backends[0].require_scopes",
            "did you mean required_scopes?",
        ),
        ({"backends": [GOOD_BACKEND], "sever": {}}, "sever", "did you mean server?"),
        (
            {"backends": [GOOD_BACKEND], "server": {"publicurl": "x"}},
            "server.publicurl",
            "did you mean public_url?",
        ),
        (_oidc_config(audiences=["x"]), "incoming_auth.oidc.audiences", "did you mean audience?"),
        (
            {"backends": [GOOD_BACKEND], "server": {"zzz": 1}},
            "server.zzz",
            "known keys here: host, port, public_url",
        ),
    ],
)
def test_unknown_key_suggests_the_nearest_known_key(raw: Any, path: str, hint: str) -> None:
    """An unknown key names the known key it is closest to, or lists them all when none is close."""
    issue = _only_issue(raw)
    assert (issue.path, issue.problem) == (path, "is not a known key")
    assert hint in issue.fix


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("server:\n  port: 80\n  host: a: b\n", "at line 3, column 10: mapping values are not allowed here"),
        ("backends: [", "at line 1, column 12: expected the node content, but found '<stream end>'"),
        ('a: "open\n', "found unexpected end of stream (while scanning a quoted scalar at line 1, column 4)"),
        ("key: value\n\tbad: tab", "at line 2, column 1: found character '\\t' that cannot start any token"),
        ("backends:\n  - name: a\n   url: x\n", "at line 3, column 4: expected <block end>"),
        ("\x00", "character 1 is refused (special characters are not allowed)"),
        ("a: 2001-13-45", "holds a value YAML cannot read (ValueError: month must be in 1..12)"),
        ("a: !!float x", "holds a value YAML cannot read"),
        ("a: !!int ", "holds a value YAML cannot read (IndexError"),
        ("[" * 5000, "nests too deeply"),
    ],
)
def test_yaml_errors_show_the_parsers_reason_and_place(text: str, reason: str) -> None:
    """A file that is not valid YAML is reported with what the parser found and where (line and
    column), as one top-level issue, never a traceback."""
    with pytest.raises(ConfigError) as info:
        load_config_text(text)
    [issue] = info.value.issues
    assert issue.path == ""
    assert reason in issue.problem


_YAML_PIECES = st.sampled_from(
    [
        "server:",
        "backends:",
        "\n",
        "  ",
        "- ",
        ": ",
        "[",
        "]",
        "{",
        "}",
        ",",
        '"',
        "'",
        "&a ",
        "*a",
        "!!int ",
        "!!float ",
        "!!binary ",
        "!!timestamp ",
        "2001-13-45",
        "0x",
        "\t",
        "#",
        "|",
        ">",
        "?",
        "%",
    ]
)


@given(st.lists(_YAML_PIECES | st.text(max_size=4), max_size=30).map("".join))
def test_any_text_gives_settings_or_a_config_error(text: str) -> None:
    """Fuzzed: whatever the file holds, broken YAML included, the loader answers with issues that
    name a key path (or the top level), never a crash."""
    issues: tuple[ConfigIssue, ...] = ()
    try:
        load_config_text(text)
    except ConfigError as exc:
        issues = exc.issues or (ConfigIssue("", ""),)
    assert all(issue.problem for issue in issues)


@pytest.mark.parametrize(
    ("public_url", "warned"),
    [
        ("http://mcp.example.com", True),
        ("http://10.0.0.5:8080", True),
        ("https://mcp.example.com", False),
        ("http://127.0.0.1:8080", False),
        ("http://localhost:8080", False),
        ("http://[::1]:8080", False),
    ],
)
def test_http_public_url_on_a_host_that_is_not_loopback_warns(public_url: str, warned: bool) -> None:
    """Tokens and cookies would cross the network in clear: a warning on server.public_url."""
    settings = load_config_data({"server": {"public_url": public_url}, "backends": [GOOD_BACKEND]})
    assert [(w.path, w.severity) for w in settings.warnings] == (
        [("server.public_url", "warning")] if warned else []
    )


def test_http_issuer_allowed_for_development_warns() -> None:
    """auth_server.insecure_allow_http lets an http issuer on a remote host through, with a warning."""
    settings = load_config_data(mode_b_raw("http://mcp.example.com", insecure_allow_http=True))
    assert {w.path for w in settings.warnings} == {"server.public_url", "auth_server.issuer"}


def test_check_config_prints_warnings_by_key_path_and_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Warnings go to stderr like errors, by key path; check-config still says OK and exits 0."""
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        "server: {public_url: 'http://mcp.example.com'}\n"
        "backends: [{name: a, url: 'http://127.0.0.1:1/m', path: /a}]\n"
    )
    assert main(["check-config", "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert "configuration OK" in out
    assert "warning: server.public_url: uses http on a host that is not loopback" in err


def test_warnings_are_listed_with_the_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A configuration with errors and warnings lists both, and counts only the errors as problems."""
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        "server: {public_url: 'http://mcp.example.com', port: 70000}\n"
        "backends: [{name: a, url: 'http://127.0.0.1:1/m', path: /a}]\n"
    )
    assert main(["check-config", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "the configuration has 1 problem(s)" in err
    assert "  - server.port: must be between 0 and 65535" in err
    assert "  - warning: server.public_url:" in err


async def test_serve_prints_warnings_before_it_starts(tmp_path: Path) -> None:
    """`serve` reports the same warnings, by key path, then runs."""
    port = free_port()
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        f"server: {{host: 127.0.0.1, port: {port}, public_url: 'http://mcp.example.com'}}\n"
        "backends: [{name: a, url: 'http://127.0.0.1:1/m', path: /a}]\n"
    )
    process = await Process.start(
        ["-m", "sidecar", "serve", "--config", str(config)],
        port,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    process.stop()
    _out, err = process.popen.communicate()
    assert "warning: server.public_url: uses http on a host that is not loopback" in err.decode()


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"backends": [{**GOOD_BACKEND, "name": "Bad Name"}]}, "backends[0].name"),
        ({"backends": [{**GOOD_BACKEND, "name": "-dash"}]}, "backends[0].name"),
        (
            mode_b_raw(upstreams=[{"name": "Bad Name", "type": "static", "static_config": {"users": []}}]),
            "auth_server.upstreams[0].name",
        ),
        (
            mode_b_raw(upstreams=[{"name": "-dash", "type": "static", "static_config": {"users": []}}]),
            "auth_server.upstreams[0].name",
        ),
    ],
)
def test_backend_and_upstream_names_follow_one_rule(raw: Any, path: str) -> None:
    """Names go into logs and metric labels: the same rule, and the same fix, for both."""
    with pytest.raises(ConfigError) as info:
        load_config_data(raw)
    [issue] = [i for i in info.value.issues if i.path == path]
    assert "is not a valid name" in issue.problem
    assert issue.fix == "use 1-63 characters of a-z, 0-9, _ and -, starting with a letter or digit"


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (_oidc_config(client_secret_file="/x", client_secret_env="Y"), "incoming_auth.oidc"),
        (
            mode_b_raw(
                upstreams=[
                    {
                        "name": "corp",
                        "type": "oidc",
                        "oidc_config": {
                            "issuer_url": "https://idp.example.com",
                            "client_id": "c",
                            "client_secret_file": "/x",
                            "client_secret_env": "Y",
                        },
                    }
                ]
            ),
            "auth_server.upstreams[0].oidc_config",
        ),
        (
            mode_b_raw(
                upstreams=[
                    {
                        "name": "plain",
                        "type": "oauth2",
                        "oauth2_config": {
                            "authorization_endpoint": "https://idp.example.com/a",
                            "token_endpoint": "https://idp.example.com/t",
                            "userinfo_endpoint": "https://idp.example.com/u",
                            "client_id": "c",
                            "client_secret_file": "/x",
                            "client_secret_env": "Y",
                        },
                    }
                ]
            ),
            "auth_server.upstreams[0].oauth2_config",
        ),
    ],
)
def test_secret_file_and_env_together_are_refused_for_every_secret(raw: Any, where: str) -> None:
    """Every client secret comes from one source: setting both is one error, and neither is read."""
    issue = _only_issue(raw)
    assert (issue.path, issue.problem) == (
        f"{where}.client_secret_file",
        "is set together with client_secret_env",
    )
