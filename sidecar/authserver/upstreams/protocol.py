# SPDX-License-Identifier: Apache-2.0
"""What every upstream identity provider gives the authorization server (``Upstream``), and how
it fails.

    UpstreamError               an upstream could not do what was asked; the message is safe to log
      ├─ WrongCredentials       the login form's username or password is wrong (``static``)
      ├─ UpstreamRefused        the provider refused a refresh (RFC 6749 §5.2, e.g. invalid_grant):
      │                         the user must log in again, so outgoing auth answers 401
      └─ UpstreamUnavailable    the provider cannot be reached or did not answer usefully: 503

The login itself (``complete``) raises ``OAuthError``s (``AccessDenied``,
``TemporarilyUnavailable``), because the flow sends them on to the client's redirect URI as they are.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from sidecar.storage.records import UpstreamTokens, UserInfo


class UpstreamError(Exception):
    """An upstream could not do what was asked."""


class WrongCredentials(UpstreamError):
    """The login form's username or password is wrong."""


class UpstreamRefused(UpstreamError):
    """The provider refused the request: retrying will not help, the user must log in again."""


class UpstreamUnavailable(UpstreamError):
    """The provider cannot be reached or answered with an error of its own: retry later."""


@dataclass(frozen=True, slots=True)
class UpstreamStart:
    """Where the user goes to log in: the provider's authorization URL, or ``None`` for the
    built-in login form; ``remembered`` is kept with the pending authorization for ``complete``."""

    authorization_url: str | None
    remembered: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UpstreamResult:
    """Who logged in, and the user's tokens at the provider (none for the login form)."""

    user: UserInfo
    tokens: UpstreamTokens | None


class Upstream(Protocol):
    """An identity provider users log in with, found by its configured ``name``."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> Literal["form", "redirect"]:
        """``form``: the built-in login page; ``redirect``: the user goes to the provider."""
        ...

    async def begin(self, state: str) -> UpstreamStart:
        """Start a login; ``state`` identifies the pending authorization at the callback."""
        ...

    async def complete(self, params: Mapping[str, str], remembered: Mapping[str, str]) -> UpstreamResult:
        """Who logged in: from the callback's query (redirect), or the login form's fields (form,
        raising ``WrongCredentials``); ``remembered`` is what ``begin`` asked to keep."""
        ...

    async def refresh(self, tokens: UpstreamTokens) -> UpstreamTokens:
        """New tokens from the provider (RFC 6749 §6); ``UpstreamRefused`` or ``UpstreamUnavailable``."""
        ...


def internal_user_id(provider: str, subject: str) -> str:
    """A stable subject that does not expose the upstream's (same provider + subject, same id)."""
    digest = hashlib.sha256(f"{provider}\0{subject}".encode()).digest()
    return "u-" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()[:32]
