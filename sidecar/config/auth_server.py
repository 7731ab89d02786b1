# SPDX-License-Identifier: Apache-2.0
"""Schema of the ``auth_server`` section (Mode B: the embedded OAuth 2.1 / OIDC authorization
server). Key names follow ToolHive's auth server RunConfig, so a ToolHive user can carry a
config over."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sidecar.config.fields import setting
from sidecar.config.values import Seconds, parse_duration


@dataclass(frozen=True, slots=True)
class SigningKeyConfig:
    signing_key_file: str = setting(
        "PEM private key that signs new tokens: EC P-256 (ES256), RSA >= 2048 (RS256) or Ed25519 (EdDSA)."
    )
    fallback_key_files: tuple[str, ...] = setting(
        "Older PEM keys, still published in the JWKS and accepted, so rotation has no hard cut-over.",
        default=(),
    )


@dataclass(frozen=True, slots=True)
class TokenLifespans:
    access_token_lifespan: Seconds = setting(
        "Lifetime of issued access tokens (5s to 1d).", default=parse_duration("1h")
    )
    refresh_token_lifespan: Seconds = setting(
        "Lifetime of a refresh-token family (1h to 90d).", default=parse_duration("7d")
    )
    auth_code_lifespan: Seconds = setting(
        "Lifetime of an authorization code (10s to 10m).", default=parse_duration("60s")
    )


@dataclass(frozen=True, slots=True)
class DcrConfig:
    enabled: bool = setting("Open dynamic client registration (RFC 7591) at /oauth/register.", default=True)
    initial_access_token_file: str | None = setting(
        "File holding the initial access token a registration must present as "
        "Authorization: Bearer (RFC 7591 §3); unset = open registration.",
        default=None,
    )


@dataclass(frozen=True, slots=True)
class CimdConfig:
    enabled: bool = setting(
        "Accept Client ID Metadata Documents: an https client_id is fetched as the client's metadata.",
        default=True,
    )
    cache_max_size: int = setting("Most documents kept in the per-process cache (LRU).", default=256)
    cache_fallback_ttl: Seconds = setting(
        "How long a document without caching headers is kept (30s to 1d).", default=parse_duration("5m")
    )
    allowed_hosts: tuple[str, ...] = setting(
        "Hosts whose documents are accepted; empty = any public host.", default=()
    )
    insecure_allow_loopback: bool = setting(
        "Also fetch documents from http:// or https:// on 127.0.0.1, [::1] or localhost "
        "(development and tests only).",
        default=False,
    )


@dataclass(frozen=True, slots=True)
class OidcUpstreamConfig:
    issuer_url: str = setting("The upstream OpenID Provider's issuer; its discovery document is used.")
    client_id: str = setting("The sidecar's client id at the upstream provider.")
    client_secret_file: str | None = setting("File holding the upstream client secret.", default=None)
    client_secret_env: str | None = setting(
        "Environment variable holding the upstream client secret.", default=None
    )
    scopes: tuple[str, ...] = setting(
        "Scopes requested upstream (openid is always included).", default=("openid", "email", "profile")
    )
    insecure_allow_http: bool = setting("Allow http:// for the upstream (development only).", default=False)
    allow_private_ip: bool = setting("Allow the upstream on private or loopback addresses.", default=False)


@dataclass(frozen=True, slots=True)
class OAuth2UpstreamConfig:
    authorization_endpoint: str = setting("The provider's authorization endpoint.")
    token_endpoint: str = setting("The provider's token endpoint.")
    userinfo_endpoint: str = setting("Endpoint returning the user's claims for the access token (JSON).")
    client_id: str = setting("The sidecar's client id at the upstream provider.")
    client_secret_file: str | None = setting("File holding the upstream client secret.", default=None)
    client_secret_env: str | None = setting(
        "Environment variable holding the upstream client secret.", default=None
    )
    scopes: tuple[str, ...] = setting("Scopes requested upstream.", default=())
    subject_claim: str = setting(
        "The userinfo member that identifies the user (e.g. id for GitHub).", default="sub"
    )
    insecure_allow_http: bool = setting("Allow http:// for the upstream (development only).", default=False)
    allow_private_ip: bool = setting("Allow the upstream on private or loopback addresses.", default=False)


@dataclass(frozen=True, slots=True)
class StaticUser:
    username: str = setting("Login name.")
    password_hash: str = setting("scrypt hash made by `mcp-sidecar hash-password` (never the password).")
    email: str | None = setting("Email claim of the user.", default=None)
    name: str | None = setting("Display name of the user.", default=None)


@dataclass(frozen=True, slots=True)
class StaticUpstreamConfig:
    users: tuple[StaticUser, ...] = setting(
        "The users who may log in (for demos and small setups).", default=()
    )


@dataclass(frozen=True, slots=True)
class OidcUpstream:
    name: str = setting("Unique name of the upstream identity provider.")
    type: Literal["oidc"] = setting("Upstream kind: oidc, oauth2 or static.")
    oidc_config: OidcUpstreamConfig = setting("OpenID Connect upstream settings.")


@dataclass(frozen=True, slots=True)
class OAuth2Upstream:
    name: str = setting("Unique name of the upstream identity provider.")
    type: Literal["oauth2"] = setting("Upstream kind: oidc, oauth2 or static.")
    oauth2_config: OAuth2UpstreamConfig = setting("Plain OAuth 2.0 upstream settings (explicit endpoints).")


@dataclass(frozen=True, slots=True)
class StaticUpstream:
    name: str = setting("Unique name of the upstream identity provider.")
    type: Literal["static"] = setting("Upstream kind: oidc, oauth2 or static.")
    static_config: StaticUpstreamConfig = setting("Users with password hashes, and a login page.")


Upstream = OidcUpstream | OAuth2Upstream | StaticUpstream


@dataclass(frozen=True, slots=True)
class MemoryStorage:
    type: Literal["memory"] = setting("Storage kind: memory (one process; state is lost on restart).")


@dataclass(frozen=True, slots=True)
class SentinelConfig:
    master_name: str = setting("The name the sentinels know the master by.")
    sentinel_addrs: tuple[str, ...] = setting("Sentinels as host:port, at least one.")
    db: int = setting("Database number.", default=0)


@dataclass(frozen=True, slots=True)
class AclUserConfig:
    username_env_var: str | None = setting("Environment variable holding the ACL user name.", default=None)
    username_file: str | None = setting("File holding the ACL user name.", default=None)
    password_env_var: str | None = setting("Environment variable holding the ACL password.", default=None)
    password_file: str | None = setting("File holding the ACL password.", default=None)


@dataclass(frozen=True, slots=True)
class RedisTls:
    ca_cert_file: str | None = setting(
        "PEM file of the CA that signed the server certificates; absent = the system CAs.", default=None
    )
    insecure_skip_verify: bool = setting(
        "Accept any server certificate and host name (development only).", default=False
    )


@dataclass(frozen=True, slots=True)
class RedisConfig:
    addr: str | None = setting(
        "host:port of a standalone server, or of any node of a cluster (with cluster_mode).", default=None
    )
    sentinel_config: SentinelConfig | None = setting(
        "Find the master through Redis Sentinel (instead of addr).", default=None
    )
    cluster_mode: bool = setting("addr is a node of a Redis Cluster.", default=False)
    acl_user_config: AclUserConfig | None = setting("ACL user and password (Redis 6+ AUTH).", default=None)
    key_prefix: str = setting(
        "Prefix of every key, with a hash tag {...} (all keys of one sidecar share a cluster slot); "
        "sidecars sharing a Redis need different prefixes.",
        default="mcp-sidecar:{default}:",
    )
    dial_timeout: Seconds = setting("Time to open a connection.", default=parse_duration("5s"))
    read_timeout: Seconds = setting("Time to wait for a reply.", default=parse_duration("3s"))
    write_timeout: Seconds = setting(
        "Time to send a command; a storage call fails after write_timeout + read_timeout.",
        default=parse_duration("3s"),
    )
    pool_size: int = setting("Most connections per process (per node in a cluster).", default=50)
    min_replicas_acks: int | None = setting(
        "Replicas that must hold a write (codes, refresh rotation, revocation, registration) before "
        "it is answered (Redis WAIT); unset = 1 with sentinel_config, else 0.",
        default=None,
    )
    tls: RedisTls | None = setting("TLS to Redis (and to the sentinels); absent = plain TCP.", default=None)

    @property
    def replicas_acks(self) -> int:
        """``min_replicas_acks``, or its default: a Sentinel setup fails over to a replica, so a
        write is answered once a replica holds it; a standalone server has nothing to wait for."""
        if self.min_replicas_acks is not None:
            return self.min_replicas_acks
        return 1 if self.sentinel_config is not None else 0


@dataclass(frozen=True, slots=True)
class RedisStorage:
    type: Literal["redis"] = setting("Storage kind: redis (shared by workers and replicas; durable).")
    redis_config: RedisConfig = setting("How to reach Redis.")


StorageConfig = MemoryStorage | RedisStorage


@dataclass(frozen=True, slots=True)
class AuthServerSettings:
    issuer: str = setting("The authorization server's issuer: the sidecar's public origin (RFC 8414).")
    allowed_audiences: tuple[str, ...] = setting(
        "Resources (RFC 8707) tokens may be issued for: the public URLs of the MCP endpoints."
    )
    scopes_supported: tuple[str, ...] = setting(
        "Scopes clients may request.", default=("openid", "profile", "email", "offline_access")
    )
    signing_key_config: SigningKeyConfig | None = setting(
        "Token signing keys; absent = an ephemeral key, with a loud warning.", default=None
    )
    hmac_secret_files: tuple[str, ...] = setting(
        "Files of secrets (>= 32 bytes) that sign opaque codes and refresh tokens; the first is current.",
        default=(),
    )
    insecure_allow_weak_secrets: bool = setting(
        "Accept HMAC secrets that are short or easy to guess, with a warning (development only).",
        default=False,
    )
    token_lifespans: TokenLifespans = setting("Token lifetimes.", default_factory=TokenLifespans)
    refresh_grace_period: Seconds = setting(
        "After a refresh token is used, a repeat of it within this time (a second tab, a retry after "
        "a lost response) gets the same new token pair instead of revoking the grant (0s to 60s; 0 = off).",
        default=parse_duration("5s"),
    )
    upstreams: tuple[Upstream, ...] = setting(
        "Upstream identity providers users log in with; several are chained: one authorization walks "
        "through each in order (the identity is the first's).",
        default=(),
    )
    storage: StorageConfig = setting(
        "Where clients, codes and tokens live.", default_factory=lambda: MemoryStorage(type="memory")
    )
    max_clients: int = setting("Most dynamically registered clients kept.", default=1000)
    client_idle_ttl: Seconds = setting(
        "How long a client with no live session is kept after its last use (1h to 365d).",
        default=parse_duration("30d"),
    )
    insecure_allow_http: bool = setting(
        "Allow an http:// issuer that is not on loopback (development only).", default=False
    )
    consent_lifetime: Seconds = setting(
        "How long a user's approval of a client is remembered, so later logins of the same client "
        "with the same or fewer scopes skip the consent page (0s = ask every time; up to 365d).",
        default=parse_duration("30d"),
    )
    dcr: DcrConfig = setting("Dynamic client registration (RFC 7591).", default_factory=DcrConfig)
    cimd: CimdConfig = setting("Client ID Metadata Documents (MCP SEP-991).", default_factory=CimdConfig)
