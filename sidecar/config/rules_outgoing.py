# SPDX-License-Identifier: Apache-2.0
"""Rules for ``backends[].outgoing_auth``, named as in ToolHive's RFC-0053:

- V-01 ``upstream_inject`` needs an embedded authorization server (``auth_server``);
- V-02 its ``provider_name`` names one of ``auth_server.upstreams``;
- V-03 ``token_exchange`` is complete (a usable ``token_url``, a client secret), and when the
  incoming token is the embedded server's own, the upstream whose token is exchanged is named:
  inferred with a warning when there is one upstream, an error when there are several.

Plus: a ``header_injection`` header name is one the sidecar may set.
"""

from __future__ import annotations

from collections.abc import Iterator

from sidecar.config.auth_server import AuthServerSettings
from sidecar.config.errors import ConfigIssue, warning
from sidecar.config.rules_headers import header_name_refused
from sidecar.config.schema import (
    HeaderInjectionOutgoing,
    OidcIncoming,
    Settings,
    TokenExchangeOutgoing,
    UpstreamInjectOutgoing,
)
from sidecar.config.values import endpoint_problem


def exchange_subject_provider(
    outgoing: TokenExchangeOutgoing, auth_server: AuthServerSettings | None
) -> str | None:
    """The upstream whose token ``token_exchange`` exchanges; None: the validated incoming token.

    With the embedded server, the incoming token is the sidecar's own, which no other server
    trusts (ToolHive fills in the first upstream the same way).
    """
    if outgoing.subject_provider is not None or auth_server is None or len(auth_server.upstreams) != 1:
        return outgoing.subject_provider
    return auth_server.upstreams[0].name


def check_outgoing(settings: Settings) -> Iterator[ConfigIssue]:
    auth_server = settings.auth_server
    names = [upstream.name for upstream in auth_server.upstreams] if auth_server is not None else []
    # A login on the built-in form gives no token to send on.
    form_logins = {u.name for u in auth_server.upstreams if u.type == "static"} if auth_server else set()
    for index, backend in enumerate(settings.backends):
        where = f"backends[{index}].outgoing_auth"
        outgoing = backend.outgoing_auth
        if isinstance(outgoing, HeaderInjectionOutgoing):
            if header_name_refused(outgoing.header_name, allow_authorization=True):
                yield ConfigIssue(
                    f"{where}.header_name",
                    f"{outgoing.header_name!r} cannot carry a configured value",
                    "use a name such as X-API-Key (or Authorization)",
                )
        elif isinstance(outgoing, UpstreamInjectOutgoing):
            if auth_server is None:
                yield ConfigIssue(
                    f"{where}.type",
                    "V-01: upstream_inject needs the embedded authorization server",
                    "configure auth_server (Mode B), whose upstream logins hold the tokens",
                )
            elif outgoing.provider_name not in names:
                yield ConfigIssue(
                    f"{where}.provider_name",
                    f"V-02: {outgoing.provider_name!r} is not one of auth_server.upstreams",
                    f"use one of: {', '.join(names)}",
                )
            elif outgoing.provider_name in form_logins:
                yield ConfigIssue(
                    f"{where}.provider_name",
                    f"V-02: {outgoing.provider_name!r} is a static upstream, whose logins hold no token",
                    "name an oidc or oauth2 upstream",
                )
            if outgoing.refresh_margin < 0:
                yield ConfigIssue(f"{where}.refresh_margin", "must not be negative")
        elif isinstance(outgoing, TokenExchangeOutgoing):
            if not isinstance(settings.incoming_auth, OidcIncoming):
                yield ConfigIssue(
                    f"{where}.type",
                    "V-03: token_exchange needs an authenticated user (a subject token)",
                    "set incoming_auth.type: oidc",
                )
            yield from _check_token_exchange(outgoing, auth_server, names, where)
            subject = exchange_subject_provider(outgoing, auth_server)
            if subject in form_logins:
                yield ConfigIssue(
                    f"{where}.subject_provider",
                    f"V-03: {subject!r} is a static upstream, whose logins hold no token to exchange",
                    "name an oidc or oauth2 upstream",
                )


def _check_token_exchange(
    outgoing: TokenExchangeOutgoing, auth_server: AuthServerSettings | None, names: list[str], where: str
) -> Iterator[ConfigIssue]:
    if problem := endpoint_problem(outgoing.token_url, outgoing.insecure_allow_http):
        yield ConfigIssue(f"{where}.token_url", f"V-03: {problem[0]}", problem[1])
    if not outgoing.client_id:
        yield ConfigIssue(f"{where}.client_id", "V-03: must not be empty")
    if outgoing.client_secret_file is None and outgoing.client_secret_env is None:
        yield ConfigIssue(
            f"{where}.client_secret_file",
            "V-03: token_exchange needs a client secret",
            "set client_secret_file or client_secret_env",
        )
    if not outgoing.subject_token_type:
        yield ConfigIssue(f"{where}.subject_token_type", "V-03: must not be empty")
    if outgoing.subject_provider is not None:
        if outgoing.subject_provider not in names:
            yield ConfigIssue(
                f"{where}.subject_provider",
                f"V-03: {outgoing.subject_provider!r} is not one of auth_server.upstreams",
                f"use one of: {', '.join(names)}"
                if names
                else "remove it: without auth_server there are none",
            )
    elif auth_server is not None and len(names) > 1:
        yield ConfigIssue(
            f"{where}.subject_provider",
            "V-03: the incoming token is the embedded server's own; with several upstreams, name the one "
            "whose token is exchanged",
            f"set subject_provider to one of: {', '.join(names)}",
        )
    elif auth_server is not None and names:
        yield warning(
            f"{where}.subject_provider",
            f"V-03: not set; the token of the only upstream, {names[0]!r}, is exchanged",
            f"set subject_provider: {names[0]} to say so",
        )
