# SPDX-License-Identifier: Apache-2.0
"""The value sets every chart test renders: one per way the chart is meant to be installed."""

from __future__ import annotations

from typing import Any

MCP_IMAGE = {"image": {"repository": "ghcr.io/example/mcp-server", "tag": "1.2.3"}}
PUBLIC = "https://mcp.example.com"
# base64 of a PEM CA certificate, as a MutatingWebhookConfiguration's caBundle holds it (its
# contents are not checked by anything that renders the chart).
WEBHOOK_CA_BUNDLE = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="

MODE_B_SECRETS = {
    "signingKeys": {"existingSecret": "mcp-signing-keys", "fallbackKeys": ["previous.pem"]},
    "hmacSecrets": {"existingSecret": "mcp-hmac", "keys": ["current", "previous"]},
    "upstreamClientSecret": {"existingSecret": "mcp-upstream"},
}


def _mode_b(storage: dict[str, Any], upstream: dict[str, Any]) -> dict[str, Any]:
    return {
        "server": {"public_url": PUBLIC, "trusted_proxies": ["10.0.0.0/8"]},
        "incoming_auth": {"type": "oidc", "oidc": {"issuer": PUBLIC}},
        "auth_server": {
            "issuer": PUBLIC,
            "allowed_audiences": [f"{PUBLIC}/mcp"],
            "upstreams": [upstream],
            "storage": storage,
        },
    }


VALUE_SETS: dict[str, dict[str, Any]] = {
    # The chart's defaults: only the MCP server's image is required.
    "default": {"mcpServer": {"image": {"repository": "ghcr.io/example/mcp-server"}}},
    "mode_a_anonymous": {
        "mcpServer": {**MCP_IMAGE, "port": 3000, "path": "/", "args": ["--port", "3000"]},
        "sidecar": {"metricsPort": None},
        "config": {"server": {"public_url": PUBLIC, "allowed_hosts": ["mcp.example.com"]}},
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "hosts": [{"host": "mcp.example.com"}],
            "tls": [{"secretName": "mcp-tls", "hosts": ["mcp.example.com"]}],
        },
        "networkPolicy": {"enabled": True, "metricsFrom": [{"namespaceSelector": {}}]},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
        "extraObjects": [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "{{ .Release.Name }}-extra"}}
        ],
    },
    "mode_a_oidc": {
        "mcpServer": MCP_IMAGE,
        "replicaCount": 2,
        "config": {
            "server": {"public_url": PUBLIC, "drain_timeout": "1m", "shutdown_delay": "10s"},
            "incoming_auth": {
                "type": "oidc",
                "oidc": {
                    "issuer": "https://login.example.com/realms/mcp",
                    "introspection_url": "https://login.example.com/realms/mcp/introspect",
                    "client_id": "mcp-sidecar",
                    "required_scopes": ["mcp:tools"],
                },
            },
        },
        "secrets": {"introspectionClientSecret": {"existingSecret": "mcp-introspection"}},
        "podDisruptionBudget": {"enabled": True},
    },
    "mode_b_memory": {
        "mcpServer": MCP_IMAGE,
        "config": _mode_b(
            {"type": "memory"},
            {
                "name": "corp",
                "type": "oidc",
                "oidc_config": {"issuer_url": "https://login.example.com", "client_id": "mcp"},
            },
        ),
        "secrets": MODE_B_SECRETS,
    },
    "mode_b_redis_hpa": {
        "mcpServer": {**MCP_IMAGE, "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}},
        "config": _mode_b(
            {"type": "redis", "redis_config": {"addr": "redis-master.redis:6379"}},
            {
                "name": "github",
                "type": "oauth2",
                "oauth2_config": {
                    "authorization_endpoint": "https://github.com/login/oauth/authorize",
                    "token_endpoint": "https://github.com/login/oauth/access_token",
                    "userinfo_endpoint": "https://api.github.com/user",
                    "client_id": "mcp",
                    "subject_claim": "id",
                },
            },
        ),
        "secrets": {
            **MODE_B_SECRETS,
            "redis": {"existingSecret": "mcp-redis", "usernameKey": "username", "caCertKey": "ca.crt"},
        },
        "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 6},
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
    },
    # The injection webhook next to the chart's own pod; its CA given inline.
    "webhook": {
        "mcpServer": MCP_IMAGE,
        "webhook": {
            "enabled": True,
            "tls": {"existingSecret": "mcp-sidecar-webhook-tls"},
            "caBundle": WEBHOOK_CA_BUNDLE,
            "failurePolicy": "Ignore",
        },
    },
    "plain_container": {
        "mcpServer": MCP_IMAGE,
        "sidecar": {"native": False},
    },
}
