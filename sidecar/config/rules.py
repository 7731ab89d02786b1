# SPDX-License-Identifier: Apache-2.0
"""Cross-field rules, run after parsing by both ``serve`` and ``check-config``. They do no I/O:
the files and variables the settings name were read by the loader (``material.py``)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from urllib.parse import urlsplit

from sidecar.config.errors import ConfigIssue, warning
from sidecar.config.rules_auth_server import check_auth_server
from sidecar.config.rules_authz import check_authz
from sidecar.config.rules_headers import header_name_refused
from sidecar.config.rules_outgoing import check_outgoing
from sidecar.config.schema import (
    SUPPORTED_ALGORITHMS,
    BackendSettings,
    OidcIncoming,
    OidcSettings,
    ServerSettings,
    Settings,
    TracingSettings,
)
from sidecar.config.values import (
    FIELD_VALUE,
    NAME_FIX,
    cleartext_url_problem,
    endpoint_problem,
    is_loopback_host,
    name_problem,
    origin_problem,
    split_url,
)

# Paths the sidecar serves itself; a backend may not claim them.
MAX_WORKERS = 64
RESERVED_PREFIXES = ("/health", "/readyz", "/metrics", "/.well-known", "/oauth")


def check_rules(settings: Settings) -> list[ConfigIssue]:
    issues = list(_check_server(settings.server))
    issues.extend(_check_incoming(settings))
    issues.extend(check_auth_server(settings))
    issues.extend(check_authz(settings))
    issues.extend(check_outgoing(settings))
    issues.extend(_check_tracing(settings.telemetry.tracing))
    if not settings.backends:
        issues.append(
            ConfigIssue(
                "backends",
                "must list at least one backend",
                "add {name, url, path} for the MCP server in the pod",
            )
        )
    seen_names: dict[str, int] = {}
    claimed: list[tuple[str, str]] = []  # (public path, key path)
    for index, backend in enumerate(settings.backends):
        where = f"backends[{index}]"
        issues.extend(_check_backend(backend, where))
        if backend.name in seen_names:
            issues.append(
                ConfigIssue(
                    f"{where}.name",
                    f"duplicates backends[{seen_names[backend.name]}].name {backend.name!r}",
                    "give every backend a unique name",
                )
            )
        seen_names.setdefault(backend.name, index)
        claimed.append((backend.path, f"{where}.path"))
        if backend.sse_path is not None:
            claimed.append((backend.sse_path, f"{where}.sse_path"))
            claimed.append((backend.messages_path, f"{where}.messages_path"))
    issues.extend(_check_path_overlaps(claimed))
    return issues


def _check_server(server: ServerSettings) -> Iterator[ConfigIssue]:
    if not 0 <= server.port <= 65535:
        yield ConfigIssue("server.port", f"must be between 0 and 65535, got {server.port}")
    if server.metrics_port is not None:
        if not 1 <= server.metrics_port <= 65535:
            yield ConfigIssue(
                "server.metrics_port", f"must be between 1 and 65535, got {server.metrics_port}"
            )
        elif server.metrics_port == server.port:
            yield ConfigIssue(
                "server.metrics_port",
                "must differ from server.port",
                "omit it to serve /metrics on the main port",
            )
    yield from _check_workers(server)
    if server.public_url is not None:
        if problem := origin_problem(server.public_url):
            yield ConfigIssue("server.public_url", problem, "write it as https://mcp.example.com")
        elif cleartext := cleartext_url_problem(server.public_url):
            # SECURITY: clients would send bearer tokens, codes and login cookies readable on the
            # wire. A warning, not an error, so a test setup on a private host name still starts.
            yield warning("server.public_url", cleartext, "use https, the URL clients reach the sidecar at")
    for index, origin in enumerate(server.allowed_origins):
        if problem := origin_problem(origin):
            yield ConfigIssue(
                f"server.allowed_origins[{index}]", problem, "write it as https://app.example.com"
            )
    for key in ("header_timeout", "idle_timeout"):
        if getattr(server, key) <= 0:
            yield ConfigIssue(f"server.{key}", "must be greater than zero")
    # RFC 9110 §5.5: a field value is visible characters and inner spaces; CR or LF would split
    # the response head.
    if not FIELD_VALUE.fullmatch(server.server_header):
        yield ConfigIssue(
            "server.server_header",
            "must be printable ASCII without leading or trailing spaces",
            "write it as e.g. mcp-sidecar, or leave it empty to send no Server header",
        )


def _check_tracing(tracing: TracingSettings) -> Iterator[ConfigIssue]:
    where = "telemetry.tracing"
    if not 0.0 <= tracing.sampling_ratio <= 1.0:
        yield ConfigIssue(
            f"{where}.sampling_ratio", f"must be between 0.0 and 1.0, got {tracing.sampling_ratio}"
        )
    if not tracing.service_name.strip():
        yield ConfigIssue(f"{where}.service_name", "must not be empty", "e.g. mcp-sidecar")
    if tracing.endpoint is not None:
        parts = split_url(tracing.endpoint)
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            yield ConfigIssue(
                f"{where}.endpoint",
                f"must be an http(s) URL, got {tracing.endpoint!r}",
                "write it as http://otel-collector:4318/v1/traces",
            )
    elif tracing.enabled:
        yield ConfigIssue(
            f"{where}.endpoint",
            "is required when tracing is enabled",
            "set the collector's OTLP/HTTP traces URL, e.g. http://otel-collector:4318/v1/traces",
        )
    if tracing.enabled and not _tracing_installed():
        yield ConfigIssue(
            f"{where}.enabled",
            "needs the OpenTelemetry SDK and OTLP/HTTP exporter, which are not installed",
            "pip install 'mcp-auth-sidecar[tracing]' (the image has them), or set it to false",
        )


def _tracing_installed() -> bool:
    """Whether the `tracing` extra is there: looked up, not imported (check-config stays light)."""
    try:
        return all(
            importlib.util.find_spec(name) is not None
            for name in ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http")
        )
    except (ImportError, ValueError):  # a parent package missing, or blocked in sys.modules
        return False


def _check_workers(server: ServerSettings) -> Iterator[ConfigIssue]:
    if not 1 <= server.workers <= MAX_WORKERS:
        yield ConfigIssue("server.workers", f"must be between 1 and {MAX_WORKERS}, got {server.workers}")
    elif server.workers > 1 and server.port == 0:
        # Each worker binds the port itself: with 0 each would be given a different one.
        yield ConfigIssue(
            "server.port",
            f"cannot be 0 with server.workers: {server.workers}",
            "give the port number the workers share",
        )


def _check_incoming(settings: Settings) -> Iterator[ConfigIssue]:
    auth = settings.incoming_auth
    if not isinstance(auth, OidcIncoming):
        for index, backend in enumerate(settings.backends):
            if backend.required_scopes:
                yield ConfigIssue(
                    f"backends[{index}].required_scopes",
                    "needs incoming_auth.type: oidc",
                    "remove it, or turn on bearer-token validation",
                )
        return
    oidc, where = auth.oidc, "incoming_auth.oidc"
    if settings.server.public_url is None:
        # SECURITY: the resource URL (and the default audience) must not come from the Host header.
        yield ConfigIssue(
            "server.public_url",
            "is required with incoming_auth.type: oidc",
            "set the origin clients use, e.g. https://mcp.example.com",
        )
    # The embedded authorization server's own issuer is checked by V-05 (http only on loopback)
    # and its tokens never cause a fetch, so insecure_allow_http is not needed for it.
    own_issuer = settings.auth_server is not None and settings.auth_server.issuer == oidc.issuer
    for key in ("issuer", "jwks_url", "introspection_url"):
        value = getattr(oidc, key)
        if key == "issuer" and own_issuer:
            continue
        if value is not None and (problem := endpoint_problem(value, oidc.insecure_allow_http)):
            yield ConfigIssue(f"{where}.{key}", problem[0], problem[1])
    if oidc.audience is not None and not oidc.audience.strip():
        yield ConfigIssue(f"{where}.audience", "must not be empty", "omit it to use each backend's URL")
    yield from _check_oidc_bounds(oidc, where)
    bad_algs = [alg for alg in oidc.allowed_algorithms if alg not in SUPPORTED_ALGORITHMS]
    if bad_algs or not oidc.allowed_algorithms:
        yield ConfigIssue(
            f"{where}.allowed_algorithms",
            f"unsupported or empty: {bad_algs}",
            f"choose from {', '.join(SUPPORTED_ALGORITHMS)} (symmetric and none are never accepted)",
        )
    yield from _check_introspection_and_headers(oidc, where)


def _check_oidc_bounds(oidc: OidcSettings, where: str) -> Iterator[ConfigIssue]:
    if oidc.jwks_refresh_min > oidc.jwks_refresh_max:
        yield ConfigIssue(f"{where}.jwks_refresh_min", "is greater than jwks_refresh_max")
    for key, low, text in (
        ("fetch_timeout", 0.001, "1ms"),
        ("max_token_lifetime", 1.0, "1s"),
        ("unknown_kid_cooldown", 1.0, "1s"),  # 0 would let random kids hammer the IdP
        ("jwks_refresh_min", 1.0, "1s"),
        ("max_token_bytes", 512, "512 bytes"),
        ("token_cache_size", 0, "0 (off)"),
    ):
        if getattr(oidc, key) < low:
            yield ConfigIssue(f"{where}.{key}", f"must be at least {text}")


def _check_introspection_and_headers(oidc: OidcSettings, where: str) -> Iterator[ConfigIssue]:
    # Whether the secret can be read is the loader's finding, reported on the secret's own key.
    no_secret = oidc.client_secret_file is None and oidc.client_secret_env is None
    if oidc.introspection_url is not None and (oidc.client_id is None or no_secret):
        yield ConfigIssue(
            f"{where}.introspection_url",
            "needs client_id and a client secret",
            "set client_id and client_secret_file (or client_secret_env)",
        )
    for index, mapping in enumerate(oidc.identity_headers):
        if header_name_refused(mapping.header):
            yield ConfigIssue(
                f"{where}.identity_headers[{index}].header",
                f"{mapping.header!r} cannot carry identity",
                "use a name such as X-MCP-Subject",
            )


def _check_backend(backend: BackendSettings, where: str) -> Iterator[ConfigIssue]:
    if problem := name_problem(backend.name):
        yield ConfigIssue(f"{where}.name", problem, NAME_FIX)
    yield from _check_backend_url(backend, where)
    for key in ("path", "sse_path", "messages_path"):
        value = getattr(backend, key)
        if value is None or (key == "messages_path" and backend.sse_path is None):
            continue
        if problem := _path_problem(value):
            yield ConfigIssue(f"{where}.{key}", problem, "write an absolute path such as /mcp")
    if backend.health.path is not None and (problem := _path_problem(backend.health.path)):
        yield ConfigIssue(f"{where}.health.path", problem, "write an absolute path such as /health")
    for key, value in (
        ("connect_timeout", backend.connect_timeout),
        ("read_timeout", backend.read_timeout),
        ("sse_read_timeout", backend.sse_read_timeout),
        ("health.timeout", backend.health.timeout),
    ):
        if value is not None and value <= 0:
            yield ConfigIssue(
                f"{where}.{key}",
                "must be greater than zero",
                "use null to switch it off" if key in ("read_timeout", "sse_read_timeout") else "",
            )
    if backend.health.interval < 0.1:
        yield ConfigIssue(f"{where}.health.interval", "must be at least 100ms")


def _check_backend_url(backend: BackendSettings, where: str) -> Iterator[ConfigIssue]:
    try:
        parts = urlsplit(backend.url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        yield ConfigIssue(
            f"{where}.url", f"is not a valid URL ({exc})", "write it as http://127.0.0.1:3001/mcp"
        )
        return
    if parts.scheme not in ("http", "https") or not parts.hostname:
        yield ConfigIssue(
            f"{where}.url",
            f"{backend.url!r} must be an absolute http or https URL",
            "write it as http://127.0.0.1:3001/mcp",
        )
        return
    if parts.query or parts.fragment or parts.username or parts.password:
        yield ConfigIssue(
            f"{where}.url",
            "must not carry a query, fragment or credentials",
            "put credentials in outgoing_auth",
        )
    if not backend.allow_remote and not is_loopback_host(parts.hostname):
        yield ConfigIssue(
            f"{where}.url",
            f"host {parts.hostname!r} is not on loopback",
            "use 127.0.0.1 for a server in the same pod, or set allow_remote: true",
        )


def _path_problem(path: str) -> str | None:
    if not path.startswith("/"):
        return f"{path!r} must start with /"
    # {} would become route variables and % an encoding the route could not match.
    if any(c in path for c in "?#{}%\\") or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in path):
        return (
            f"{path!r} must be a plain path without query, fragment, braces, %, spaces or control characters"
        )
    if any(seg in (".", "..") for seg in path.split("/")):
        return f"{path!r} must not contain . or .. segments"
    if path == "/":
        return "the root path / would shadow the sidecar's own routes"
    return None


def _segment_prefix(a: str, b: str) -> bool:
    """True when one path routes inside the other (``/mcp`` and ``/mcp/x``, or equal)."""
    a, b = a.rstrip("/"), b.rstrip("/")
    return a == b or b.startswith(a + "/") or a.startswith(b + "/")


def _check_path_overlaps(claimed: list[tuple[str, str]]) -> Iterator[ConfigIssue]:
    for i, (path, key) in enumerate(claimed):
        for reserved in RESERVED_PREFIXES:
            if _segment_prefix(path, reserved):
                yield ConfigIssue(
                    key, f"{path!r} overlaps the sidecar's own route {reserved}", "choose another public path"
                )
        for other, other_key in claimed[:i]:
            if _segment_prefix(path, other):
                yield ConfigIssue(
                    key, f"{path!r} overlaps {other_key} {other!r}", "give every backend route its own path"
                )
