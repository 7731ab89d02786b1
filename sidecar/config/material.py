# SPDX-License-Identifier: Apache-2.0
"""Reading every file and environment variable the settings point to, once, at load.

The loader calls :func:`read_material` after parsing; the values land in ``Settings.secrets``
and nothing reads them again, so what ``check-config`` checked is what ``serve`` uses. A
relative file name is resolved against the config file's folder, not the working directory.
Each problem is a :class:`ConfigIssue` naming the key path; a file that others (or a foreign group) can
access, and a weak HMAC secret that ``insecure_allow_weak_secrets`` lets through, are warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sidecar.config.auth_server import (
    AuthServerSettings,
    OAuth2Upstream,
    OAuth2UpstreamConfig,
    OidcUpstream,
    OidcUpstreamConfig,
    RedisConfig,
    RedisStorage,
    Upstream,
)
from sidecar.config.authz import CedarAuthz
from sidecar.config.errors import ConfigIssue, warning
from sidecar.config.keyfiles import KeyFileError, SigningKey, hmac_secret_problem, signing_key_from_pem
from sidecar.config.schema import (
    BackendSettings,
    HeaderInjectionOutgoing,
    OidcIncoming,
    Settings,
    TokenExchangeOutgoing,
)
from sidecar.config.secrets import SecretError, Secrets, read_secret_env, read_secret_file
from sidecar.config.values import FIELD_VALUE

_KEY_FIX = "create one with: mcp-sidecar keygen --out FILE"
_HMAC_FIX = "create one with: mcp-sidecar keygen --hmac --out FILE"


def read_material(settings: Settings, base: Path | None) -> tuple[Secrets, list[ConfigIssue]]:
    """Read the secrets and keys of ``settings``; relative names resolve against ``base`` (the
    config file's folder; None: the working directory, for settings that come from no file)."""
    reader = _Reader(base)
    introspection = policy_file = None
    if isinstance(settings.incoming_auth, OidcIncoming):
        oidc = settings.incoming_auth.oidc
        introspection = reader.secret("incoming_auth.oidc", oidc.client_secret_file, oidc.client_secret_env)
        authz = settings.incoming_auth.authz
        if isinstance(authz, CedarAuthz) and authz.policies_file is not None:
            policy_file = reader.text("incoming_auth.authz.policies_file", authz.policies_file)
    backend_secrets = tuple(
        reader.backend_secret(f"backends[{index}].outgoing_auth", backend)
        for index, backend in enumerate(settings.backends)
    )
    if settings.auth_server is None:
        secrets = Secrets(introspection_secret=introspection)
    else:
        secrets = reader.auth_server(settings.auth_server, introspection)
    return replace(secrets, policy_file_text=policy_file, backend_secrets=backend_secrets), reader.issues


@dataclass
class _Reader:
    base: Path | None
    issues: list[ConfigIssue] = field(default_factory=list)

    def auth_server(self, config: AuthServerSettings, introspection: str | None) -> Secrets:
        current, fallbacks = None, []
        if (keys := config.signing_key_config) is not None:
            where = "auth_server.signing_key_config"
            current = self.signing_key(f"{where}.signing_key_file", keys.signing_key_file)
            fallbacks = [
                self.signing_key(f"{where}.fallback_key_files[{index}]", name)
                for index, name in enumerate(keys.fallback_key_files)
            ]
        hmac_secrets = [
            self.hmac_secret(
                f"auth_server.hmac_secret_files[{index}]", name, config.insecure_allow_weak_secrets
            )
            for index, name in enumerate(config.hmac_secret_files)
        ]
        upstream_secrets = tuple(
            self.upstream_secret(f"auth_server.upstreams[{index}]", upstream)
            for index, upstream in enumerate(config.upstreams)
        )
        redis = self.redis(config.storage.redis_config) if isinstance(config.storage, RedisStorage) else {}
        initial_access_token = None
        if (token_file := config.dcr.initial_access_token_file) is not None:
            initial_access_token = self.secret_file("auth_server.dcr.initial_access_token_file", token_file)
        # After a failed read there are errors, and these settings are never used.
        return Secrets(
            **redis,
            introspection_secret=introspection,
            signing_key=current,
            fallback_keys=tuple(key for key in fallbacks if key is not None),
            hmac_secrets=tuple(secret for secret in hmac_secrets if secret is not None),
            upstream_secrets=upstream_secrets,
            initial_access_token=initial_access_token,
        )

    def backend_secret(self, where: str, backend: BackendSettings) -> str | None:
        """The ``header_injection`` value or the ``token_exchange`` client secret of a backend."""
        outgoing = backend.outgoing_auth
        if isinstance(outgoing, TokenExchangeOutgoing):
            return self.secret(where, outgoing.client_secret_file, outgoing.client_secret_env)
        if not isinstance(outgoing, HeaderInjectionOutgoing):
            return None
        if outgoing.value_file is None and outgoing.value_env is None:
            self.issues.append(
                ConfigIssue(
                    f"{where}.value_file", "header_injection needs a value", "set value_file or value_env"
                )
            )
            return None
        value = self.secret(where, outgoing.value_file, outgoing.value_env, ("value_file", "value_env"))
        if value is not None and not FIELD_VALUE.fullmatch(value):
            # SECURITY: a CR/LF in the value would smuggle headers into the backend request.
            key = "value_file" if outgoing.value_file is not None else "value_env"
            self.issues.append(ConfigIssue(f"{where}.{key}", "the value is not printable ASCII on one line"))
            return None
        return value

    def upstream_secret(self, where: str, upstream: Upstream) -> str | None:
        config: OidcUpstreamConfig | OAuth2UpstreamConfig
        if isinstance(upstream, OidcUpstream):
            config, where = upstream.oidc_config, f"{where}.oidc_config"
        elif isinstance(upstream, OAuth2Upstream):
            config, where = upstream.oauth2_config, f"{where}.oauth2_config"
        else:
            return None
        return self.secret(where, config.client_secret_file, config.client_secret_env)

    def secret(
        self,
        where: str,
        file: str | None,
        env: str | None,
        keys: tuple[str, str] = ("client_secret_file", "client_secret_env"),
    ) -> str | None:
        """A secret from ``<where>.<keys[0]>`` (a file) or ``<where>.<keys[1]>`` (a variable),
        surrounding whitespace stripped; None when neither is set or on a problem."""
        file_key, env_key = keys
        if file is not None and env is not None:
            self.issues.append(
                ConfigIssue(f"{where}.{file_key}", f"is set together with {env_key}", "set only one of them")
            )
            return None
        if env is not None:
            try:
                return read_secret_env(env)
            except SecretError as exc:
                self.issues.append(ConfigIssue(f"{where}.{env_key}", str(exc)))
                return None
        return None if file is None else self.secret_file(f"{where}.{file_key}", file)

    def redis(self, config: RedisConfig) -> dict[str, Any]:
        """The ACL user, password and CA certificate of ``auth_server.storage.redis_config``."""
        where = "auth_server.storage.redis_config"
        found: dict[str, Any] = {}
        if (acl := config.acl_user_config) is not None:
            found["redis_username"] = self.secret(
                f"{where}.acl_user_config",
                acl.username_file,
                acl.username_env_var,
                ("username_file", "username_env_var"),
            )
            found["redis_password"] = self.secret(
                f"{where}.acl_user_config",
                acl.password_file,
                acl.password_env_var,
                ("password_file", "password_env_var"),
            )
        if config.tls is not None and config.tls.ca_cert_file is not None:
            key = f"{where}.tls.ca_cert_file"
            data = self.file(key, config.tls.ca_cert_file, "CA certificate file")
            if data is not None and b"-----BEGIN CERTIFICATE-----" not in data:
                self.issues.append(ConfigIssue(key, "is not a PEM certificate"))
            found["redis_ca_cert"] = data
        return found

    def secret_file(self, key: str, name: str) -> str | None:
        data = self.file(key, name, "secret file")
        if data is None:
            return None
        try:
            value = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            value = None
        if not value:
            problem = "is empty" if value == "" else "is not UTF-8 text"
            self.issues.append(ConfigIssue(key, f"secret file {str(self.path(name))!r} {problem}"))
        return value or None

    def signing_key(self, key: str, name: str) -> SigningKey | None:
        data = self.file(key, name, "key file", prefix="V-05: ", fix=_KEY_FIX)
        if data is None:
            return None
        try:
            return signing_key_from_pem(data, f"key file {str(self.path(name))!r}")
        except KeyFileError as exc:
            self.issues.append(ConfigIssue(key, f"V-05: {exc}", _KEY_FIX))
            return None

    def hmac_secret(self, key: str, name: str, allow_weak: bool) -> bytes | None:
        data = self.file(key, name, "HMAC secret file", prefix="V-05: ", fix=_HMAC_FIX)
        if data is None:
            return None
        secret = data.strip()
        if problem := hmac_secret_problem(secret):
            text = f"HMAC secret file {str(self.path(name))!r} {problem}"
            if allow_weak:
                self.issues.append(warning(key, text, f"development only; {_HMAC_FIX}"))
            else:
                # SECURITY: a guessable secret lets anyone forge codes and refresh tokens.
                fix = f"{_HMAC_FIX}, or set auth_server.insecure_allow_weak_secrets: true for development"
                self.issues.append(ConfigIssue(key, f"V-05: {text}", fix))
                return None
        return secret

    def text(self, key: str, name: str) -> str | None:
        """A file that is not secret (policies): UTF-8 text, no permission check."""
        path = self.path(name)
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
            self.issues.append(ConfigIssue(key, f"cannot read {str(path)!r}: {reason}"))
            return None

    def path(self, name: str) -> Path:
        return Path(name) if self.base is None else self.base / name

    def file(self, key: str, name: str, what: str, *, prefix: str = "", fix: str = "") -> bytes | None:
        path = self.path(name)
        try:
            read = read_secret_file(path, what)
        except SecretError as exc:
            self.issues.append(ConfigIssue(key, f"{prefix}{exc}", fix))
            return None
        if (who := read.exposed_to) is not None:
            # SECURITY: another account on the host (or in the pod) could read or swap the secret.
            self.issues.append(
                warning(
                    key,
                    f"{what} {str(path)!r} is open to {who} (mode {read.mode:04o})",
                    "chmod 600 it (on Kubernetes: defaultMode: 0400 on the secret volume)",
                )
            )
        return read.data
