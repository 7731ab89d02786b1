# SPDX-License-Identifier: Apache-2.0
"""The embedded OAuth 2.1 / OpenID Connect authorization server (Mode B).

One module per spec — ``metadata`` (RFC 8414), ``pkce`` (RFC 7636), ``redirect_uris`` (RFC 8252,
RFC 9700 §2.1), ``registration`` (RFC 7591), ``authorize`` (OAuth 2.1 §4.1, RFC 8707, RFC 9207),
``grants`` (the token endpoint), ``tokens`` (RFC 9068 access tokens), ``keys`` (signing keys and
opaque-token HMAC) — plus the browser flow as a service in ``flow``, its fixed values in
``policy``, building and opening the server in ``server``, the upstream identity providers in
``upstreams`` and the aiohttp adapter in ``web``. It reaches the token validator only through the
key-provider interface, and storage only through its protocol.
"""
