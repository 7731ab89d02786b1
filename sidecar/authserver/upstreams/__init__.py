# SPDX-License-Identifier: Apache-2.0
"""Upstream identity providers users log in with.

``protocol`` (what every upstream gives, its errors, the internal user id), ``redirect`` (what
``oidc`` and ``oauth2`` share: PKCE and state, the ``token_endpoint`` client, refresh), ``oidc``
(any OpenID Provider), ``oauth2`` (explicit endpoints and userinfo) and ``static`` (local users
with scrypt hashes and a login page, for demos and small setups).
"""
