# SPDX-License-Identifier: Apache-2.0
"""The webhook's configuration file, parsed once at start-up.

It has the shape of the Helm chart's values, so that the chart can hand its own sections over::

    sidecar:          # as the chart's `sidecar` value: image, ports, resources, probes, ...
      image: {repository: ghcr.io/example/mcp-auth-sidecar, tag: "0.1.0"}
    secrets:          # as the chart's `secrets` value: existing Secrets mounted read-only
      signingKeys: {existingSecret: mcp-signing-keys}
    configMap: ""     # the sidecar's ConfigMap for pods without a mcp-sidecar.io/config annotation

Every key but ``sidecar.image.repository`` and ``sidecar.image.tag`` has the chart's default.

WebhookConfigError     every problem found, each naming its key path
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Json = dict[str, Any]

# The chart's defaults (charts/mcp-sidecar/values.yaml); tests/webhook/test_settings.py keeps
# them equal.
_SECURITY_CONTEXT: Json = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
_RESOURCES: Json = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
_PROBES: dict[str, Json] = {
    "startupProbe": {"periodSeconds": 1, "failureThreshold": 30, "timeoutSeconds": 2},
    "livenessProbe": {"periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 2},
    "readinessProbe": {"periodSeconds": 5, "failureThreshold": 2, "timeoutSeconds": 2},
}
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
# secrets.<name>: the pod volume, the folder under /etc/mcp-sidecar/secrets/, and the keys mounted
# (as the chart's "mcp-sidecar.secretMounts" template).
_SECRETS: dict[str, tuple[str, str]] = {
    "signingKeys": ("mcp-sidecar-signing-keys", "signing"),
    "hmacSecrets": ("mcp-sidecar-hmac-secrets", "hmac"),
    "upstreamClientSecret": ("mcp-sidecar-upstream-secret", "upstream"),
    "introspectionClientSecret": ("mcp-sidecar-introspection-secret", "introspection"),
    "redis": ("mcp-sidecar-redis-credentials", "redis"),
}


class WebhookConfigError(Exception):
    """The webhook's configuration is unusable; ``problems`` name their key paths."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class SecretMount:
    """An existing Secret whose ``keys`` are files under /etc/mcp-sidecar/secrets/<folder>/."""

    volume: str
    secret: str
    folder: str
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SidecarTemplate:
    """What the injected container is made of. The mappings are copied on every use."""

    image: str
    pull_policy: str
    native: bool
    port: int
    metrics_port: int | None
    extra_env: tuple[Json, ...]
    resources: Json
    security_context: Json
    probes: dict[str, Json]
    secret_mounts: tuple[SecretMount, ...]

    @property
    def run_as_group(self) -> int | None:
        group = self.security_context.get("runAsGroup")
        return group if isinstance(group, int) else None


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    template: SidecarTemplate
    default_config_map: str | None


