# SPDX-License-Identifier: Apache-2.0
"""The durability and grace-window keys: defaults by topology, and bad values named by key path."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.config import ConfigError, load_config_data
from sidecar.config.auth_server import RedisStorage
from tests.authserver.flow import mode_b_raw

SENTINEL = {"sentinel_config": {"master_name": "m", "sentinel_addrs": ["s1:26379", "s2:26379"]}}


def _storage(redis_config: dict[str, Any]) -> dict[str, Any]:
    return {"type": "redis", "redis_config": redis_config}


def _issues(raw: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_data(raw)
    return [issue.path for issue in info.value.issues if issue.severity == "error"]


@pytest.mark.parametrize(
    ("redis_config", "acks"),
    [
        (SENTINEL, 1),
        ({**SENTINEL, "min_replicas_acks": 0}, 0),
        ({**SENTINEL, "min_replicas_acks": 2}, 2),
        ({"addr": "redis:6379"}, 0),
        ({"addr": "redis:6379", "min_replicas_acks": 1}, 1),
        ({"addr": "redis:6379", "cluster_mode": True}, 0),
    ],
)
def test_writes_wait_for_a_replica_by_default_only_with_sentinel(
    redis_config: dict[str, Any], acks: int
) -> None:
    """A Sentinel setup fails over to a replica, so by default a write waits until one holds it."""
    storage = load_config_data(mode_b_raw(storage=_storage(redis_config))).auth_server
    assert storage is not None
    assert isinstance(storage.storage, RedisStorage)
    assert storage.storage.redis_config.replicas_acks == acks


@pytest.mark.parametrize(
    ("auth_server", "path"),
    [
        (
            {"storage": _storage({**SENTINEL, "min_replicas_acks": 6})},
            "auth_server.storage.redis_config.min_replicas_acks",
        ),
        (
            {"storage": _storage({**SENTINEL, "min_replicas_acks": -1})},
            "auth_server.storage.redis_config.min_replicas_acks",
        ),
        (
            {"storage": _storage({"addr": "redis:6379", "cluster_mode": True, "min_replicas_acks": 1})},
            "auth_server.storage.redis_config.min_replicas_acks",
        ),
        ({"refresh_grace_period": "61s"}, "auth_server.refresh_grace_period"),
    ],
)
def test_bad_durability_or_grace_values_name_their_key(auth_server: dict[str, Any], path: str) -> None:
    """Out of range, or replica acknowledgements on a Cluster: refused by key path."""
    assert _issues(mode_b_raw(**auth_server)) == [path]


def test_grace_window_is_five_seconds_by_default_and_zero_turns_it_off() -> None:
    """refresh_grace_period: 5s unless set; 0s is accepted (strict reuse detection)."""
    default = load_config_data(mode_b_raw()).auth_server
    off = load_config_data(mode_b_raw(refresh_grace_period="0s")).auth_server
    assert default is not None
    assert off is not None
    assert (default.refresh_grace_period, off.refresh_grace_period) == (5.0, 0.0)
