# SPDX-License-Identifier: Apache-2.0
"""Client ID Metadata Documents (MCP SEP-991, draft-ietf-oauth-client-id-metadata-document-00):
a ``client_id`` that is an https URL names the client's metadata, fetched from that URL.

The rules are pure functions (:func:`check_document_url`, :func:`client_from_document`,
:func:`cache_lifetime`); :class:`ClientDocuments` fetches through the guarded outbound client and
caches per process; :func:`find_client` is where the flow and the token endpoint look a client
up, so both see the same client. Every refusal is a :class:`ClientDocumentRefused` whose message
names the rule, shown on the error page: a client whose document fails is never redirected to.
"""

from __future__ import annotations

import email.utils
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import structlog

from sidecar.authserver.errors import ClientDocumentRefused, InvalidClientMetadata, InvalidRedirectUri
from sidecar.authserver.registration import check_metadata
from sidecar.config.auth_server import CimdConfig
from sidecar.outbound import (
    OutboundBadResponse,
    OutboundClient,
    OutboundError,
    OutboundPolicy,
    OutboundRefused,
)
from sidecar.storage.protocol import Storage
from sidecar.storage.records import Client

log = structlog.get_logger("sidecar.authserver.cimd")

MAX_DOCUMENT_BYTES = 5 * 1024  # documents are a few hundred bytes; FastMCP caps at 5 KB
FETCH_TIMEOUT = 5.0
MAX_URL_LENGTH = 2000
MIN_TTL, MAX_TTL = 30.0, 86400.0  # clamps of any header lifetime (as oidc-provider does)
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)", re.IGNORECASE)


def is_document_url(client_id: str) -> bool:
    """A URL-shaped client id (registered client ids are random and never contain ``://``)."""
    return client_id.startswith(("https://", "http://"))


