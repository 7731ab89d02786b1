# SPDX-License-Identifier: Apache-2.0
"""Secrets and keys, read once by the loader and carried in ``Settings.secrets``.

A secret comes from a file (``*_file``) or an environment variable (``*_env``), never inline.
This module holds the loaded values and the two low-level reads; ``material.py`` decides what to
read for which key. Values are never logged, put in an error message or shown by ``repr``.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from sidecar.config.keyfiles import SigningKey


class SecretError(Exception):
    """A secret source is missing, unreadable or empty; the message names the source only."""


@dataclass(frozen=True, slots=True)
class Secrets:
    """Everything the settings point to in files and variables, as read at load.

    ``signing_key`` is None when no key file is configured (the server then makes an ephemeral
    one); ``upstream_secrets`` lines up with ``auth_server.upstreams``, ``backend_secrets`` with
    ``backends`` (the ``header_injection`` value or the ``token_exchange`` client secret).
    """

    introspection_secret: str | None = field(default=None, repr=False)
    signing_key: SigningKey | None = field(default=None, repr=False)
    fallback_keys: tuple[SigningKey, ...] = field(default=(), repr=False)
    hmac_secrets: tuple[bytes, ...] = field(default=(), repr=False)
    upstream_secrets: tuple[str | None, ...] = field(default=(), repr=False)
    backend_secrets: tuple[str | None, ...] = field(default=(), repr=False)
    redis_username: str | None = field(default=None, repr=False)
    redis_password: str | None = field(default=None, repr=False)
    redis_ca_cert: bytes | None = field(default=None, repr=False)
    # Not a secret, but read at load like them: incoming_auth.authz.policies_file.
    policy_file_text: str | None = field(default=None, repr=False)
    initial_access_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class SecretFile:
    data: bytes = field(repr=False)
    mode: int  # permission bits of the file that was read, not of one looked up again
    gid: int

    @property
    def exposed_to(self) -> str | None:
        """Who else may read or write it: ``others``, a group this process is not in, or None.

        A group of this process's own is fine: on Kubernetes the pod's ``fsGroup`` is how a
        non-root sidecar reads a Secret volume at all (the kubelet makes its files 0440).
        """
        if self.mode & stat.S_IRWXO:
            return "others"
        if self.mode & stat.S_IRWXG and self.gid not in {os.getegid(), *os.getgroups()}:
            return f"group {self.gid}, which this process is not in"
        return None


def read_secret_file(path: Path, what: str) -> SecretFile:
    """The bytes and mode of one open file, so the mode checked is that of the bytes used."""
    try:
        with path.open("rb") as file:
            status = os.fstat(file.fileno())
            return SecretFile(file.read(), stat.S_IMODE(status.st_mode), status.st_gid)
    except OSError as exc:
        raise SecretError(f"cannot read {what} {str(path)!r}: {exc.strerror}") from None


def read_secret_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SecretError(f"environment variable {name} is not set or empty")
    return value
