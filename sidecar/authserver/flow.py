# SPDX-License-Identifier: Apache-2.0
"""The authorization code flow in the browser (OAuth 2.1 §4.1), as a service over plain values:
each step takes the request's parameters and returns what the browser gets next — a redirect,
a page to render, or an error page — and the web layer only renders it.

The order of the steps is the policy: the authorization request is checked (page errors before
redirect errors), the request is remembered as a single-use pending authorization bound to the
browser that started it, the user gives consent before any redirect upstream, logs in upstream
(or on the login page, with attempts limited), and only then is a code issued.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode

import structlog

from sidecar.authserver.authorize import (
    AuthorizationRequest,
    RedirectableError,
    check_redirect_target,
    parse_request,
    redirect_with,
)
from sidecar.authserver.chain import LegFailed, chain_names, keep_for_user, reusable
from sidecar.authserver.cimd import ClientDocuments, find_client
from sidecar.authserver.consent import (
    Consents,
    csrf_token,
    csrf_valid,
    known_user,
    known_user_cookie,
    page_context,
)
from sidecar.authserver.errors import AccessDenied, InvalidRequest, OAuthError, TooManyRequests
from sidecar.authserver.keys import OpaqueTokens
from sidecar.authserver.metadata import CONSENT_PATH, LOGIN_PATH
from sidecar.authserver.policy import LOGIN_ATTEMPT_LIMIT, LOGIN_ATTEMPT_WINDOW, PENDING_LIFETIME
from sidecar.authserver.rate_limit import RateLimiter
from sidecar.authserver.upstreams.protocol import Upstream, UpstreamResult, WrongCredentials
from sidecar.config.auth_server import AuthServerSettings
from sidecar.observability.metrics import Metrics
from sidecar.storage.protocol import Storage
from sidecar.storage.records import Client, CodeGrant, PendingAuthorization, UserInfo

log = structlog.get_logger("sidecar.authserver.flow")

PageName = Literal["login.html", "consent.html"]
_ACTIONS: Mapping[PageName, str] = {"login.html": LOGIN_PATH, "consent.html": CONSENT_PATH}


@dataclass(frozen=True, slots=True)
class Redirect:
    """Send the browser on: ``see_other`` (303) after a form post, else 302. ``binding`` is a new
    browser-binding cookie value to set."""

    location: str
    see_other: bool = False
    binding: str | None = None
    known_user: str | None = None  # a new known-user cookie value (consent.known_user_cookie)


@dataclass(frozen=True, slots=True)
class Page:
    """A page to render with its context."""

    template: PageName
    context: Mapping[str, str | None]
    status: int = 200


@dataclass(frozen=True, slots=True)
class ErrorPage:
    """The error page: for errors that must not go to a redirect URI (unverified, or no request)."""

    error: OAuthError
    status: int = 400
    known_user: str | None = None  # a new known-user cookie value (consent.known_user_cookie)


Outcome = Redirect | Page | ErrorPage


def _first_leg(pending: PendingAuthorization) -> None:
    """SECURITY: consent is given once, before the first leg; a later leg of a chain has no
    consent step, so answering one for it must not stand in for that leg's upstream login."""
    if pending.leg != 0:
        raise InvalidRequest("this sign-in has expired or was already used")


