# SPDX-License-Identifier: Apache-2.0
"""``server.workers``: what several worker processes need is checked at start-up, by key path,
by ``check-config`` as by ``serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sidecar.config import ConfigError, load_config_data
from tests.authserver.flow import mode_b_raw, shared_key_files
from tests.support import run_cli

BACKEND = {"name": "b", "url": "http://127.0.0.1:3001/mcp", "path": "/mcp"}
REDIS = {"type": "redis", "redis_config": {"addr": "127.0.0.1:6379"}}


def _issue_paths(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_data(raw)
    return [issue.path for issue in info.value.issues if issue.severity == "error"]


def _check_config(tmp_path: Path, raw: dict[str, Any], command: str = "check-config") -> tuple[int, str]:
    config = tmp_path / "sidecar.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = run_cli(command, "--config", str(config))
    return result.returncode, result.stderr


def _mode_b(workers: int, **auth_server: Any) -> dict[str, Any]:
    raw = mode_b_raw(**auth_server)
    raw["server"]["workers"] = workers
    return raw


def test_one_worker_is_the_default() -> None:
    """Without `server.workers` the sidecar is one process, as before."""
    assert load_config_data({"backends": [BACKEND]}).server.workers == 1


@pytest.mark.parametrize("workers", [0, -1, 65])
def test_workers_outside_1_to_64_are_refused(workers: int) -> None:
    """`server.workers` is 1 to 64."""
    assert _issue_paths({"server": {"workers": workers}, "backends": [BACKEND]}) == ["server.workers"]


def test_port_zero_with_several_workers_is_refused() -> None:
    """Each worker binds the port itself, so port 0 would give each its own: refused."""
    assert _issue_paths({"server": {"workers": 2, "port": 0}, "backends": [BACKEND]}) == ["server.port"]


@pytest.mark.parametrize("command", ["check-config", "serve"])
def test_memory_storage_with_two_workers_is_refused_by_check_config(tmp_path: Path, command: str) -> None:
    """In-memory authorization-server state cannot be shared: check-config (and serve, before
    anything starts) names the storage key."""
    code, stderr = _check_config(tmp_path, _mode_b(2, **shared_key_files(tmp_path)), command)
    assert code == 2
    assert "auth_server.storage.type: memory storage cannot be shared by server.workers: 2" in stderr
    assert "use storage: {type: redis" in stderr


def test_ephemeral_signing_key_and_hmac_secret_with_two_workers_are_refused(tmp_path: Path) -> None:
    """Each worker would make its own key and secret; both keys are named, all errors at once."""
    code, stderr = _check_config(tmp_path, _mode_b(2, storage=REDIS))
    assert code == 2
    assert "auth_server.signing_key_config: an ephemeral signing key cannot be shared" in stderr
    assert "auth_server.hmac_secret_files: an ephemeral HMAC secret cannot be shared" in stderr


def test_redis_and_shared_key_files_with_two_workers_pass_check_config(tmp_path: Path) -> None:
    """Redis storage plus a signing key file and an HMAC secret file is a valid scale-out config."""
    code, stderr = _check_config(tmp_path, _mode_b(2, storage=REDIS, **shared_key_files(tmp_path)))
    assert code == 0, stderr


def test_ephemeral_keys_and_memory_storage_stay_fine_with_one_worker() -> None:
    """The refusals are about sharing: one worker may keep its ephemeral key and memory store."""
    assert load_config_data(_mode_b(1)).server.workers == 1
