# SPDX-License-Identifier: Apache-2.0
"""The token endpoint (OAuth 2.1 §3.2, §4.1.3, §4.3), client authentication (§2.4) and token
revocation (RFC 7009), over the storage protocol."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from sidecar.authserver import oidc, pkce
from sidecar.authserver.cimd import ClientDocuments, find_client
from sidecar.authserver.errors import (
    ClientDocumentRefused,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from sidecar.authserver.keys import OpaqueTokens, SigningKeys
from sidecar.authserver.registration import hash_secret
from sidecar.authserver.revocation import Revocations
from sidecar.authserver.tokens import access_token_claims, mint_access_token, verify_own_access_token
from sidecar.storage.protocol import RefreshUse, Storage
from sidecar.storage.records import Client, IssuedTokens, RefreshRecord, UserInfo

_CLIENT_AUTH_FAILED = "client authentication failed"  # one answer for every way it fails


@dataclass(frozen=True, slots=True)
class Lifespans:
    access: float
    refresh: float
    code: float
    refresh_grace: float = 0.0  # a repeat of a used refresh token within it gets the same answer


class TokenService:
    def __init__(
        self,
        *,
        issuer: str,
        keys: SigningKeys,
        opaque: OpaqueTokens,
        storage: Storage,
        revocations: Revocations,
        lifespans: Lifespans,
        clock: Callable[[], float],
        documents: ClientDocuments | None = None,
    ) -> None:
        self._issuer, self._keys, self._opaque = issuer, keys, opaque
        self._documents = documents
        self._storage, self._lifespans, self._clock = storage, lifespans, clock
        self._revocations = revocations

    async def authenticate_client(self, form: Mapping[str, str], authorization: str | None) -> Client:
        """RFC 6749 §2.3 / OAuth 2.1 §2.4: by the method the client registered, and only it."""
        basic = _parse_basic(authorization)
        if basic is not None and "client_secret" in form:
            raise InvalidRequest("use one client authentication method")
        client_id = basic[0] if basic is not None else form.get("client_id")
        if not client_id:
            raise InvalidClient(_CLIENT_AUTH_FAILED)
        try:
            client = await find_client(self._storage, self._documents, client_id, self._clock())
        except ClientDocumentRefused:
            raise InvalidClient(_CLIENT_AUTH_FAILED) from None
        presented, method = (
            (basic[1], "client_secret_basic")
            if basic is not None
            else (
                (form["client_secret"], "client_secret_post") if "client_secret" in form else (None, "none")
            )
        )
        if client is None or client.token_endpoint_auth_method != method:
            raise InvalidClient(_CLIENT_AUTH_FAILED)
        # SECURITY: constant-time compare of the hashes; every failure reads the same.
        if method != "none" and (
            presented is None or not hmac.compare_digest(hash_secret(presented), client.secret_hash or "")
        ):
            raise InvalidClient(_CLIENT_AUTH_FAILED)
        return client

    async def exchange(self, form: Mapping[str, str], client: Client) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return await self._authorization_code(form, client)
        if grant_type == "refresh_token":
            return await self._refresh_token(form, client)
        raise UnsupportedGrantType("grant_type must be authorization_code or refresh_token")

    async def _authorization_code(self, form: Mapping[str, str], client: Client) -> dict[str, Any]:
        code_id = self._opaque.verify(form.get("code", ""))
        now = self._clock()
        grant, replayed = await self._storage.consume_code(code_id, now) if code_id else (None, False)
        if grant is None:
            raise InvalidGrant("the authorization code is invalid or expired")
        if replayed:
            # RFC 9700 §4.2.4 / OAuth 2.1 §4.1.3: a used code came back; revoke what it produced.
            await self._revocations.revoke(grant.session_id, now + self._lifespans.refresh)
            raise InvalidGrant("the authorization code was already used; its tokens are revoked")
        if grant.client_id != client.client_id:
            raise InvalidGrant("the authorization code was issued to another client")
        # OAuth 2.1 §4.1.3 no longer requires redirect_uri here (PKCE binds the code to the
        # client); when it is sent, it must be the one of the authorization request.
        if "redirect_uri" in form and form["redirect_uri"] != grant.redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request")
        pkce.verify(form.get("code_verifier"), grant.code_challenge)
        if "resource" in form and form["resource"] != grant.resource:
            raise InvalidTarget("resource does not match the authorization request")
        response = await self._issue(
            client,
            grant.user,
            grant.scopes,
            grant.resource,
            grant.session_id,
            family_expires_at=now + self._lifespans.refresh,
        )
        if oidc.OPENID in grant.scopes:
            # OpenID Connect Core §3.1.3.3: the ID token rides with the access token.
            response["id_token"] = oidc.id_token(
                self._keys,
                issuer=self._issuer,
                client_id=client.client_id,
                user=grant.user,
                scopes=grant.scopes,
                access_token=response["access_token"],
                nonce=grant.nonce,
                auth_time=grant.auth_time if grant.auth_time is not None else now,
                now=now,
                lifespan=self._lifespans.access,
            )
        return response

    async def _refresh_token(self, form: Mapping[str, str], client: Client) -> dict[str, Any]:
        if "refresh_token" not in client.grant_types:
            raise UnauthorizedClient("this client may not use refresh tokens")
        token_id = self._opaque.verify(form.get("refresh_token", ""))
        now = self._clock()
        # The request is checked against the grant before the token is used up, so a request
        # refused for its scope or resource leaves the token valid for a corrected retry.
        known = await self._storage.get_refresh(token_id, now) if token_id else None
        if known is None:
            raise InvalidGrant("the refresh token is invalid, expired or revoked")
        if known.client_id != client.client_id:
            await self._revocations.revoke(known.session_id, known.family_expires_at)
            raise InvalidGrant("the refresh token was issued to another client")
        scopes = known.scopes
        if "scope" in form:
            # RFC 6749 §6: the new scope may not exceed what was granted.
            scopes = tuple(form["scope"].split())
            if not set(scopes) <= set(known.scopes):
                raise InvalidScope("a refresh may not widen the scope")
        if "resource" in form and form["resource"] != known.resource:
            raise InvalidTarget("resource does not match the grant")
        # The successor is minted first, so that consuming the token, storing its successor and
        # keeping the answer for a repeat are one atomic step of the store.
        family = dataclasses.replace(known, scopes=scopes)
        access_token, expires_in = self._access_token(client, family, now)
        refresh_token, successor = self._successor(family)
        issued = IssuedTokens(access_token, refresh_token, " ".join(scopes), expires_in, now)
        use, answer = await self._storage.rotate_refresh(
            known.id, successor, issued, now, now + self._lifespans.refresh_grace
        )
        if use is RefreshUse.REUSED:
            self._revocations.revoked_here(known.session_id)  # the store revoked the family
            raise InvalidGrant("the refresh token was already used; the whole grant is revoked")
        if answer is None:
            raise InvalidGrant("the refresh token is invalid, expired or revoked")
        if use is RefreshUse.OK:
            await self._settle(client, known.session_id, known.family_expires_at, now)
        # A repeat within the grace window gets the first answer again: the same access token
        # and the same successor, not a new family member.
        return _response(answer, now)

    async def _issue(
        self,
        client: Client,
        user: UserInfo,
        scopes: tuple[str, ...],
        resource: str,
        session_id: str,
        *,
        family_expires_at: float,
    ) -> dict[str, Any]:
        now = self._clock()
        family = RefreshRecord("", session_id, client.client_id, scopes, resource, user, family_expires_at)
        access_token, expires_in = self._access_token(client, family, now)
        refresh_token, live_until = None, now + expires_in
        if "refresh_token" in client.grant_types:
            refresh_token, first = self._successor(family)
            await self._storage.put_refresh(first)
            live_until = family_expires_at
        await self._settle(client, session_id, live_until, now)
        return _response(IssuedTokens(access_token, refresh_token, " ".join(scopes), expires_in, now), now)

    def _access_token(self, client: Client, family: RefreshRecord, now: float) -> tuple[str, int]:
        """A new access token for a member of ``family``, and its lifetime in seconds."""
        lifespan = min(self._lifespans.access, max(family.family_expires_at - now, 1))
        claims = access_token_claims(
            issuer=self._issuer,
            user=family.user,
            client_id=client.client_id,
            scopes=family.scopes,
            resource=family.resource,
            session_id=family.session_id,
            now=now,
            lifespan=lifespan,
        )
        return mint_access_token(self._keys, claims), int(lifespan)

    def _successor(self, family: RefreshRecord) -> tuple[str, RefreshRecord]:
        """A new refresh token of ``family``: the token, and its record."""
        token, token_id = self._opaque.mint()
        return token, dataclasses.replace(family, id=token_id)

    async def _settle(self, client: Client, session_id: str, live_until: float, now: float) -> None:
        await self._storage.touch_client(client.client_id, now)
        # The session holds its client until its last token expires (or it is revoked).
        await self._storage.hold_client(client.client_id, session_id, live_until)

    async def revoke(self, form: Mapping[str, str], client: Client) -> None:
        """RFC 7009: revoke the login session a token belongs to (its refresh family and every
        access token carrying its session id). Unknown tokens are not an error (§2.2)."""
        token = form.get("token", "")
        now = self._clock()
        if (token_id := self._opaque.verify(token)) is not None:
            record = await self._storage.get_refresh(token_id, now)
            if record is not None and record.client_id == client.client_id:
                await self._revocations.revoke(record.session_id, record.family_expires_at)
            return
        session = self._own_access_token_session(token, client)
        if session is not None:
            await self._revocations.revoke(session, now + self._lifespans.refresh)

    def _own_access_token_session(self, token: str, client: Client) -> str | None:
        claims = verify_own_access_token(self._keys, self._issuer, token)
        session = claims.get("tsid") if claims is not None else None
        if claims is None or not isinstance(session, str) or claims.get("client_id") != client.client_id:
            return None
        return session


def _response(issued: IssuedTokens, now: float) -> dict[str, Any]:
    """RFC 6749 §5.1; a repeated answer counts its access token's life from when it was issued."""
    response: dict[str, Any] = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": max(0, issued.expires_in - int(now - issued.issued_at)),
        "scope": issued.scope,
    }
    if issued.refresh_token is not None:
        response["refresh_token"] = issued.refresh_token
    return response


def _parse_basic(authorization: str | None) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1: both parts were form-urlencoded before the Basic encoding."""
    if authorization is None:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient(_CLIENT_AUTH_FAILED)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient(_CLIENT_AUTH_FAILED) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient(_CLIENT_AUTH_FAILED)
    return unquote_plus(client_id), unquote_plus(secret)
