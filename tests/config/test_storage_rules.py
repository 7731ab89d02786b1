# SPDX-License-Identifier: Apache-2.0
"""auth_server.storage: a Redis configuration that cannot work stops start-up, each problem by
its key path; one that can loads into typed settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sidecar.config import load_config_data
from sidecar.config.auth_server import RedisStorage
from sidecar.config.errors import ConfigError
from sidecar.config.rules_storage import split_addr
from tests.authserver.flow import mode_b_raw

WHERE = "auth_server.storage.redis_config"


def _redis(**redis_config: Any) -> dict[str, Any]:
    return mode_b_raw(storage={"type": "redis", "redis_config": redis_config})


def _problems(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_config_data(raw)
    return {issue.path: issue.problem for issue in caught.value.issues if issue.severity == "error"}


@pytest.mark.parametrize(
    ("redis_config", "path", "words"),
    [
        ({}, WHERE, "exactly one of addr and sentinel_config"),
        (
            {"addr": "r:6379", "sentinel_config": {"master_name": "m", "sentinel_addrs": ["s:26379"]}},
            WHERE,
            "exactly one",
        ),
        ({"addr": "redis"}, f"{WHERE}.addr", "not host:port"),
        ({"addr": "redis:99999"}, f"{WHERE}.addr", "not host:port"),
        ({"addr": "user@redis:6379"}, f"{WHERE}.addr", "not host:port"),
        ({"addr": "r:6379", "key_prefix": "mcp:"}, f"{WHERE}.key_prefix", "no hash tag"),
        ({"addr": "r:6379", "read_timeout": "0s"}, f"{WHERE}.read_timeout", "more than 0s"),
        ({"addr": "r:6379", "pool_size": 0}, f"{WHERE}.pool_size", "between 1 and 10000"),
        (
            {"addr": "r:6379", "acl_user_config": {"username_env_var": "U"}},
            f"{WHERE}.acl_user_config",
            "password",
        ),
        (
            {"sentinel_config": {"master_name": "m", "sentinel_addrs": []}},
            f"{WHERE}.sentinel_config.sentinel_addrs",
            "at least one",
        ),
        (
            {"sentinel_config": {"master_name": "m", "sentinel_addrs": ["s:26379"]}, "cluster_mode": True},
            f"{WHERE}.cluster_mode",
            "sentinel_config",
        ),
        ({"addr": "r:6379", "tls": {"ca_cert_file": "/nonexistent/ca.pem"}}, f"{WHERE}.tls.ca_cert_file", ""),
    ],
)
def test_redis_config_that_cannot_work_is_refused_by_key_path(
    redis_config: dict[str, Any], path: str, words: str
) -> None:
    problems = _problems(_redis(**redis_config))
    assert path in problems, problems
    assert words in problems[path]


def test_acl_password_file_and_env_together_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret")
    problems = _problems(
        _redis(addr="r:6379", acl_user_config={"password_file": str(secret), "password_env_var": "P"})
    )
    assert problems[f"{WHERE}.acl_user_config.password_file"] == "is set together with password_env_var"


def test_redis_settings_load_with_credentials_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ACL password comes from its file at load, into the typed secrets, never into repr."""
    secret = tmp_path / "password"
    secret.write_text("s3cret-password\n")
    secret.chmod(0o600)
    monkeypatch.setenv("REDIS_USER", "sidecar")
    settings = load_config_data(
        _redis(
            addr="[::1]:6380",
            key_prefix="mcp:{team-a}:",
            acl_user_config={"username_env_var": "REDIS_USER", "password_file": str(secret)},
        )
    )
    assert settings.auth_server is not None
    storage = settings.auth_server.storage
    assert isinstance(storage, RedisStorage)
    assert split_addr(storage.redis_config.addr or "") == ("::1", 6380)
    assert (settings.secrets.redis_username, settings.secrets.redis_password) == (
        "sidecar",
        "s3cret-password",
    )
    assert "s3cret" not in repr(settings)
