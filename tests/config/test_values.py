# SPDX-License-Identifier: Apache-2.0
"""The scalar value rules shared by the configuration and the request path."""

from __future__ import annotations

import pytest

from sidecar.authserver.redirect_uris import is_registrable
from sidecar.config import ConfigError, load_config_data
from sidecar.config.values import is_loopback_host
from sidecar.proxy.origin import OriginPolicy

LOOPBACK_TABLE = [
    ("localhost", True),
    ("LocalHost", True),
    ("127.0.0.1", True),
    ("127.8.9.10", True),  # all of 127.0.0.0/8
    ("::1", True),
    ("0:0:0:0:0:0:0:1", True),
    ("::ffff:127.0.0.1", True),  # IPv4-mapped
    (None, False),
    ("", False),
    ("localhost.example.com", False),  # names are never resolved or suffix-matched
    ("127.0.0.1.nip.io", False),
    ("localhost.", False),
    ("127.1", False),  # not an IP literal Python reads; never resolved either
    ("0.0.0.0", False),
    ("::", False),
    ("10.0.0.1", False),
    ("::ffff:10.0.0.1", False),
    ("[::1]", False),  # a host name, never a bracketed authority
]


@pytest.mark.parametrize(("host", "loopback"), LOOPBACK_TABLE)
def test_loopback_host_table(host: str | None, loopback: bool) -> None:
    """Loopback is ``localhost`` or a loopback IP literal, nothing that merely looks like one."""
    assert is_loopback_host(host) is loopback


def _authority(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _backend_url_allowed(url: str) -> bool:
    try:
        load_config_data({"backends": [{"name": "b", "url": url, "path": "/mcp"}]})
    except ConfigError as error:
        issues = [issue.path for issue in error.issues]
    else:
        return True
    assert issues == ["backends[0].url"]
    return False


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1", "127.8.9.10", "::1", "10.0.0.1", "app.example.com", "127.0.0.1.nip.io"]
)
def test_one_loopback_rule_for_backends_redirect_uris_and_origins(host: str) -> None:
    """Backend URLs, http redirect URIs and the default loopback Origins agree on loopback."""
    authority = f"{_authority(host)}:3000"
    origins = OriginPolicy([], public_url=None)
    assert (
        is_loopback_host(host)
        == _backend_url_allowed(f"http://{authority}/mcp")
        == is_registrable(f"http://{authority}/cb")
        == origins.allows(f"http://{authority}")
    )
