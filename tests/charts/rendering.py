# SPDX-License-Identifier: Apache-2.0
"""Render the Helm chart with Helm's own Go code (helm-python-sdk embeds Helm v4), and lay out the
files a rendered pod would see, so the real `mcp-sidecar check-config` can read them."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import helm_python as helm
import yaml

from tests.support import run_cli

ROOT = Path(__file__).resolve().parent.parent.parent
CHART = ROOT / "charts" / "mcp-sidecar"
RELEASE = "demo"
NAMESPACE = "mcp"
# Rendered objects are checked against this Kubernetes' schemas: a recent one (native sidecars,
# which the chart needs, are on by default since 1.29).
KUBERNETES = "1.33"
# The oldest Kubernetes the chart allows (Chart.yaml's kubeVersion: ">=1.29.0-0").
OLDEST_KUBERNETES = re.sub(
    r"^>=(\d+\.\d+).*", r"\1", yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
)
# The folder of config.yaml in the sidecar container; the rendered config names key files
# relative to it.
CONFIG_DIR = PurePosixPath("/etc/mcp-sidecar")

Object = dict[str, Any]
# The label of the injection webhook's objects (webhook.enabled), which are not the app's.
COMPONENT = "app.kubernetes.io/component"
WEBHOOK = "inject-webhook"


@dataclass(frozen=True)
class Rendered:
    """What `helm install` would send to the API server, and the NOTES it would print."""

    objects: list[Object]
    notes: str

    def all(self, kind: str) -> list[Object]:
        """The app's objects of ``kind`` (not the injection webhook's)."""
        return [obj for obj in self.objects if obj["kind"] == kind and not _is_webhook(obj)]

    def webhook(self, kind: str) -> Object:
        """The injection webhook's object of ``kind``."""
        (found,) = [obj for obj in self.objects if obj["kind"] == kind and _is_webhook(obj)]
        return found

    def one(self, kind: str) -> Object:
        (found,) = self.all(kind)
        return found

    @property
    def pod(self) -> Object:
        spec: Object = self.one("Deployment")["spec"]["template"]
        return spec

    @property
    def sidecar(self) -> Object:
        """The sidecar container, wherever it is in the pod."""
        spec = self.pod["spec"]
        containers = [*spec.get("initContainers", []), *spec["containers"]]
        found: list[Object] = [c for c in containers if c["name"] == "mcp-sidecar"]
        (sidecar,) = found
        return sidecar

    @property
    def config_text(self) -> str:
        """config.yaml of the ConfigMap the sidecar mounts."""
        (volume,) = [v for v in self.pod["spec"]["volumes"] if v["name"] == "mcp-sidecar-config"]
        name = volume["configMap"]["name"]
        (found,) = [c for c in self.all("ConfigMap") if c["metadata"]["name"] == name]
        text: str = found["data"]["config.yaml"]
        return text

    @property
    def sidecar_config(self) -> Object:
        config: Object = yaml.safe_load(self.config_text)
        return config


def _is_webhook(obj: Object) -> bool:
    return bool(obj["metadata"].get("labels", {}).get(COMPONENT) == WEBHOOK)


def render(values: Object, chart: Path = CHART) -> Rendered:
    """Render like `helm install --dry-run`: values checked against values.schema.json, templates
    rendered offline. Raises helm_python.HelmError when Helm refuses the values."""
    with helm.Chart.load(chart) as loaded:
        manifests = loaded.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects: list[Object] = []
    notes = ""
    for name, text in sorted(manifests.items()):
        if name.endswith("NOTES.txt"):
            notes = text
        else:
            objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return Rendered(objects, notes)


def _key_file(directory: str, name: str, folder: Path) -> bytes:
    """A real file of the kind the Secret mounted at secrets/<directory> holds."""
    if directory in {"signing", "hmac"}:
        made = run_cli("keygen", "--out", str(folder / name), *(["--hmac"] if directory == "hmac" else []))
        assert made.returncode == 0, made.stderr
        data = (folder / name).read_bytes()
        (folder / name).unlink()
        return data
    if name.endswith(".crt"):
        # check-config reads a CA certificate file and checks that it holds a PEM certificate.
        return b"-----BEGIN CERTIFICATE-----\nplaceholder\n-----END CERTIFICATE-----\n"
    return f"placeholder {directory} {name}\n".encode()


def lay_out_pod_files(rendered: Rendered, root: Path) -> Path:
    """Write config.yaml and every file of the sidecar's Secret volumes where the pod would have
    them (/etc/mcp-sidecar -> root), with the modes the kubelet gives them; returns config.yaml."""
    volumes = {volume["name"]: volume for volume in rendered.pod["spec"]["volumes"]}
    # With a pod fsGroup the kubelet makes read-only volume files group-readable (mode | 0440),
    # so that a user other than the owner (root) can read them.
    group_read = 0o440 if rendered.pod["spec"].get("securityContext", {}).get("fsGroup") else 0
    for mount in rendered.sidecar["volumeMounts"]:
        secret = volumes[mount["name"]].get("secret")
        if secret is None:
            continue
        relative = PurePosixPath(mount["mountPath"]).relative_to(CONFIG_DIR)
        folder = root / relative
        folder.mkdir(parents=True, exist_ok=True)
        for item in secret["items"]:
            path = folder / item["path"]
            path.write_bytes(_key_file(relative.name, item["path"], folder))
            path.chmod(secret["defaultMode"] | group_read)
    config = root / "config.yaml"
    config.write_text(rendered.config_text)
    return config


def check_config(config: Path) -> subprocess.CompletedProcess[str]:
    """The real `mcp-sidecar check-config` on a rendered file."""
    return run_cli("check-config", "--config", str(config))
