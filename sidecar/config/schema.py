# SPDX-License-Identifier: Apache-2.0
"""The configuration schema: one source of truth for parsing, defaults and documentation.

Every key is a dataclass field declared with :func:`setting`, whose ``doc`` is the one-line
description ``docs/configuration.md`` must carry (a test walks ``loader.iter_keys`` and fails on
an undocumented key). The loader derives parsing from the field types; cross-field rules live in
``rules.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sidecar.config.auth_server import AuthServerSettings
from sidecar.config.authz import AuditSettings, AuthzSettings, RateLimits
from sidecar.config.errors import ConfigIssue
from sidecar.config.fields import setting
from sidecar.config.secrets import Secrets
from sidecar.config.values import ByteSize, IPNetwork, Seconds, parse_duration


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = setting("Address to listen on.", default="0.0.0.0")
    port: int = setting("Port to listen on (0 picks a free port, for tests).", default=8080)
    public_url: str | None = setting(
        "The origin clients use, e.g. https://mcp.example.com (no path). When unset, browser Origins "
        "on http loopback addresses (any port) count as the sidecar's own.",
        default=None,
    )
    trusted_proxies: tuple[IPNetwork, ...] = setting(
        "CIDRs of proxies in front of the sidecar whose X-Forwarded-* headers are believed.", default=()
    )
    allowed_origins: tuple[str, ...] = setting(
        "Browser Origins accepted besides the sidecar's own; a request without Origin is always accepted.",
        default=(),
    )
    allowed_hosts: tuple[str, ...] = setting(
        "Host header values (`name` or `name:port`) accepted on backend routes, against DNS rebinding "
        "by requests without Origin; empty accepts any Host.",
        default=(),
    )
    drain_timeout: Seconds = setting(
        "On SIGTERM/SIGINT, how long in-flight requests may finish before streams are closed.",
        default=parse_duration("20s"),
    )
    shutdown_delay: Seconds = setting(
        "On SIGTERM, how long /readyz answers 503 before the listener stops (lets endpoints update).",
        default=parse_duration("0s"),
    )
    header_timeout: Seconds = setting(
        "Deadline for a client to send a complete request head once it started one (slowloris guard).",
        default=parse_duration("10s"),
    )
    idle_timeout: Seconds = setting(
        "How long a client connection may stay idle between requests before it is closed.",
        default=parse_duration("60s"),
    )
    max_request_body: ByteSize = setting(
        "Largest request body forwarded to a backend; larger ones get 413.", default=ByteSize(4 * 1024**2)
    )
    workers: int = setting(
        "Worker processes sharing the port (SO_REUSEPORT) under a supervisor; 1 runs one process, "
        "no supervisor.",
        default=1,
    )
    metrics_port: int | None = setting(
        "Serve /metrics on this separate port instead of the main one (e.g. 9464).", default=None
    )
    server_header: str = setting(
        "Value of the Server response header; empty (the default) sends none.", default=""
    )
    access_log: bool = setting(
        "Write one `request` event per request (at info level); it costs about 5 µs of CPU per request.",
        default=True,
    )
    log_level: Literal["debug", "info", "warning", "error"] = setting(
        "Lowest log level written.", default="info"
    )
    log_format: Literal["auto", "json", "console"] = setting(
        "Log format: json, console (human-readable), or auto (console on a TTY, json otherwise).",
        default="auto",
    )


def _health_shorthand(raw: Any) -> Any:
    # The TCP probe may be written as the bare word `tcp` (docs/configuration.md).
    return {} if raw == "tcp" else raw


@dataclass(frozen=True, slots=True)
class HealthSettings:
    path: str | None = setting(
        "HTTP path probed with GET on the backend (any status below 500 is up); absent = TCP connect.",
        default=None,
    )
    interval: Seconds = setting("Time between probes.", default=parse_duration("5s"))
    timeout: Seconds = setting("Time one probe may take.", default=parse_duration("2s"))


@dataclass(frozen=True, slots=True)
class UnauthenticatedOutgoing:
    type: Literal["unauthenticated"] = setting("Outgoing auth strategy: unauthenticated (adds nothing).")


@dataclass(frozen=True, slots=True)
class HeaderInjectionOutgoing:
    type: Literal["header_injection"] = setting(
        "Outgoing auth strategy: header_injection (a static header, e.g. an API key)."
    )
    header_name: str = setting("The header the backend receives, e.g. X-API-Key.")
    value_file: str | None = setting("File holding the header value (read once at start-up).", default=None)
    value_env: str | None = setting(
        "Environment variable holding the header value (read once at start-up).", default=None
    )


@dataclass(frozen=True, slots=True)
class UpstreamInjectOutgoing:
    type: Literal["upstream_inject"] = setting(
        "Outgoing auth strategy: upstream_inject (the user's access token from an upstream provider)."
    )
    provider_name: str = setting("The auth_server.upstreams entry whose access token is sent as Bearer.")
    refresh_margin: Seconds = setting(
        "Refresh the upstream token when it expires within this time.", default=parse_duration("30s")
    )


@dataclass(frozen=True, slots=True)
class TokenExchangeOutgoing:
    type: Literal["token_exchange"] = setting(
        "Outgoing auth strategy: token_exchange (RFC 8693 at token_url, per user, cached)."
    )
    token_url: str = setting("The RFC 8693 token endpoint.")
    client_id: str = setting("The sidecar's client id at token_url (HTTP Basic).")
    client_secret_file: str | None = setting("File holding the client secret.", default=None)
    client_secret_env: str | None = setting("Environment variable holding the client secret.", default=None)
    audience: str | None = setting("The `audience` parameter: the backend's logical name.", default=None)
    scopes: tuple[str, ...] = setting("The `scope` parameter (space-joined).", default=())
    subject_token_type: str = setting(
        "Type of the subject token (RFC 8693 §3).",
        default="urn:ietf:params:oauth:token-type:access_token",
    )
    subject_provider: str | None = setting(
        "The auth_server.upstreams entry whose token is exchanged; absent = the validated incoming "
        "token (or, with an auth_server of one upstream, that upstream's).",
        default=None,
    )
    insecure_allow_http: bool = setting("Allow an http:// token_url (development only).", default=False)
    allow_private_ip: bool = setting(
        "Allow token_url on private, loopback and link-local addresses (e.g. an in-cluster STS).",
        default=False,
    )


OutgoingAuth = (
    UnauthenticatedOutgoing | HeaderInjectionOutgoing | UpstreamInjectOutgoing | TokenExchangeOutgoing
)


@dataclass(frozen=True, slots=True)
class BackendSettings:
    name: str = setting(
        "Unique name of the backend, used in logs and metric labels: 1-63 of a-z, 0-9, _ and -, "
        "starting with a letter or digit."
    )
    url: str = setting("The backend's streamable HTTP MCP endpoint, e.g. http://127.0.0.1:3001/mcp.")
    path: str = setting("Public path on the sidecar routed to `url`, e.g. /mcp.")
    sse_path: str | None = setting(
        "Path of the legacy HTTP+SSE stream (GET), public and on the backend's origin, e.g. /sse.",
        default=None,
    )
    messages_path: str = setting(
        "Path of the legacy HTTP+SSE message endpoint (POST), public and on the backend's origin.",
        default="/messages/",
    )
    allow_remote: bool = setting("Allow a backend URL that is not on loopback.", default=False)
    health: HealthSettings = setting(
        "Readiness probe of the backend: `tcp` (default) or {path, interval, timeout}.",
        default_factory=HealthSettings,
        coerce=_health_shorthand,
    )
    connect_timeout: Seconds = setting(
        "Time allowed to connect to the backend; past it the client gets 502.", default=parse_duration("5s")
    )
    read_timeout: Seconds | None = setting(
        "Longest wait for response headers or between body reads of a non-streamed response (null = off).",
        default=parse_duration("5m"),
    )
    sse_read_timeout: Seconds | None = setting(
        "Longest wait between reads of an SSE stream (null = off, the default; no total stream timeout).",
        default=None,
    )
    required_scopes: tuple[str, ...] = setting(
        "Scopes a token must carry for this backend, on top of incoming_auth.oidc.required_scopes.",
        default=(),
    )
    outgoing_auth: OutgoingAuth = setting(
        "How the sidecar authenticates to the backend.",
        default_factory=lambda: UnauthenticatedOutgoing(type="unauthenticated"),
    )

    def public_paths(self) -> tuple[str, ...]:
        """Every public path this backend is served on (its routes), without trailing slash."""
        paths = [self.path] if self.sse_path is None else [self.path, self.sse_path, self.messages_path]
        return tuple(path.rstrip("/") for path in paths)


@dataclass(frozen=True, slots=True)
class AnonymousIncoming:
    type: Literal["anonymous"] = setting("Incoming auth mode: anonymous (no token) or oidc (bearer tokens).")


SUPPORTED_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


@dataclass(frozen=True, slots=True)
class IdentityHeader:
    header: str = setting("Request header the backend receives, e.g. X-MCP-Subject.")
    claim: str = setting("Token claim whose value it carries, e.g. sub or email.")


@dataclass(frozen=True, slots=True)
class OidcSettings:
    issuer: str = setting("The token issuer; the token's iss must equal it byte for byte.")
    audience: str | None = setting(
        "Audience every token must contain. Default: each backend's public URL (public_url + path).",
        default=None,
    )
    jwks_url: str | None = setting(
        "JWKS URL. Default: discovered from the issuer (OIDC / RFC 8414).", default=None
    )
    introspection_url: str | None = setting(
        "RFC 7662 endpoint for opaque (non-JWT) tokens; needs client_id and a client secret.", default=None
    )
    client_id: str | None = setting("Client id for introspection (HTTP Basic).", default=None)
    client_secret_file: str | None = setting("File holding the introspection client secret.", default=None)
    client_secret_env: str | None = setting(
        "Environment variable holding the introspection client secret.", default=None
    )
    required_scopes: tuple[str, ...] = setting("Scopes every token must carry.", default=())
    scopes_supported: tuple[str, ...] = setting(
        "Scopes listed in the protected resource metadata. Default: the required scopes.", default=()
    )
    allowed_algorithms: tuple[str, ...] = setting(
        "Signature algorithms accepted (asymmetric only).", default=SUPPORTED_ALGORITHMS
    )
    clock_skew: Seconds = setting("Leeway for exp, nbf and iat.", default=parse_duration("60s"))
    max_token_bytes: ByteSize = setting(
        "Largest token accepted, checked before parsing.", default=ByteSize(8192)
    )
    max_token_lifetime: Seconds = setting(
        "Longest exp - iat (or exp - now without iat) accepted.", default=parse_duration("1d")
    )
    token_cache_size: int = setting(
        "Verified tokens kept (by hash, never past their exp) to skip repeated checks; 0 = off.",
        default=10000,
    )
    jwks_refresh_min: Seconds = setting(
        "Shortest time a JWKS is cached, whatever Cache-Control says.", default=parse_duration("30s")
    )
    jwks_refresh_max: Seconds = setting(
        "Longest time a JWKS is cached before a background refresh.", default=parse_duration("1h")
    )
    jwks_max_stale: Seconds = setting(
        "How long the last good JWKS is still used while the IdP cannot be reached.",
        default=parse_duration("12h"),
    )
    unknown_kid_cooldown: Seconds = setting(
        "Least time between JWKS refetches caused by unknown key ids.", default=parse_duration("30s")
    )
    fetch_timeout: Seconds = setting(
        "Time one discovery, JWKS or introspection fetch may take.", default=parse_duration("5s")
    )
    insecure_allow_http: bool = setting(
        "Allow http:// for the issuer's endpoints (development only).", default=False
    )
    allow_private_ip: bool = setting(
        "Allow fetching from private, loopback and link-local addresses (e.g. an in-cluster IdP).",
        default=False,
    )
    identity_headers: tuple[IdentityHeader, ...] = setting(
        "Claims sent to the backend as headers; client-sent copies are removed first.", default=()
    )


@dataclass(frozen=True, slots=True)
class OidcIncoming:
    type: Literal["oidc"] = setting("Incoming auth mode: anonymous (no token) or oidc (bearer tokens).")
    oidc: OidcSettings = setting("Bearer-token validation settings.")
    authz: AuthzSettings | None = setting(
        "Access control per MCP operation (Cedar policies, ToolHive's entity model); absent = none.",
        default=None,
    )
    rate_limits: RateLimits | None = setting(
        "Token-bucket rate limits per user, per tool, and per user and tool; absent = none.", default=None
    )


IncomingAuth = AnonymousIncoming | OidcIncoming


def _number(raw: Any) -> Any:
    # YAML reads `1` as an int; a ratio written without a decimal point is still a number.
    return float(raw) if type(raw) is int else raw


@dataclass(frozen=True, slots=True)
class TracingSettings:
    enabled: bool = setting(
        "Export OpenTelemetry traces (a span per proxied request); off costs nothing per request.",
        default=False,
    )
    endpoint: str | None = setting(
        "OTLP/HTTP traces URL of the collector, e.g. http://otel-collector:4318/v1/traces.", default=None
    )
    sampling_ratio: float = setting(
        "Share of new traces recorded, 0.0-1.0; a trusted caller's sampled flag is followed (parent-based).",
        default=1.0,
        coerce=_number,
    )
    service_name: str = setting("The service.name resource attribute of the spans.", default="mcp-sidecar")


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    tracing: TracingSettings = setting(
        "OpenTelemetry tracing (opt-in, needs the `tracing` extra).", default_factory=TracingSettings
    )


@dataclass(frozen=True, slots=True)
class Settings:
    server: ServerSettings = setting("Listener, timeouts and limits.", default_factory=ServerSettings)
    backends: tuple[BackendSettings, ...] = setting("The MCP servers in the pod (at least one).", default=())
    incoming_auth: IncomingAuth = setting(
        "How clients authenticate to the sidecar.",
        default_factory=lambda: AnonymousIncoming(type="anonymous"),
    )
    auth_server: AuthServerSettings | None = setting(
        "The embedded OAuth 2.1 / OIDC authorization server (Mode B); absent = Mode A.", default=None
    )
    audit: AuditSettings = setting(
        "The audit trail: JSON events on a stream of their own, apart from the access log.",
        default_factory=AuditSettings,
    )
    telemetry: TelemetrySettings = setting(
        "Traces exported to an OpenTelemetry collector.", default_factory=TelemetrySettings
    )
    # Not keys: what the loader read from the files and variables named above, and its warnings.
    secrets: Secrets = field(default_factory=Secrets, repr=False, compare=False)
    warnings: tuple[ConfigIssue, ...] = field(default=(), compare=False)
