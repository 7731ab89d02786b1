# SPDX-License-Identifier: Apache-2.0
"""``mcp-sidecar inject-webhook`` as a real process on loopback, over real TLS (a CA and a server
certificate made here), answering AdmissionReview v1 requests as the API server sends them."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import kubernetes_validate
import pytest
import yaml

from tests.charts.rendering import KUBERNETES
from tests.support import Process, free_port, run_cli
from tests.webhook.certificates import TlsFiles, make_tls_files
from tests.webhook.reviews import IMAGE, INJECT, Object, patch_of, patched, pod, review, sidecar_of


@dataclass(frozen=True)
class Webhook:
    url: str
    tls: TlsFiles
    log: Path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def webhook_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = tmp_path_factory.mktemp("config") / "webhook.yaml"
    config.write_text(yaml.safe_dump({"sidecar": {"image": IMAGE}}))
    return config


@pytest.fixture(scope="module")
def webhook(
    tls: TlsFiles, webhook_config: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Webhook]:
    """The real command on a free loopback port, its output kept in a file."""
    port = free_port()
    log = tmp_path_factory.mktemp("log") / "webhook.log"
    args = [
        "-m", "sidecar", "inject-webhook", "--config", str(webhook_config), "--host", "127.0.0.1",
        "--port", str(port), "--tls-cert-file", str(tls.server_cert), "--tls-key-file", str(tls.server_key),
    ]  # fmt: skip
    with log.open("wb") as output:
        # A sync fixture (one process for the module): its start-up wait runs on a loop of its own.
        process = asyncio.run(Process.start(args, port, stdout=output, stderr=output))
        yield Webhook(f"https://127.0.0.1:{port}", tls, log)
        process.stop()


@pytest.fixture
async def client(webhook: Webhook) -> AsyncIterator[aiohttp.ClientSession]:
    """A client that trusts the test CA only, as the API server trusts the caBundle."""
    trust = ssl.create_default_context(cafile=str(webhook.tls.ca_cert))
    async with aiohttp.ClientSession(
        base_url=webhook.url, connector=aiohttp.TCPConnector(ssl=trust)
    ) as session:
        yield session


async def _mutate(client: aiohttp.ClientSession, obj: Object) -> Object:
    async with client.post("/mutate", json=review(obj, uid="9a1f-uid")) as resp:
        assert resp.status == 200
        answer: Object = await resp.json()
    assert answer["apiVersion"] == "admission.k8s.io/v1"
    assert answer["kind"] == "AdmissionReview"
    assert answer["response"]["uid"] == "9a1f-uid"
    return answer


async def test_annotated_pod_is_patched_into_a_valid_pod_with_a_native_sidecar(
    client: aiohttp.ClientSession,
) -> None:
    """The answer's base64 JSONPatch, applied, gives a valid pod with the native sidecar."""
    answer = await _mutate(client, pod(INJECT))
    assert answer["response"]["allowed"] is True
    obj = patched(pod(INJECT), answer)
    kubernetes_validate.validate(obj, KUBERNETES, strict=True)
    sidecar = sidecar_of(obj)
    assert sidecar["restartPolicy"] == "Always"
    assert sidecar["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert sidecar["livenessProbe"]["httpGet"]["path"] == "/health"


async def test_unannotated_pod_is_allowed_untouched(client: aiohttp.ClientSession) -> None:
    """No annotation: allowed, no patch."""
    answer = await _mutate(client, pod())
    assert answer["response"] == {"uid": "9a1f-uid", "allowed": True}


async def test_already_injected_pod_is_allowed_untouched(client: aiohttp.ClientSession) -> None:
    """A pod that has the sidecar is not patched a second time."""
    once = patched(pod(INJECT), await _mutate(client, pod(INJECT)))
    answer = await _mutate(client, once)
    assert answer["response"]["allowed"] is True
    assert patch_of(answer) == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        json.dumps({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}).encode(),
    ],
)
async def test_malformed_review_is_a_clear_400(client: aiohttp.ClientSession, body: bytes) -> None:
    """Not an AdmissionReview v1: 400 with a JSON body saying what is wrong, never a 500."""
    async with client.post("/mutate", data=body, headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 400
        error = await resp.json()
    assert error["error"] == "malformed_admission_review"
    assert error["detail"]


async def test_health_answers_ok(client: aiohttp.ClientSession) -> None:
    """/health answers 200 (the chart's probes ask it over HTTPS)."""
    async with client.get("/health") as resp:
        assert resp.status == 200


async def test_plain_http_gets_no_answer(webhook: Webhook) -> None:
    """The listener speaks TLS only."""
    async with aiohttp.ClientSession() as plain:
        with pytest.raises(aiohttp.ClientError):
            async with plain.get(webhook.url.replace("https:", "http:") + "/health") as resp:
                await resp.read()


async def test_log_names_requests_but_never_the_pod(client: aiohttp.ClientSession, webhook: Webhook) -> None:
    """Each review is one `admission_reviewed` event; a pod's env values never reach the log."""
    await _mutate(client, pod(INJECT))
    text = webhook.log.read_text()
    events = [json.loads(line) for line in text.splitlines()]
    reviewed = [event for event in events if event["event"] == "admission_reviewed"]
    assert reviewed
    assert reviewed[-1]["uid"] == "9a1f-uid"
    assert reviewed[-1]["injected"] is True
    assert "s3cr3t-value-never-logged" not in text


def test_unreadable_tls_files_exit_2(webhook_config: Path, tmp_path: Path) -> None:
    """A missing certificate is a configuration error naming the flags (exit 2), not a traceback."""
    result = run_cli(
        "inject-webhook", "--config", str(webhook_config),
        "--tls-cert-file", str(tmp_path / "missing.crt"), "--tls-key-file", str(tmp_path / "missing.key"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "--tls-cert-file" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_exits_2_naming_the_key(tls: TlsFiles, tmp_path: Path) -> None:
    """A config without the sidecar image's tag names sidecar.image.tag."""
    config = tmp_path / "webhook.yaml"
    config.write_text("sidecar: {image: {repository: ghcr.io/example/mcp-auth-sidecar}}\n")
    result = run_cli(
        "inject-webhook", "--config", str(config),
        "--tls-cert-file", str(tls.server_cert), "--tls-key-file", str(tls.server_key),
    )  # fmt: skip
    assert result.returncode == 2
    assert "sidecar.image.tag" in result.stderr


def test_port_in_use_exits_3(webhook: Webhook, webhook_config: Path) -> None:
    """The port of a running webhook cannot be opened again: exit 3, one line, as for serve."""
    port = webhook.url.rsplit(":", 1)[1]
    result = run_cli(
        "inject-webhook", "--config", str(webhook_config), "--host", "127.0.0.1", "--port", port,
        "--tls-cert-file", str(webhook.tls.server_cert), "--tls-key-file", str(webhook.tls.server_key),
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "cannot listen on 127.0.0.1" in result.stderr