def binding_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class AuthorizationFlow:
    settings: AuthServerSettings
    storage: Storage
    opaque: OpaqueTokens
    upstreams: Mapping[str, Upstream]  # by name
    first_upstream: str  # where a login starts: the first of the chain
    metrics: Metrics
    clock: Callable[[], float]
    login_attempts: RateLimiter = field(
        default_factory=lambda: RateLimiter(LOGIN_ATTEMPT_LIMIT, LOGIN_ATTEMPT_WINDOW)
    )
    documents: ClientDocuments | None = None  # CIMD, when auth_server.cimd.enabled
    consents: Consents = field(init=False)  # remembered for auth_server.consent_lifetime

    def __post_init__(self) -> None:
        self.consents = Consents(self.storage, self.settings.consent_lifetime, self.clock)

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    async def authorize(self, params: Mapping[str, Sequence[str]], user_cookie: str | None = None) -> Outcome:
        """GET /authorize: on to the login or consent page, with a new browser binding; straight
        to the upstream when ``user_cookie`` names a user whose remembered approval covers it."""
        client_ids = params.get("client_id", [])
        try:
            client = await self._client(client_ids[0]) if len(client_ids) == 1 else None
            redirect_uri = check_redirect_target(params, client)
        except OAuthError as error:
            return ErrorPage(error)  # never redirect to an unverified URI
        assert client is not None  # noqa: S101 - check_redirect_target refused a missing client
        try:
            authorization = parse_request(
                params,
                client,
                redirect_uri,
                issuer=self.issuer,
                scopes_supported=self.settings.scopes_supported,
                allowed_audiences=self.settings.allowed_audiences,
            )
            binding = secrets.token_urlsafe(24)
            next_url = await self._start_pending(authorization, binding, known_user(self.opaque, user_cookie))
        except RedirectableError as error:
            self.metrics.oauth_errors.labels("authorize", error.error.error).inc()
            return Redirect(error.location())
        except OAuthError as error:  # the upstream cannot be reached
            return Redirect(self._to_client(redirect_uri, authorization.state, error.body()))
        self.metrics.authorizations.labels("started").inc()
        return Redirect(next_url, binding=binding)

    async def page(self, template: PageName, request_id: str, binding: str | None) -> Outcome:
        """GET of the login or consent page, for the browser that started the authorization."""
        try:
            pending = await self._pending(request_id, binding, take=False)
            if template == "consent.html":
                _first_leg(pending)
        except OAuthError as error:
            return ErrorPage(error)
        return await self._page(template, pending)

    async def consent(self, form: Mapping[str, str], binding: str | None) -> Outcome:
        """Allow: on to the upstream provider, or (after the login form) the code. Anything else:
        back to the client, access_denied. Either way only with the form's CSRF token."""
        try:
            pending = await self._pending(form.get("request", ""), binding, take=False)
            _first_leg(pending)
            if not csrf_valid(self.opaque, pending.id, form.get("csrf")):
                return ErrorPage(AccessDenied("the consent form is not this sign-in's own"), status=403)
            if form.get("decision") == "allow":
                return await self._allow(pending, binding)
            pending = await self._pending(pending.id, binding, take=True)
        except OAuthError as error:
            return ErrorPage(error)
        self.metrics.authorizations.labels("denied").inc()
        denied = {"error": "access_denied", "error_description": "the user did not allow access"}
        return Redirect(self._to_client(pending.redirect_uri, pending.state, denied), see_other=True)

    async def _allow(self, pending: PendingAuthorization, binding: str | None) -> Redirect:
        user = pending.user
        if user is None:  # before an upstream login: on to the provider
            location = pending.upstream_state.get("authorization_url")
            if location is None:
                raise InvalidRequest("this sign-in has expired or was already used")
            return Redirect(location, see_other=True)
        # After the login form: the user is known, so the approval is theirs to remember.
        self._upstream_for(pending, "form")
        pending = await self._pending(pending.id, binding, take=True)
        await self.consents.remember(user.user_id, pending.client_id, pending.scopes)
        return await self._leg_done(pending, UpstreamResult(user, None), see_other=True)

    async def login(self, form: Mapping[str, str], binding: str | None, client_address: str) -> Outcome:
        """POST of the login form: the code on success, the form again (401) on wrong credentials."""
        try:
            pending = await self._pending(form.get("request", ""), binding, take=False)
            upstream = self._upstream_for(pending, "form")
        except OAuthError as error:
            return ErrorPage(error)
        if not await self.login_attempts.allow(client_address, self.clock()):
            self.metrics.authorizations.labels("login_failed").inc()
            return ErrorPage(TooManyRequests("too many sign-in attempts; wait a minute"), status=429)
        try:
            result = await upstream.complete(form, pending.upstream_state)
        except WrongCredentials:
            self.metrics.authorizations.labels("login_failed").inc()
            log.info("login_failed", upstream=upstream.name)
            return await self._page(
                "login.html",
                pending,
                status=401,
                error="Wrong username or password.",
                username=form.get("username", ""),
            )
        # The login form has no page before it, so the consent page follows it, unless this
        # user's remembered approval of this client covers the request.
        if pending.leg == 0 and not await self.consents.covers(
            result.user.user_id, pending.client_id, pending.scopes
        ):
            return await self._ask_consent(pending, result.user)
        try:
            pending = await self._pending(pending.id, binding, take=True)  # single use
        except OAuthError as error:
            return ErrorPage(error)
        if pending.leg == 0:
            # SECURITY: the user is who logged in now, whose approval was just checked — never
            # one an earlier login on the same request left waiting at the consent page.
            pending = dataclasses.replace(pending, user=result.user)
        return await self._leg_done(pending, result, see_other=True)

    async def _ask_consent(self, pending: PendingAuthorization, user: UserInfo) -> Outcome:
        """After the login form: the consent page, with who logged in kept on the request — only
        while the request is still there (a concurrent login may have taken it)."""
        if not await self.storage.replace_pending(dataclasses.replace(pending, user=user), self.clock()):
            return ErrorPage(InvalidRequest("this sign-in has expired or was already used"))
        return Redirect(f"{CONSENT_PATH}?{urlencode({'request': pending.id})}", see_other=True)

    async def callback(self, query: Mapping[str, str], binding: str | None) -> Outcome:
        """The upstream provider sends the user back: the code, or the upstream's refusal."""
        try:
            pending = await self._pending(query.get("state", ""), binding, take=True)
            upstream = self._upstream_for(pending, "redirect")
        except OAuthError as error:
            return ErrorPage(error)
        try:
            result = await upstream.complete(query, pending.upstream_state)
        except OAuthError as error:
            self.metrics.authorizations.labels("denied").inc()
            log.info("upstream_login_refused", upstream=upstream.name, reason=error.description)
            return await self._leg_failed(pending, LegFailed(upstream.name, error))
        if pending.leg > 0:  # consent was the first leg's
            return await self._leg_done(pending, result)
        user_id, cookie = result.user.user_id, known_user_cookie(self.opaque, result.user.user_id)
        skipped_for = pending.upstream_state.get("consent_skipped_for")
        if skipped_for is None:  # the user allowed it on the page before going upstream
            await self.consents.remember(user_id, pending.client_id, pending.scopes)
        elif skipped_for != user_id and not await self.consents.covers(
            user_id, pending.client_id, pending.scopes
        ):
            # The page was skipped for the user this browser knew, and someone else signed in:
            # no code without their own approval. The cookie now names them, so the next try asks.
            self.metrics.authorizations.labels("denied").inc()
            refusal = AccessDenied(
                "you signed in as another user than the one who allowed this application here; start again"
            )
            return ErrorPage(refusal, status=403, known_user=cookie)
        return dataclasses.replace(await self._leg_done(pending, result), known_user=cookie)

    async def _start_pending(self, request: AuthorizationRequest, binding: str, user_id: str | None) -> str:
        """Remember the request while the user logs in; returns where the user goes next: the
        login page, or the consent page, which then sends the user to the provider's
        authorization URL (kept in ``upstream_state["authorization_url"]``).

        SECURITY (MCP security best practices, "Confused Deputy"): a user already signed in at
        the upstream would otherwise be sent through without a click, and any registered client
        could collect a code for them; the consent page names the client and where the code goes.
        """
        pending_id = secrets.token_urlsafe(24)
        await self.storage.touch_client(request.client_id, self.clock())
        upstream = self.upstreams[self.first_upstream]
        start = await upstream.begin(pending_id)
        remembered = dict(start.remembered)
        next_url = f"{LOGIN_PATH}?{urlencode({'request': pending_id})}"
        if start.authorization_url is not None:
            remembered["authorization_url"] = start.authorization_url
            next_url = f"{CONSENT_PATH}?{urlencode({'request': pending_id})}"
            # The browser's known user allowed this client these scopes before: no page now; the
            # callback checks that the same user signed in upstream.
            if user_id is not None and await self.consents.covers(user_id, request.client_id, request.scopes):
                remembered["consent_skipped_for"] = user_id
                next_url = start.authorization_url
        await self.storage.put_pending(
            PendingAuthorization(
                id=pending_id,
                client_id=request.client_id,
                redirect_uri=request.redirect_uri,
                state=request.state,
                code_challenge=request.code_challenge,
                scopes=request.scopes,
                resource=request.resource,
                upstream=upstream.name,
                browser_binding=binding_hash(binding),
                expires_at=self.clock() + PENDING_LIFETIME,
                upstream_state=remembered,
                nonce=request.nonce,
            )
        )
        return next_url

    async def _pending(self, pending_id: str, binding: str | None, *, take: bool) -> PendingAuthorization:
        """The pending request, only for the user agent that started it (RFC 9700 §4.7, CSRF)."""
        now = self.clock()
        pending = await (self.storage.take_pending if take else self.storage.get_pending)(pending_id, now)
        if pending is None:
            raise InvalidRequest("this sign-in has expired or was already used")
        if binding is None or not hmac.compare_digest(binding_hash(binding), pending.browser_binding):
            raise InvalidRequest("this sign-in was started in another browser")
        return pending

    def _upstream_for(self, pending: PendingAuthorization, kind: Literal["form", "redirect"]) -> Upstream:
        """The upstream the pending authorization started with, if it logs in the way asked."""
        upstream = self.upstreams.get(pending.upstream)
        if upstream is None or upstream.kind != kind:
            raise InvalidRequest("this sign-in has expired or was already used")
        return upstream

    async def _page(
        self, template: PageName, pending: PendingAuthorization, *, status: int = 200, **extra: str | None
    ) -> Page | ErrorPage:
        """The login or consent page: it names the client and where the code will go (the client
        chose its name; the redirect URI's host is what the user can check)."""
        try:
            client = await self._client(pending.client_id)
        except OAuthError as error:  # a client metadata document that can no longer be had
            return ErrorPage(error)
        context = {
            **page_context(
                client, pending, csrf=csrf_token(self.opaque, pending.id), upstream=pending.upstream
            ),
            "action": _ACTIONS[template],
            **extra,
        }
        return Page(template, context, status)

    async def _leg_done(
        self, pending: PendingAuthorization, result: UpstreamResult, *, see_other: bool = False
    ) -> Redirect:
        """A leg completed: keep its tokens under the sign-in session, then on to the next leg
        of the chain (see ``chain``), or issue the code."""
        now = self.clock()
        session_id = pending.session_id or secrets.token_urlsafe(18)
        user = pending.user or result.user  # the identity is the first leg's
        if result.tokens is not None:
            until = now + self.settings.token_lifespans.refresh_token_lifespan
            await self.storage.put_upstream_tokens(session_id, result.tokens, until)
        pending = dataclasses.replace(pending, session_id=session_id, user=user)
        self._count_leg(pending.upstream, "completed")
        try:
            next_url = await self._next_leg(pending)
        except LegFailed as failed:
            return await self._leg_failed(pending, failed)
        if next_url is not None:
            return Redirect(next_url, see_other=see_other)
        return Redirect(await self._finish(pending, user, session_id), see_other=see_other)

    async def _next_leg(self, done: PendingAuthorization) -> str | None:
        """Where the user goes for the next leg that cannot be skipped; None: the chain is done."""
        assert done.session_id is not None  # noqa: S101 - set by _leg_done
        assert done.user is not None  # noqa: S101 - set by _leg_done
        names = chain_names(self.settings.upstreams)
        for index in range(done.leg + 1, len(names)):
            upstream, now = self.upstreams[names[index]], self.clock()
            kept = await reusable(self.storage, done.user.user_id, upstream.name, now)
            if kept is not None:
                until = now + self.settings.token_lifespans.refresh_token_lifespan
                await self.storage.put_upstream_tokens(done.session_id, kept, until)
                self._count_leg(upstream.name, "skipped")
                continue
            leg_id = secrets.token_urlsafe(24)  # the leg's own state
            try:
                start = await upstream.begin(leg_id)  # its own PKCE verifier and nonce
            except OAuthError as error:
                raise LegFailed(upstream.name, error) from None
            await self.storage.put_pending(
                dataclasses.replace(
                    done,
                    id=leg_id,
                    upstream=upstream.name,
                    leg=index,
                    upstream_state=dict(start.remembered),
                    expires_at=now + PENDING_LIFETIME,
                )
            )
            return start.authorization_url or f"{LOGIN_PATH}?{urlencode({'request': leg_id})}"
        return None

    async def _leg_failed(self, pending: PendingAuthorization, failed: LegFailed) -> Redirect:
        """The authorization ends at the client with an error naming the upstream; nothing of
        it stays (the session the earlier legs stored tokens under is revoked, never issued)."""
        self._count_leg(failed.upstream, "failed")
        if pending.session_id is not None:
            lifespan = self.settings.token_lifespans.refresh_token_lifespan
            await self.storage.revoke_session(pending.session_id, self.clock() + lifespan)
        return Redirect(self._to_client(pending.redirect_uri, pending.state, failed.body()))

    def _count_leg(self, upstream: str, outcome: str) -> None:
        if len(self.settings.upstreams) > 1:
            self.metrics.chain_legs.labels(upstream, outcome).inc()

    async def _client(self, client_id: str) -> Client | None:
        return await find_client(self.storage, self.documents, client_id, self.clock())

    async def _finish(self, pending: PendingAuthorization, user: UserInfo, session_id: str) -> str:
        """Issue the code and return the client redirect (RFC 9207: with ``iss``)."""
        now = self.clock()
        lifespans = self.settings.token_lifespans
        if len(self.settings.upstreams) > 1:
            names = chain_names(self.settings.upstreams)
            until = now + lifespans.refresh_token_lifespan
            await keep_for_user(self.storage, session_id, user.user_id, names, now=now, until=until)
        code, code_id = self.opaque.mint()
        code_expires_at = now + lifespans.auth_code_lifespan
        await self.storage.hold_client(pending.client_id, session_id, code_expires_at)
        await self.storage.put_code(
            code_id,
            CodeGrant(
                client_id=pending.client_id,
                redirect_uri=pending.redirect_uri,
                code_challenge=pending.code_challenge,
                scopes=pending.scopes,
                resource=pending.resource,
                user=user,
                session_id=session_id,
                expires_at=code_expires_at,
                nonce=pending.nonce,
                auth_time=now,
            ),
        )
        self.metrics.authorizations.labels("code_issued").inc()
        return self._to_client(pending.redirect_uri, pending.state, {"code": code})

    def _to_client(self, redirect_uri: str, state: str | None, params: Mapping[str, str]) -> str:
        """The authorization response at the client's redirect URI (RFC 9207: with ``iss``)."""
        return redirect_with(redirect_uri, {**params, "state": state, "iss": self.issuer})
