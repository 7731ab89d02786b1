# SPDX-License-Identifier: Apache-2.0
"""Consent: the user's approval of a client, what the consent page shows, and the rules that
keep the approval the user's own.

SECURITY (MCP security best practices, "Confused Deputy"): no code reaches a client the user has
not approved on this server's own page, whatever the upstream remembers. The page names the
client (and warns when that name is only the client's own claim), the host its code goes to, the
resource, the scopes and the upstream. Its form is bound to the pending request twice: the
browser-binding cookie (SameSite=Lax, RFC 9700 §4.7) and a CSRF token, the HMAC of the pending
request's id; a post a browser marks ``Sec-Fetch-Site: cross-site`` is refused by the handler
(GHSA-6x8h-498w-gv8c); pages are never framed (``web.common.PAGE_HEADERS``). Nothing of it needs a
third-party cookie, so it works in an embedded webview.

Approvals are remembered through the storage protocol per (user, client), for
``auth_server.consent_lifetime``; a later request with the same or fewer scopes skips the page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from sidecar.authserver.cimd import is_document_url
from sidecar.authserver.keys import OpaqueTokens
from sidecar.storage.protocol import Storage
from sidecar.storage.records import Client, PendingAuthorization

_CSRF = "consent-csrf"
_KNOWN_USER = "known-user"


@dataclass(frozen=True, slots=True)
class Consents:
    storage: Storage
    lifetime: float  # 0: never remembered
    clock: Callable[[], float]

    async def covers(self, user_id: str, client_id: str, scopes: tuple[str, ...]) -> bool:
        """Whether the user's remembered approval of the client includes every scope asked."""
        if self.lifetime <= 0:
            return False
        allowed = await self.storage.get_consent(user_id, client_id, self.clock())
        return allowed is not None and set(scopes) <= set(allowed)

    async def remember(self, user_id: str, client_id: str, scopes: tuple[str, ...]) -> None:
        if self.lifetime > 0:
            await self.storage.put_consent(user_id, client_id, scopes, self.clock() + self.lifetime)


def csrf_token(opaque: OpaqueTokens, pending_id: str) -> str:
    return opaque.tag(_CSRF, pending_id)


def csrf_valid(opaque: OpaqueTokens, pending_id: str, presented: str | None) -> bool:
    return presented is not None and opaque.check_tag(_CSRF, pending_id, presented)


def known_user_cookie(opaque: OpaqueTokens, user_id: str) -> str:
    """The value of the cookie that tells, at the next authorization, whose remembered approvals
    may let this browser skip the consent page before an upstream login: the user id with its
    MAC (a fixed size, whatever the number of approvals; those stay in the store)."""
    return f"{user_id}.{opaque.tag(_KNOWN_USER, user_id)}"


def known_user(opaque: OpaqueTokens, cookie: str | None) -> str | None:
    """The user id of a cookie this server set, else None."""
    user_id, _, mac = (cookie or "").rpartition(".")
    return user_id if user_id and mac and opaque.check_tag(_KNOWN_USER, user_id, mac) else None


def page_context(
    client: Client | None, pending: PendingAuthorization, *, csrf: str, upstream: str
) -> Mapping[str, str | None]:
    """What the login and consent pages show: the client chose its name; the redirect URI's
    host, and a CIMD client's own host, are what the user can check."""
    verified_host = urlsplit(pending.client_id).hostname if is_document_url(pending.client_id) else None
    return {
        "request_id": pending.id,
        "csrf": csrf,
        "client_name": (client.client_name if client else None) or verified_host or "An application",
        "client_host": verified_host,
        # A registered client's name is whatever it registered: say so.
        "unverified": None if verified_host else "yes",
        "redirect_host": urlsplit(pending.redirect_uri).netloc or pending.redirect_uri.split(":", 1)[0],
        "resource": pending.resource,
        "scopes": " ".join(pending.scopes),
        "upstream": upstream,
        "signed_in": "yes" if pending.user is not None else None,
    }
