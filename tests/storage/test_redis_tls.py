# SPDX-License-Identifier: Apache-2.0
"""TLS to Redis, through the configuration path: the server is verified against the configured
CA, a server signed by another CA is refused, and insecure_skip_verify accepts it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidecar.config import load_config_data
from sidecar.config.auth_server import RedisStorage as RedisSettings
from sidecar.storage.factory import redis_client
from sidecar.storage.protocol import StorageError
from tests.authserver.flow import mode_b_raw
from tests.redis_servers import RedisNode
from tests.storage.conftest import Clock, Events, redis_storage
from tests.storage.test_contract import client
from tests.support import free_port
from tests.webhook.certificates import TlsFiles, make_tls_files


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, TlsFiles]]:
    """A redis-server that also listens with TLS (its plain port only tells the test it is up)."""
    files, tls_port = make_tls_files(tmp_path), free_port()
    node = RedisNode(
        free_port(),
        tmp_path,
        (
            "--tls-port",
            str(tls_port),
            "--tls-cert-file",
            str(files.server_cert),
            "--tls-key-file",
            str(files.server_key),
            "--tls-ca-cert-file",
            str(files.ca_cert),
            "--tls-auth-clients",
            "no",
        ),
    ).start()
    yield tls_port, files
    node.stop()


async def _store_answers(port: int, tls: dict[str, Any]) -> bool:
    settings = load_config_data(
        mode_b_raw(storage={"type": "redis", "redis_config": {"addr": f"127.0.0.1:{port}", "tls": tls}})
    )
    assert settings.auth_server is not None
    assert isinstance(settings.auth_server.storage, RedisSettings)
    clock = Clock()
    store = redis_storage(
        redis_client(settings.auth_server.storage.redis_config, settings.secrets), clock, Events()
    )
    try:
        await store.check()
        known = client(clock.now)
        assert await store.add_client(known, clock.now)
        assert await store.get_client(known.client_id, clock.now) == known
    except StorageError:
        return False
    finally:
        await store.close()
    return True


async def test_redis_over_tls_verifies_the_server_against_the_configured_ca(
    tls_redis: tuple[int, TlsFiles], tmp_path: Path
) -> None:
    port, files = tls_redis
    assert await _store_answers(port, {"ca_cert_file": str(files.ca_cert)})
    (tmp_path / "elsewhere").mkdir()
    stranger = make_tls_files(tmp_path / "elsewhere")
    assert not await _store_answers(port, {"ca_cert_file": str(stranger.ca_cert)})


async def test_insecure_skip_verify_accepts_any_server_certificate(
    tls_redis: tuple[int, TlsFiles], tmp_path: Path
) -> None:
    port, _files = tls_redis
    (tmp_path / "elsewhere").mkdir()
    stranger = make_tls_files(tmp_path / "elsewhere")
    assert await _store_answers(port, {"ca_cert_file": str(stranger.ca_cert), "insecure_skip_verify": True})