def check_document_url(url: str, config: CimdConfig) -> OutboundPolicy:
    """The URL rules of the draft (§3), or ClientDocumentRefused; returns how to fetch it."""
    if len(url) > MAX_URL_LENGTH:
        raise ClientDocumentRefused(f"the client_id URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        raise ClientDocumentRefused("the client_id is not a valid URL") from None
    loopback = config.insecure_allow_loopback and host in _LOOPBACK_HOSTS
    if parts.scheme != "https" and not (loopback and parts.scheme == "http"):
        raise ClientDocumentRefused("the client_id URL must use https")
    if parts.username is not None or parts.password is not None:
        raise ClientDocumentRefused("the client_id URL must not carry user information")
    if parts.fragment or url.endswith("#"):
        raise ClientDocumentRefused("the client_id URL must not have a fragment")
    if parts.path in ("", "/"):
        raise ClientDocumentRefused("the client_id URL must have a path")
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        raise ClientDocumentRefused("the client_id URL must not contain . or .. path segments")
    if config.allowed_hosts and host not in {h.lower() for h in config.allowed_hosts}:
        raise ClientDocumentRefused(f"client metadata documents from {host} are not accepted here")
    # SECURITY (SSRF): only the development switch lets a document come from loopback.
    return OutboundPolicy(allow_http=True, allow_private=True) if loopback else OutboundPolicy()


def client_from_document(
    url: str, document: object, *, scopes_supported: tuple[str, ...], now: float
) -> Client:
    """The client a fetched document describes, or ClientDocumentRefused naming the rule."""
    if not isinstance(document, dict):
        raise ClientDocumentRefused("the client metadata document is not a JSON object")
    # Draft §4.1: the document's client_id is the URL it was fetched from, exactly.
    if document.get("client_id") != url:
        raise ClientDocumentRefused("the document's client_id is not exactly the URL it was fetched from")
    # Draft §4.1: a document is public; a shared secret in it would be no secret.
    if "client_secret" in document or "client_secret_expires_at" in document:
        raise ClientDocumentRefused("a client metadata document must not carry a client secret")
    method = document.get("token_endpoint_auth_method", "none")
    if method == "private_key_jwt":
        if not isinstance(document.get("jwks_uri"), str):
            raise ClientDocumentRefused("token_endpoint_auth_method private_key_jwt needs a jwks_uri")
        raise ClientDocumentRefused("private_key_jwt is not supported by this server yet; use none")
    if method != "none":
        raise ClientDocumentRefused("token_endpoint_auth_method must be none or private_key_jwt")
    try:
        checked = check_metadata(document, scopes_supported=scopes_supported, drop_unknown_grants=True)
    except (InvalidClientMetadata, InvalidRedirectUri) as error:
        raise ClientDocumentRefused(f"the client metadata document: {error.description}") from None
    return Client(
        client_id=url,
        redirect_uris=checked.redirect_uris,
        token_endpoint_auth_method="none",  # noqa: S106 - the auth method "none", not a secret
        secret_hash=None,
        grant_types=checked.grant_types,
        application_type=checked.application_type,
        client_name=checked.client_name,
        scope=checked.scope,
        created_at=now,
    )


def cache_lifetime(headers: Mapping[str, str], fallback: float, now: float) -> float:
    """How long to keep a document (draft §6: per HTTP caching), clamped to [30 s, 1 d]: the
    lower bound keeps one authorization from fetching a no-store document at every step."""
    normalized = {name.lower(): value for name, value in headers.items()}
    control = normalized.get("cache-control", "")
    lifetime = fallback
    if _NO_CACHE.search(control):
        lifetime = 0.0
    elif match := _MAX_AGE.search(control):
        lifetime = float(match[1])
    elif "expires" in normalized:
        try:
            lifetime = email.utils.parsedate_to_datetime(normalized["expires"]).timestamp() - now
        except (TypeError, ValueError):
            lifetime = 0.0  # RFC 9111 §5.3: an invalid Expires means already expired
    return min(max(lifetime, MIN_TTL), MAX_TTL)


class ClientDocuments:
    """Fetches and checks documents; keeps the clients they describe in a bounded LRU cache."""

    def __init__(
        self,
        config: CimdConfig,
        outbound: OutboundClient,
        scopes_supported: tuple[str, ...],
        clock: Callable[[], float],
    ) -> None:
        self._config, self._outbound, self._scopes, self._clock = config, outbound, scopes_supported, clock
        self._cache: OrderedDict[str, tuple[Client, float]] = OrderedDict()

    async def get(self, url: str) -> Client:
        now = self._clock()
        cached = self._cache.get(url)
        if cached is not None and cached[1] > now:
            self._cache.move_to_end(url)
            return cached[0]
        self._cache.pop(url, None)
        policy = check_document_url(url, self._config)
        try:
            client, lifetime = await self._fetch(url, policy, now)
        except ClientDocumentRefused as error:
            log.info("client_document_refused", client_id=url, reason=error.description)
            raise
        self._cache[url] = (client, now + lifetime)
        while len(self._cache) > self._config.cache_max_size:
            self._cache.popitem(last=False)
        log.info("client_document_fetched", client_id=url, cached_for=lifetime)
        return client

    async def _fetch(self, url: str, policy: OutboundPolicy, now: float) -> tuple[Client, float]:
        try:
            document, headers = await self._outbound.get_json(
                url, policy, max_body=MAX_DOCUMENT_BYTES, time_limit=FETCH_TIMEOUT
            )
        except OutboundRefused as error:
            raise ClientDocumentRefused(
                f"the client metadata document's address is not allowed: {error}"
            ) from None
        except OutboundBadResponse as error:
            if error.status is not None and 300 <= error.status < 400:
                raise ClientDocumentRefused(
                    "the client metadata document URL redirects; redirects are not followed"
                ) from None
            raise ClientDocumentRefused(f"the client metadata document could not be used: {error}") from None
        except OutboundError as error:
            raise ClientDocumentRefused(
                f"the client metadata document could not be fetched in time or at all: {error}"
            ) from None
        client = client_from_document(url, document, scopes_supported=self._scopes, now=now)
        return client, cache_lifetime(headers, self._config.cache_fallback_ttl, now)


async def find_client(
    storage: Storage, documents: ClientDocuments | None, client_id: str, now: float
) -> Client | None:
    """The client ``client_id`` names: its metadata document when CIMD is on and it is a URL
    (ClientDocumentRefused when that document fails a rule), else the registered client."""
    if documents is not None and is_document_url(client_id):
        return await documents.get(client_id)
    return await storage.get_client(client_id, now)