class _Reader:
    """Typed reads from the parsed YAML; each bad value is one problem, by key path."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def mapping(self, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problems.append(f"{path}{key}: must be a mapping")
            return {}
        return value

    def string(self, data: Mapping[str, Any], key: str, path: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or not value:
            self.problems.append(f"{path}{key}: must be a non-empty string")
            return ""
        return value

    def port(self, data: Mapping[str, Any], key: str, path: str, default: int) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            self.problems.append(f"{path}{key}: must be a port number (1-65535)")
            return default
        return value


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else [value]


def _secret_mounts(reader: _Reader, secrets: Mapping[str, Any]) -> tuple[SecretMount, ...]:
    defaults: dict[str, dict[str, Any]] = {
        "signingKeys": {"currentKey": "current.pem", "fallbackKeys": []},
        "hmacSecrets": {"keys": ["current"]},
        "upstreamClientSecret": {"key": "client-secret"},
        "introspectionClientSecret": {"key": "client-secret"},
        "redis": {"usernameKey": "", "passwordKey": "password", "caCertKey": ""},
    }
    mounts: list[SecretMount] = []
    for name in secrets:
        if name not in _SECRETS:
            reader.problems.append(f"secrets.{name}: unknown; one of {', '.join(_SECRETS)}")
    for name, (volume, folder) in _SECRETS.items():
        section = {**defaults[name], **reader.mapping(secrets, name, "secrets.")}
        secret = section.get("existingSecret") or ""
        if not secret:
            continue
        if name == "signingKeys":
            keys = [section["currentKey"], *_as_list(section["fallbackKeys"])]
        elif name == "hmacSecrets":
            keys = _as_list(section["keys"])
        elif name == "redis":
            keys = [section["passwordKey"], section["usernameKey"], section["caCertKey"]]
        else:
            keys = [section["key"]]
        keys = [key for key in keys if key]
        if not keys or not all(isinstance(key, str) for key in [secret, *keys]):
            reader.problems.append(f"secrets.{name}: the Secret's name and its keys must be strings")
            continue
        mounts.append(SecretMount(volume, secret, folder, tuple(str(key) for key in keys)))
    return tuple(mounts)


def parse_settings(data: object) -> WebhookSettings:
    """Settings from the parsed YAML document; ``WebhookConfigError`` lists every problem."""
    reader = _Reader()
    if not isinstance(data, Mapping):
        raise WebhookConfigError(["(top level): must be a mapping with a `sidecar` section"])
    for key in data:
        if key not in {"sidecar", "secrets", "configMap"}:
            reader.problems.append(f"{key}: unknown; the keys are sidecar, secrets and configMap")
    sidecar = reader.mapping(data, "sidecar", "")
    image = reader.mapping(sidecar, "image", "sidecar.")
    repository = reader.string(image, "repository", "sidecar.image.")
    tag = reader.string(image, "tag", "sidecar.image.")
    pull_policy = image.get("pullPolicy", "IfNotPresent")
    if pull_policy not in _PULL_POLICIES:
        reader.problems.append(f"sidecar.image.pullPolicy: must be one of {', '.join(_PULL_POLICIES)}")
    native = sidecar.get("native", True)
    if not isinstance(native, bool):
        reader.problems.append("sidecar.native: must be true or false")
    extra_env = sidecar.get("extraEnv") or []
    if not isinstance(extra_env, list) or not all(isinstance(env, Mapping) for env in extra_env):
        reader.problems.append("sidecar.extraEnv: must be a list of env entries ({name, value})")
        extra_env = []
    probes = {
        name: dict(reader.mapping(sidecar, name, "sidecar.") or defaults)
        for name, defaults in _PROBES.items()
    }
    resources = (
        dict(reader.mapping(sidecar, "resources", "sidecar.")) if "resources" in sidecar else _RESOURCES
    )
    security = (
        dict(reader.mapping(sidecar, "securityContext", "sidecar."))
        if "securityContext" in sidecar
        else _SECURITY_CONTEXT
    )
    template = SidecarTemplate(
        image=f"{repository}:{tag}",
        pull_policy=str(pull_policy),
        native=native is True,
        port=reader.port(sidecar, "port", "sidecar.", 8080),
        # null: /metrics on the main port, as in the chart.
        metrics_port=None
        if "metricsPort" in sidecar and sidecar["metricsPort"] is None
        else reader.port(sidecar, "metricsPort", "sidecar.", 9464),
        extra_env=tuple(copy.deepcopy(dict(env)) for env in extra_env),
        resources=copy.deepcopy(resources),
        security_context=copy.deepcopy(security),
        probes=copy.deepcopy(probes),
        secret_mounts=_secret_mounts(reader, reader.mapping(data, "secrets", "")),
    )
    config_map = data.get("configMap") or None
    if config_map is not None and not isinstance(config_map, str):
        reader.problems.append("configMap: must be the name of a ConfigMap")
    if reader.problems:
        raise WebhookConfigError(reader.problems)
    return WebhookSettings(template, config_map if isinstance(config_map, str) else None)


def load_settings(path: str) -> WebhookSettings:
    """Read and parse the YAML file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise WebhookConfigError([f"--config: cannot read {path}: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WebhookConfigError([f"--config: {path} is not valid YAML: {exc}"]) from None
    return parse_settings(data)
