# SPDX-License-Identifier: Apache-2.0
"""Upstream identity providers users log in with: ``oidc`` (any OpenID Provider) and
``static`` (local users with scrypt hashes and a login page, for demos and small setups)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from sidecar.storage.records import UpstreamTokens, UserInfo


@dataclass(frozen=True, slots=True)
class UpstreamResult:
    user: UserInfo
    tokens: UpstreamTokens | None


def internal_user_id(provider: str, subject: str) -> str:
    """A stable subject that does not expose the upstream's (same provider + subject, same id)."""
    digest = hashlib.sha256(f"{provider}\0{subject}".encode()).digest()
    return "u-" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()[:32]
