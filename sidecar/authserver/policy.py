# SPDX-License-Identifier: Apache-2.0
"""The authorization server's fixed policy values, in one place. None is a setting: each is a
trade-off written down here, so changing one is a visible decision.
"""

from __future__ import annotations

# How long a user has to log in (upstream or on the login page) before the pending
# authorization expires; also the browser-binding cookie's max-age.
PENDING_LIFETIME = 600.0

# SECURITY: password guessing on the static login page, per client address (through trusted
# proxies only): this many attempts per window.
LOGIN_ATTEMPT_LIMIT = 20
LOGIN_ATTEMPT_WINDOW = 60.0

# Dynamic client registration (RFC 7591) is open, so it is throttled per client address; the
# client registry's own bound (auth_server.max_clients) protects the store.
REGISTRATION_LIMIT = 20
REGISTRATION_WINDOW = 60.0

# A rate limiter without a store keeps at most this many (address, window) counts; past it, the
# counts nearest their window's end go first (memory stays bounded under a spread-out flood).
RATE_LIMIT_MAX_KEYS = 10_000

# How often /readyz asks the store whether it answers.
STORAGE_PROBE_INTERVAL = 5.0

# How late another process's revocation may reach this one with a shared store (memory storage
# is asked on every request).
REVOCATION_CHECK_INTERVAL = 5.0

# Total timeout of a request to an upstream identity provider (discovery, JWKS, token, userinfo).
UPSTREAM_TIMEOUT = 10.0

# The largest form or JSON body the authorization server reads.
MAX_FORM_BYTES = 16 * 1024
